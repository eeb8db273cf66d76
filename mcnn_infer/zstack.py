"""Z-stacks said out loud: which plane (or projection of planes) of a field is scored or trained on.

A field table has one row per (field, time point, plane). A plate whose fields have several
planes needs a choice (``--planes`` of ``hcs score`` and ``hcs train``):

* ``max`` / ``mean``: one row per (field, time point) whose ``path_<channel>`` is a *plane stack*
  of that channel's planes in plane order, ``plane`` 0 (all planes); reading it gives the
  per-pixel maximum, or the mean rounded to the stored type (integer types stay integer, so
  bit depths and normalisation work as for a single plane). A field with one plane is kept as is.
* ``N`` (1-based): only plane N of each field; a field without plane N is a problem row.

Without a choice a multi-plane plate is refused (:class:`~mcnn_infer.errors.ConfigError` naming
the option). Time points always stay separate rows.

A plane stack is the text ``zstack:<how>:`` followed by the JSON list of the plane paths (TIFF
files or OME-Zarr plane locators): :func:`mcnn_infer.images.read_image` and
:func:`~mcnn_infer.images.image_info` read it, one plane at a time (memory: one plane and one
accumulator), so every reader of the field table works on projected fields unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mcnn_infer.errors import ConfigError, ImageReadError

if TYPE_CHECKING:  # pandas only where field tables are: `hcs score` parses --planes before its folder lock
    import pandas as pd

#: The projections of ``--planes`` (besides a 1-based plane number).
PROJECTIONS = ("max", "mean")
PLANES_HELP = (
    "How fields with several z-planes are read: max or mean (a projection of all planes) or N (plane N "
    "only, 1-based). Required for plates with z-stacks; recorded in run.json / config.json."
)
_PREFIX = "zstack:"
_FIELD = ["plate", "well", "site", "timepoint"]


def parse_planes(value: str | int | None) -> str | None:
    """``max``, ``mean`` or a plane number as text (``"3"``); None stays None.

    Raises
    ------
    ConfigError
        Anything else (expected max, mean or a positive plane number).
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in PROJECTIONS or (text.isdigit() and int(text) >= 1):
        return text if text in PROJECTIONS else str(int(text))
    raise ConfigError(f"--planes {value!r} is not a z-plane choice (expected max, mean or a plane number >= 1)")


def make_stack(paths: Sequence[str], how: str) -> str:
    """The plane-stack text of ``paths`` (one channel's planes, in plane order) projected by ``how``."""
    if how not in PROJECTIONS:
        raise ValueError(f"projection {how!r} (expected one of {PROJECTIONS})")
    return f"{_PREFIX}{how}:{json.dumps([str(p) for p in paths])}"


def is_stack(path: str | os.PathLike[str]) -> bool:
    """True for a plane-stack text (:func:`make_stack`)."""
    return isinstance(path, str) and path.startswith(_PREFIX)


def parse_stack(text: str) -> tuple[str, list[str]]:
    """``(how, plane paths)`` of a plane stack.

    Raises
    ------
    ImageReadError
        The text is not ``zstack:<max|mean>:<JSON list of paths>``.
    """
    how, _, listing = text[len(_PREFIX) :].partition(":")
    try:
        paths = json.loads(listing)
    except ValueError:
        paths = None
    if how not in PROJECTIONS or not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ImageReadError(
            f"{text[:200]!r} is not a plane stack (expected zstack:<max|mean>:<JSON list of plane paths>)"
        )
    return how, paths


def project(text: str, read: Callable[[str], np.ndarray]) -> np.ndarray:
    """Read the planes of a stack with ``read`` and project them.

    Returns
    -------
    numpy.ndarray
        Shape (H, W): the per-pixel maximum, or the mean (rounded to the stored type for
        integer types).

    Raises
    ------
    ImageReadError
        A plane cannot be read, or the planes differ in size or type (naming the plane).
    """
    how, paths = parse_stack(text)
    first = read(paths[0])
    acc = first.copy() if how == "max" else first.astype(np.float64)
    for path in paths[1:]:
        plane = read(path)
        if plane.shape != first.shape or plane.dtype != first.dtype:
            raise ImageReadError(
                f"plane {path} is {plane.shape[0]}x{plane.shape[1]} {plane.dtype}, but the field's first plane "
                f"{paths[0]} is {first.shape[0]}x{first.shape[1]} {first.dtype} (expected all planes alike)"
            )
        if how == "max":
            np.maximum(acc, plane, out=acc)
        else:
            acc += plane
    if how == "max":
        return acc
    acc /= len(paths)
    return np.rint(acc).astype(first.dtype) if first.dtype.kind in "ui" else acc.astype(first.dtype)


def first_plane(path: str) -> str:
    """The first plane's path of a plane stack (``path`` itself otherwise): for header checks."""
    return parse_stack(path)[1][0] if is_stack(path) else path


def planes_per_field(fields: pd.DataFrame) -> int:
    """The largest number of planes of one (field, time point) in a field table (0 for no rows)."""
    if fields.empty:
        return 0
    return int(fields.groupby(_FIELD, sort=False)["plane"].nunique().max())


def choose_planes(
    fields: pd.DataFrame, channels: Sequence[str], planes: str | None, source: str
) -> tuple[pd.DataFrame, list[dict]]:
    """Apply a ``--planes`` choice to a field table.

    Parameters
    ----------
    fields : pandas.DataFrame
        ``plate, well, row, col, site, timepoint, plane, path_<channel>...`` (one row per plane).
    channels : sequence of str
        The channel keys (``path_<key>`` columns).
    planes : str or None
        :func:`parse_planes` output.
    source : str
        The plate folder, named in the refusal.

    Returns
    -------
    fields : pandas.DataFrame
        One row per (field, time point), same columns and order.
    problems : list of dict
        ``plate, well, site, path, problem`` for fields without the chosen plane.

    Raises
    ------
    ConfigError
        Fields with several planes and no choice (the message names ``--planes``).
    """
    most = planes_per_field(fields)
    if planes is None:
        if most > 1:
            plates = ", ".join(sorted(fields["plate"].astype(str).unique()))
            raise ConfigError(
                f"plate {plates} ({source}) has up to {most} z-planes per field; expected a choice of how to "
                "read them: --planes max, --planes mean (projections) or --planes N (plane N only)"
            )
        return fields, []
    paths = [f"path_{c}" for c in channels]
    if planes not in PROJECTIONS:
        index = int(planes)
        keep = fields["plane"] == index
        have = fields[keep].set_index(_FIELD).index
        missing = fields[~keep & ~fields.set_index(_FIELD).index.isin(have)]
        problems = []
        for key, group in missing.groupby(_FIELD, sort=True):
            problems.append(
                {
                    "plate": key[0],
                    "well": key[1],
                    "site": int(key[2]),
                    "path": str(group.iloc[0][paths[0]]),
                    "problem": f"field has no plane {index} (planes {', '.join(map(str, sorted(group['plane'])))}; "
                    "--planes chose that plane)",
                }
            )
        return fields[keep].reset_index(drop=True), problems
    if most <= 1:
        return fields, []
    import pandas as pd

    rows = []
    for _, group in fields.groupby(_FIELD, sort=False):
        row = group.iloc[0].copy()
        if len(group) > 1:
            group = group.sort_values("plane")
            for column in paths:
                row[column] = make_stack(group[column].tolist(), planes)
            row["plane"] = 0
        rows.append(row)
    out = pd.DataFrame(rows, columns=fields.columns).reset_index(drop=True)
    for column in ("col", "site", "timepoint", "plane"):
        if column in out:
            out[column] = out[column].astype(int)
    return out, []
