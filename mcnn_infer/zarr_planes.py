"""One 2-D plane of an OME-Zarr image array, named by a *plane locator* string.

The field table holds one ``path_<channel>`` string per channel. For an OME-Zarr plate that
string is a plane locator instead of a TIFF path::

    /abs/plate.zarr/B/3/0/0#t=0&c=1&z=0

* before ``#``: the absolute path of the Zarr array (the full-resolution level of a field
  image, ``<plate>/<row>/<column>/<field>/<level>``);
* after ``#``: the index of every axis before the two spatial axes ``y, x``, in the array's
  axis order, as ``<role>=<index>`` joined by ``&``. Roles are ``t`` (time), ``c`` (channel)
  and ``z`` (the third spatial axis); indices are 0-based array indices. An array with only
  ``y, x`` axes has an empty selection (``.../0#``).

:func:`read_plane` reads exactly ``array[i0, i1, ..., :, :]``, so Zarr fetches only the
chunks of that plane, never a whole field or well, with the checks of
:func:`mcnn_infer.images.read_image` (2-D, at most ``MAX_PIXELS``, supported dtype, finite
floats), from :mod:`mcnn_infer.image_checks`, which both readers import (no import circle).
:func:`mcnn_infer.images.read_image` and :func:`~mcnn_infer.images.image_info`
dispatch locators here, so every reader of the field table works on OME-Zarr plates unchanged.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mcnn_infer.errors import ImageReadError
from mcnn_infer.image_checks import ImageInfo, check_plane_header, finish_plane, reason_text

#: Axis roles that may be selected in a locator (all axes other than y, x).
ROLES = ("t", "c", "z")
_SELECTION = re.compile(r"^(?:[tcz]=\d{1,9}(?:&[tcz]=\d{1,9}){0,2})?$", re.ASCII)


@dataclass(frozen=True)
class PlaneLocator:
    """A parsed plane locator.

    Attributes
    ----------
    array : str
        Absolute path of the Zarr array.
    selection : tuple of (str, int)
        ``(role, index)`` for each axis before ``y, x``, in the array's axis order.
    """

    array: str
    selection: tuple[tuple[str, int], ...]

    def __str__(self) -> str:
        return make_locator(self.array, self.selection)

    @property
    def index(self) -> tuple[int | slice, ...]:
        """Numpy-style index of the plane: the selected indices, then ``:, :`` for y, x."""
        return (*(i for _, i in self.selection), slice(None), slice(None))


def make_locator(array: str | os.PathLike[str], selection: Sequence[tuple[str, int]]) -> str:
    """The locator string of one plane of ``array``.

    Parameters
    ----------
    array : path
        The Zarr array (made absolute).
    selection : sequence of (str, int)
        ``(role, index)`` for each axis before ``y, x`` in the array's order; roles from
        :data:`ROLES`, each at most once, indices 0-based.
    """
    roles = [role for role, _ in selection]
    if any(role not in ROLES for role in roles) or len(set(roles)) != len(roles):
        raise ValueError(f"plane selection {list(selection)} must name each of {ROLES} at most once")
    if any(int(index) < 0 for _, index in selection):
        raise ValueError(f"plane selection {list(selection)} has a negative index")
    text = "&".join(f"{role}={int(index)}" for role, index in selection)
    return f"{os.path.abspath(os.fspath(array))}#{text}"


def is_plane_locator(text: str | os.PathLike[str]) -> bool:
    """True when ``text`` is a plane locator (an absolute path, ``#`` and a t/c/z selection)."""
    text = os.fspath(text)
    array, sep, selection = text.rpartition("#")
    return bool(sep) and os.path.isabs(array) and _SELECTION.match(selection) is not None


def parse_locator(text: str | os.PathLike[str]) -> PlaneLocator:
    """Split a locator into the array path and its selection.

    Raises
    ------
    ImageReadError
        If ``text`` is not a locator (expected ``/abs/plate.zarr/B/3/0/0#t=0&c=1&z=0``).
    """
    text = os.fspath(text)
    if not is_plane_locator(text):
        raise ImageReadError(
            f"{text!r} is not an OME-Zarr plane locator (expected an absolute array path, '#' and the "
            "plane's t/c/z indices, e.g. /data/plate.zarr/B/3/0/0#t=0&c=1&z=0)"
        )
    array, _, selection = text.rpartition("#")
    pairs = [part.split("=") for part in selection.split("&")] if selection else []
    found = [role for role, _ in pairs]
    if len(set(found)) != len(found):
        raise ImageReadError(f"plane locator {text} names an axis twice (expected each of t, c, z once)")
    return PlaneLocator(array, tuple((role, int(index)) for role, index in pairs))


#: Metadata file of a Zarr v3 / v2 array: its size and modification time key the open-array cache.
_ARRAY_METADATA = ("zarr.json", ".zarray")


def _metadata_stamp(path: str) -> tuple[str, int, int] | None:
    """``(metadata file, mtime_ns, size)`` of the array at ``path``; None when it has none."""
    for name in _ARRAY_METADATA:
        try:
            stat = os.stat(os.path.join(path, name))
        except OSError:
            continue
        return name, stat.st_mtime_ns, stat.st_size
    return None


@functools.lru_cache(maxsize=256)
def _open_array(path: str, stamp: tuple[str, int, int] | None):
    """The opened array (read-only). Cached per metadata stamp: every channel and plane of a field
    shares one array, and opening it (parsing its metadata) cost about a third of a 640x640 plane
    read; a rewritten array has a new stamp and is opened again."""
    import zarr  # imported here: TIFF-only runs never load zarr

    return zarr.open_array(path, mode="r")


def _open(locator: PlaneLocator, text: str):
    if not os.path.isdir(locator.array):
        raise ImageReadError(f"cannot read plane {text}: the Zarr array {locator.array} does not exist")
    try:
        array = _open_array(locator.array, _metadata_stamp(locator.array))
    except Exception as exc:
        raise ImageReadError(
            f"plane {text}: {locator.array} is not a readable Zarr array ({reason_text(exc)})"
        ) from exc
    shape = tuple(int(n) for n in array.shape)
    if len(shape) != len(locator.selection) + 2:
        raise ImageReadError(
            f"plane {text}: the array has shape {shape} ({len(shape)} axes), but the locator selects "
            f"{len(locator.selection)} axes before y, x (expected {len(locator.selection) + 2} axes)"
        )
    for axis, ((role, index), size) in enumerate(zip(locator.selection, shape, strict=False)):
        if index >= size:
            raise ImageReadError(
                f"plane {text}: {role}={index} is out of range for axis {axis} of size {size} "
                f"(array shape {shape})"
            )
    check_plane_header(text, shape[-2:], array.dtype)
    return array


def plane_info(text: str | os.PathLike[str]) -> ImageInfo:
    """Size and bit depth of one plane, from the array's metadata only (no pixels read)."""
    text = os.fspath(text)
    array = _open(parse_locator(text), text)
    dtype = np.dtype(array.dtype)
    return ImageInfo(int(array.shape[-2]), int(array.shape[-1]), dtype.name, dtype.itemsize * 8)


def read_plane(text: str | os.PathLike[str]) -> np.ndarray:
    """Read one plane: only the chunks that hold it.

    Returns
    -------
    numpy.ndarray
        Shape (H, W) = the array's (y, x) size, the stored dtype in native byte order
        (float64 is returned as float32).

    Raises
    ------
    ImageReadError
        Missing or unreadable array, a locator that does not fit the array's shape, too
        large, unsupported dtype, undecodable chunk, NaN or infinite values.
    """
    text = os.fspath(text)
    locator = parse_locator(text)
    array = _open(locator, text)
    try:
        data = np.asarray(array[locator.index])
    except Exception as exc:
        raise ImageReadError(f"plane {text} could not be read ({reason_text(exc)})") from exc
    if data.ndim != 2:
        raise ImageReadError(f"plane {text} decoded to shape {data.shape} (expected a 2-D image)")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    return finish_plane(text, data)
