"""Checks shared by every image reader: header facts, the plane-header limits, finished pixels.

:mod:`mcnn_infer.images` (TIFF files) and :mod:`mcnn_infer.zarr_planes` (OME-Zarr planes) both
import this module, and neither imports the other at module level: the image readers form no
import circle. Nothing is allocated before a header has passed :func:`check_plane_header`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from mcnn_infer.errors import ImageReadError

#: Largest image accepted, in pixels (override with HCS_MAX_IMAGE_PIXELS). 2**27 pixels
#: is 256 MiB at 16 bit, far above any microscope field (BBBC021: 1.3 M pixels).
MAX_PIXELS = int(os.environ.get("HCS_MAX_IMAGE_PIXELS", 2**27))

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.uint32, np.int16, np.float32, np.float64)


@dataclass(frozen=True)
class ImageInfo:
    """Header facts of one image file.

    Attributes
    ----------
    height, width : int
        Image size in pixels.
    dtype : str
        Numpy dtype name of the stored pixels (``uint8``, ``uint16`` ...).
    bit_depth : int
        Bits per sample (8, 16, 32 or 64).
    """

    height: int
    width: int
    dtype: str
    bit_depth: int


def check_plane_header(source: str | os.PathLike[str], shape: tuple[int, ...], dtype) -> None:
    """Refuse a plane before reading it: more than :data:`MAX_PIXELS` pixels or an unsupported dtype.

    Parameters
    ----------
    source : path or str
        The image file or OME-Zarr plane locator, named in the message.
    shape : tuple of int
        Declared shape; its last two entries are (height, width), the rest are singleton axes.
    dtype : numpy dtype or None
        Declared pixel type.

    Raises
    ------
    ImageReadError
        Naming ``source``, the value and the limit or the supported dtypes.
    """
    pixels = math.prod(shape)
    if pixels > MAX_PIXELS:
        raise ImageReadError(
            f"image {source} declares {shape[-2]}x{shape[-1]} = {pixels} pixels, more than the limit of "
            f"{MAX_PIXELS} (set HCS_MAX_IMAGE_PIXELS to raise it)"
        )
    if dtype is None or not supported_dtype(dtype):
        raise ImageReadError(
            f"image {source} has pixel type {dtype} (expected one of {supported_dtype_names()})"
        )


def supported_dtype(dtype) -> bool:
    """True when ``dtype`` is one of :data:`SUPPORTED_DTYPES` (False for anything numpy cannot parse)."""
    try:
        return np.dtype(dtype).type in SUPPORTED_DTYPES
    except TypeError:
        return False


def supported_dtype_names() -> str:
    """The supported pixel types, comma-separated, for messages."""
    return ", ".join(np.dtype(t).name for t in SUPPORTED_DTYPES)


def finish_plane(source: str | os.PathLike[str], data: np.ndarray) -> np.ndarray:
    """float64 -> float32; refuse NaN or infinite values (``source`` is named in the message)."""
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise ImageReadError(
            f"image {source} has {bad} NaN or infinite pixel values (expected finite intensities)"
        )
    return data


def reason_text(exc: BaseException) -> str:
    """An exception as one short line (at most 200 characters) for an error message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
