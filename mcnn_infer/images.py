"""Safe TIFF reading: one channel image per file, stacked into fields.

Nothing is allocated before the header has been checked: the declared shape must be 2-D
(or 2-D with singleton axes), below :data:`MAX_PIXELS`, and of a supported dtype.
Palette TIFFs are returned as raw intensities (the palette is not applied); compressed
TIFFs are decoded through imagecodecs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from mcnn_infer.errors import ChannelMismatchError, ImageReadError

#: Largest image accepted, in pixels (override with HCS_MAX_IMAGE_PIXELS). 2**27 pixels
#: is 256 MiB at 16 bit, far above any microscope field (BBBC021: 1.3 M pixels).
MAX_PIXELS = int(os.environ.get("HCS_MAX_IMAGE_PIXELS", 2**27))

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.uint32, np.int16, np.float32, np.float64)
IMAGE_SUFFIXES = (".tif", ".tiff")


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


def _open(path: str | os.PathLike[str]) -> tifffile.TiffFile:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise ImageReadError(f"image {path} is empty (0 bytes; expected a TIFF file)")
    try:
        return tifffile.TiffFile(path)
    except Exception as exc:
        raise ImageReadError(f"image {path} is not a readable TIFF file ({_reason(exc)})") from exc


def _check_page(path: str | os.PathLike[str], tif: tifffile.TiffFile) -> tifffile.TiffPage:
    try:
        if not tif.pages:
            raise ImageReadError(f"image {path} has no image pages (expected one 2-D image)")
        page = tif.pages.first
        shape = tuple(int(n) for n in page.shape)
        dtype = page.dtype
    except ImageReadError:
        raise
    except Exception as exc:  # a corrupt header can fail anywhere inside tifffile
        raise ImageReadError(f"image {path} has a corrupt TIFF header ({_reason(exc)})") from exc
    if len(_plane_shape(shape)) != 2:
        raise ImageReadError(
            f"image {path} has shape {shape} (expected a single-channel 2-D image, one file per channel)"
        )
    pixels = math.prod(shape)
    if pixels > MAX_PIXELS:
        raise ImageReadError(
            f"image {path} declares {shape[-2]}x{shape[-1]} = {pixels} pixels, more than the limit of "
            f"{MAX_PIXELS} (set HCS_MAX_IMAGE_PIXELS to raise it)"
        )
    if dtype is None or np.dtype(dtype).type not in SUPPORTED_DTYPES:
        raise ImageReadError(
            f"image {path} has pixel type {dtype} (expected one of "
            f"{', '.join(np.dtype(t).name for t in SUPPORTED_DTYPES)})"
        )
    return page


def _plane_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(H, W) of a page shape such as (H, W), (1, H, W) or (H, W, 1); other shapes unchanged."""
    shape = tuple(shape)
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def image_info(path: str | os.PathLike[str]) -> ImageInfo:
    """Read only the header of a TIFF and return its size and bit depth."""
    with _open(path) as tif:
        page = _check_page(path, tif)
        height, width = _plane_shape(page.shape)
        dtype = np.dtype(page.dtype)
        return ImageInfo(int(height), int(width), dtype.name, dtype.itemsize * 8)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one single-channel TIFF.

    Returns
    -------
    numpy.ndarray
        Shape (H, W), the stored dtype (float64 is returned as float32). Intensities are
        raw camera counts (palette TIFFs are not colour-mapped).

    Raises
    ------
    ImageReadError
        Empty, truncated or non-TIFF file; more than one channel in the file; too large;
        unsupported dtype; NaN or infinite values in a float image.
    """
    with _open(path) as tif:
        page = _check_page(path, tif)
        try:
            data = page.asarray()
        except Exception as exc:
            raise ImageReadError(f"image {path} could not be decoded ({_reason(exc)})") from exc
    data = data.reshape(_plane_shape(data.shape))
    if data.ndim != 2:
        raise ImageReadError(f"image {path} decoded to shape {data.shape} (expected a 2-D image)")
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise ImageReadError(
            f"image {path} has {bad} NaN or infinite pixel values (expected finite intensities)"
        )
    return data


def read_field(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Read the channel files of one field and stack them.

    Parameters
    ----------
    paths : sequence of path
        One file per channel, in the declared channel order.

    Returns
    -------
    numpy.ndarray
        Shape (H, W, C) with C = ``len(paths)``, the common stored dtype.

    Raises
    ------
    ChannelMismatchError
        If the channel images differ in size or dtype.
    """
    if not paths:
        raise ImageReadError("a field needs at least one channel file (got none)")
    planes = [read_image(p) for p in paths]
    first = planes[0]
    for path, plane in zip(paths[1:], planes[1:], strict=True):
        if plane.shape != first.shape or plane.dtype != first.dtype:
            raise ChannelMismatchError(
                f"channel image {path} is {plane.shape[0]}x{plane.shape[1]} {plane.dtype}, but {paths[0]} is "
                f"{first.shape[0]}x{first.shape[1]} {first.dtype} (expected all channels of a field alike)"
            )
    return np.stack(planes, axis=-1)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
