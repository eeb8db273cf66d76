"""Safe TIFF reading: one channel image per file, stacked into fields.

A path may also be an OME-Zarr plane locator (``/abs/plate.zarr/B/3/0/0#t=0&c=1&z=0``):
:func:`read_image` and :func:`image_info` hand those to :mod:`mcnn_infer.zarr_planes`, which
reads one plane with the same checks; or a plane stack (``zstack:max:[...]``, a projection of a
field's z-planes chosen with ``--planes``), read plane by plane by :mod:`mcnn_infer.zstack`.

Nothing is allocated before the header has been checked: the declared shape must be 2-D
(or 2-D with singleton axes), below :data:`MAX_PIXELS`, and of a supported dtype.
Palette TIFFs are returned as raw intensities (the palette is not applied); compressed
TIFFs are decoded through imagecodecs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile

from mcnn_infer.errors import ChannelMismatchError, ImageReadError
from mcnn_infer.image_checks import (  # re-exported: the checks every image reader shares
    MAX_PIXELS,
    SUPPORTED_DTYPES,
    ImageInfo,
    check_plane_header,
    finish_plane,
    reason_text,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "SUPPORTED_DTYPES",
    "ImageInfo",
    "check_plane_header",
    "finish_plane",
    "image_info",
    "read_field",
    "read_image",
    "read_planes",
    "reason_text",
]

IMAGE_SUFFIXES = (".tif", ".tiff")


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
        raise ImageReadError(f"image {path} is not a readable TIFF file ({reason_text(exc)})") from exc


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
        raise ImageReadError(f"image {path} has a corrupt TIFF header ({reason_text(exc)})") from exc
    if len(_plane_shape(shape)) != 2:
        raise ImageReadError(
            f"image {path} has shape {shape} (expected a single-channel 2-D image, one file per channel)"
        )
    check_plane_header(path, shape, dtype)
    return page


def _zarr_plane_module(path: str | os.PathLike[str]):
    """:mod:`mcnn_infer.zarr_planes` when ``path`` is an OME-Zarr plane locator, else None.

    TIFF paths (no ``#``) never import the Zarr reader.
    """
    if "#" not in os.fspath(path):
        return None
    from mcnn_infer import zarr_planes

    return zarr_planes if zarr_planes.is_plane_locator(path) else None


def _stack_module(path: str | os.PathLike[str]):
    """:mod:`mcnn_infer.zstack` when ``path`` is a plane stack (``zstack:max:[...]``), else None."""
    if not (isinstance(path, str) and path.startswith("zstack:")):
        return None
    from mcnn_infer import zstack

    return zstack


def _plane_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(H, W) of a page shape such as (H, W), (1, H, W) or (H, W, 1); other shapes unchanged."""
    shape = tuple(shape)
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def image_info(path: str | os.PathLike[str]) -> ImageInfo:
    """Read only the header of a TIFF (or the metadata of an OME-Zarr plane) and return its size and bit depth."""
    stack = _stack_module(path)
    if stack is not None:  # a projection of z-planes: the first plane's header (the type is kept)
        return image_info(stack.first_plane(path))
    planes = _zarr_plane_module(path)
    if planes is not None:
        return planes.plane_info(path)
    with _open(path) as tif:
        page = _check_page(path, tif)
        height, width = _plane_shape(page.shape)
        dtype = np.dtype(page.dtype)
        return ImageInfo(int(height), int(width), dtype.name, dtype.itemsize * 8)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one single-channel TIFF, or one plane of an OME-Zarr array.

    Parameters
    ----------
    path : path or str
        A TIFF file, or an OME-Zarr plane locator (``/abs/plate.zarr/B/3/0/0#t=0&c=1&z=0``,
        see :mod:`mcnn_infer.zarr_planes`), which reads only that plane's chunks.

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
    stack = _stack_module(path)
    if stack is not None:
        return stack.project(path, read_image)
    planes = _zarr_plane_module(path)
    if planes is not None:
        return planes.read_plane(path)
    with _open(path) as tif:
        page = _check_page(path, tif)
        try:
            data = page.asarray()
        except Exception as exc:
            raise ImageReadError(f"image {path} could not be decoded ({reason_text(exc)})") from exc
    data = data.reshape(_plane_shape(data.shape))
    if data.ndim != 2:
        raise ImageReadError(f"image {path} decoded to shape {data.shape} (expected a 2-D image)")
    return finish_plane(path, data)


def read_planes(paths: Sequence[str | os.PathLike[str]]) -> list[np.ndarray]:
    """Read the channel files of one field as separate planes (no interleaving copy).

    Parameters
    ----------
    paths : sequence of path
        One file per channel, in the declared channel order.

    Returns
    -------
    list of numpy.ndarray
        C planes of shape (H, W), all of the same shape and stored dtype.

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
    return planes


def read_field(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """The planes of :func:`read_planes` (same arguments and errors) interleaved into one
    (H, W, C) array of their dtype, C = ``len(paths)``."""
    return np.stack(read_planes(paths), axis=-1)
