"""Scan a plate folder (or a manifest CSV) into a table of fields.

The layout is detected from the file names unless given; every file that is not used
is accounted for in ``PlateScan.problems`` (unusable: incomplete field, duplicate,
unparseable image name, symlink out of the folder) or ``PlateScan.ignored`` (not a field
image: thumbnails, non-image files).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mcnn_infer.errors import ChannelMismatchError, LayoutError, PlateError
from mcnn_infer.images import IMAGE_SUFFIXES
from mcnn_infer.plates.base import ChannelFile
from mcnn_infer.plates.layouts import LAYOUTS
from mcnn_infer.plates.manifest import EXAMPLE as MANIFEST_EXAMPLE
from mcnn_infer.plates.manifest import is_manifest, read_manifest
from mcnn_infer.plates.ome_zarr import OME_ZARR, looks_like_ome_zarr, read_ome_zarr
from mcnn_infer.plates.pattern import PATTERN, PatternLayout
from mcnn_infer.wells import outside_format_problem, row_index, split_well

# LAYOUTS: the file-name layouts by name, tried in this order by the detector (every module of
# mcnn_infer/plates/layouts/).
MANIFEST = "manifest"
#: Every ``--layout`` choice: the file-name layouts, OME-Zarr plate stores (not a file-name
#: pattern: scanned by :mod:`mcnn_infer.plates.ome_zarr`) and manifest CSVs.
LAYOUT_CHOICES = [*LAYOUTS, OME_ZARR, MANIFEST]
KEY_COLUMNS = ["plate", "well", "row", "col", "site", "timepoint", "plane"]
PROBLEM_COLUMNS = ["plate", "well", "site", "path", "problem"]


@dataclass
class PlateScan:
    """The fields found in a plate folder or manifest.

    Attributes
    ----------
    layout : str
        Layout that matched (a key of :data:`LAYOUTS`, ``ome-zarr``, ``manifest``, or ``pattern`` for
        ``--pattern``).
    source : Path
        The folder or manifest scanned.
    channels : list of str
        Channel keys in declared order; ``fields`` has a ``path_<key>`` column for each.
    fields : pandas.DataFrame
        One row per complete field: ``plate, well, row, col, site, timepoint, plane,
        path_<channel>...``, sorted by plate, row, column, site, time point and plane.
    problems : pandas.DataFrame
        ``plate, well, site, path, problem`` for every field or file that cannot be used.
    ignored : pandas.DataFrame
        ``path, reason`` for files that are not field images (thumbnails, non-images).
    """

    layout: str
    source: Path
    channels: list[str]
    fields: pd.DataFrame
    problems: pd.DataFrame
    ignored: pd.DataFrame

    @property
    def path_columns(self) -> list[str]:
        return [path_column(ch) for ch in self.channels]

    @property
    def plates(self) -> list[str]:
        return sorted(self.fields["plate"].unique().tolist())


def path_column(channel: str) -> str:
    """The field-table column holding the image path of ``channel`` (``path_<channel>``)."""
    return f"path_{channel}"


def field_paths(row: pd.Series | dict, channels: Sequence[str]) -> list[str]:
    """Paths of one field's channel images, in the order of ``channels``."""
    return [row[path_column(ch)] for ch in channels]


def scan_plate(
    path: str | os.PathLike[str],
    layout: str | None = None,
    channels: Sequence[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    plates: Sequence[str] | None = None,
    pattern: str | None = None,
) -> PlateScan:
    """Find the fields of a plate folder or a LoadData-style manifest CSV.

    Parameters
    ----------
    path : path
        A plate folder (searched recursively; several plate folders below it give several
        plates) or a manifest CSV.
    layout : str, optional
        Force a layout (one of :data:`LAYOUT_CHOICES`) instead of detecting it. A ``*.zarr`` store, or
        a folder holding OME-Zarr plates and no TIFFs, is read as ``ome-zarr``
        (:mod:`mcnn_infer.plates.ome_zarr`; paths are then plane locators).
    channels : sequence of str, optional
        Channel keys to use, in this order (default: all channels found, in the layout's
        declared order). Files of other channels are listed in ``ignored``.
    root : path, optional
        For a manifest: the folder its paths are relative to (default: the CSV's folder).
    plates : sequence of str, optional
        Keep only these plates.
    pattern : str, optional
        A file-name regular expression (``--pattern``; see :mod:`mcnn_infer.plates.pattern`) for a
        plate folder of an instrument without a layout; implies layout ``pattern``.

    Raises
    ------
    PlateError
        The path does not exist, holds no image files, or no field is complete.
    LayoutError
        No known layout matches the file names (the message lists the layouts tried), or a bad
        ``pattern`` or one given with another layout.
    """
    source = Path(os.path.abspath(path))
    if not source.exists():
        raise PlateError(f"plate path {source} does not exist (expected a plate folder or a manifest CSV)")
    forced = _pattern_layout(pattern, layout, source)
    if layout == MANIFEST or (layout is None and source.is_file()):
        if not is_manifest(source):
            raise LayoutError(
                f"{source} is not a manifest CSV (expected a CSV with Image_FileName_<Channel> columns, "
                "or a plate folder)"
            )
        declared, files, problems = read_manifest(
            source, Path(root) if root else None, list(plates) if plates else None
        )
        return _build(MANIFEST, source, files, problems, [], list(channels) if channels else declared)
    if forced is None and (layout == OME_ZARR or (layout is None and looks_like_ome_zarr(source))):
        declared, files, problems, ignored = read_ome_zarr(source, list(plates) if plates else None)
        return _build(OME_ZARR, source, files, problems, ignored, list(channels) if channels else declared)
    if layout is not None and layout not in LAYOUTS and forced is None:
        raise LayoutError(f"unknown layout {layout!r} (expected one of {', '.join(LAYOUT_CHOICES)})")

    images, others = _list_files(source)
    ignored = [{"path": str(p), "reason": "not a TIFF image"} for p in others]
    if not images:
        raise PlateError(f"plate folder {source} holds no image files (expected .tif/.tiff files below it)")
    chosen = forced or (LAYOUTS[layout] if layout else _detect(source, images))
    files: list[ChannelFile] = []
    problems: list[dict] = []
    root_resolved = source.resolve()
    for image in images:
        if image.is_symlink() and not image.resolve().is_relative_to(root_resolved):
            problems.append(
                _problem(None, image, f"symlink points outside the plate folder, to {image.resolve()}")
            )
            continue
        reason = chosen.is_ignored(image)
        if reason:
            ignored.append({"path": str(image), "reason": reason})
            continue
        try:
            record = chosen.parse(image, source)
        except PlateError as exc:
            problems.append(_problem(None, image, str(exc)))
            continue
        if record is None:
            problems.append(
                _problem(
                    None, image, f"file name does not follow the {chosen.name} layout (e.g. {chosen.example})"
                )
            )
            continue
        files.append(record)
    if plates is not None:
        files = [f for f in files if f.plate in set(plates)]
    order = list(channels) if channels else chosen.channel_order({f.channel for f in files})
    return _build(chosen.name, source, files, problems, ignored, order)


def _pattern_layout(pattern: str | None, layout: str | None, source: Path) -> PatternLayout | None:
    """The layout of ``--pattern`` (None without one); refuses it with another layout or a manifest."""
    if pattern is None:
        if layout == PATTERN:
            raise LayoutError(f"layout {PATTERN!r} needs a file-name pattern (expected --pattern REGEX)")
        return None
    if layout not in (None, PATTERN):
        raise LayoutError(
            f"--pattern {pattern!r} sets the layout to {PATTERN!r}, but layout {layout!r} was also given "
            "(expected one of --pattern and --layout)"
        )
    if source.is_file():
        raise LayoutError(
            f"--pattern names files in a plate folder, but {source} is a file (expected a folder)"
        )
    return PatternLayout(pattern)


def _list_files(folder: Path) -> tuple[list[Path], list[Path]]:
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
    return images, others


def _detect(folder: Path, images: list[Path]):
    counts = {}
    for name, candidate in LAYOUTS.items():
        hits = 0
        for image in images:
            try:
                hits += candidate.parse(image, folder) is not None
            except PlateError:
                hits += 1  # the name has this layout's shape, with a bad value in it
        counts[name] = hits
    best = max(counts, key=lambda n: counts[n])
    if counts[best] == 0:
        tried = "; ".join(f"{lay.name} ({lay.description}), e.g. {lay.example}" for lay in LAYOUTS.values())
        samples = ", ".join(p.name for p in images[:3])
        raise LayoutError(
            f"no known layout matches the {len(images)} image files in {folder} (e.g. {samples}). "
            f"Layouts tried: {tried}; or pass a manifest CSV ({MANIFEST_EXAMPLE})"
        )
    return LAYOUTS[best]


def _build(
    layout: str,
    source: Path,
    files: list[ChannelFile],
    problems: list[dict],
    ignored: list[dict],
    channels: list[str],
) -> PlateScan:
    by_field: dict[tuple, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for record in files:
        if record.channel not in channels:
            ignored.append({"path": str(record.path), "reason": f"channel {record.channel} not requested"})
            continue
        by_field[record.field_key][record.channel].append(record.path)
    rows = []
    misplaced = {well: outside_format_problem(well) for well in {key[1] for key in by_field}}
    for key, per_channel in by_field.items():
        plate, well, site, timepoint, plane = key
        missing = [ch for ch in channels if ch not in per_channel]
        dupes = {ch: paths for ch, paths in per_channel.items() if len(paths) > 1}
        any_path = next(iter(per_channel.values()))[0]
        if misplaced[well]:  # Z99, A49: no plate has it, whatever the file names say
            problems.append(
                {"plate": plate, "well": well, "site": site, "path": str(any_path), "problem": misplaced[well]}
            )
            continue
        if missing:
            problems.append(
                {
                    "plate": plate,
                    "well": well,
                    "site": site,
                    "path": str(any_path),
                    "problem": f"missing channel {', '.join(missing)} (found {', '.join(sorted(per_channel))})",
                }
            )
            continue
        if dupes:
            ch, paths = next(iter(dupes.items()))
            problems.append(
                {
                    "plate": plate,
                    "well": well,
                    "site": site,
                    "path": str(paths[0]),
                    "problem": f"duplicate files for channel {ch}: {', '.join(p.name for p in paths)}",
                }
            )
            continue
        row_letters, col = split_well(well)
        row = {
            "plate": plate,
            "well": well,
            "row": row_letters,
            "col": col,
            "site": site,
            "timepoint": timepoint,
            "plane": plane,
        }
        row.update({path_column(ch): str(per_channel[ch][0]) for ch in channels})
        rows.append(row)
    fields = pd.DataFrame(rows, columns=KEY_COLUMNS + [path_column(ch) for ch in channels])
    if not fields.empty:
        fields["_r"] = fields["row"].map(row_index)
        fields = fields.sort_values(["plate", "_r", "col", "site", "timepoint", "plane"]).drop(columns="_r")
        fields = fields.reset_index(drop=True)
        for column in ("col", "site", "timepoint", "plane"):
            fields[column] = fields[column].astype(int)
    problem_table = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    if fields.empty:
        detail = f"; first problem: {problems[0]['problem']}" if problems else ""
        raise PlateError(f"no complete field found in {source} ({len(problems)} problems{detail})")
    ignored_table = pd.DataFrame(ignored, columns=["path", "reason"])
    return PlateScan(layout, source, list(channels), fields, problem_table, ignored_table)


def _problem(plate: str | None, path: Path, problem: str) -> dict:
    return {"plate": plate or path.parent.name, "well": "", "site": 0, "path": str(path), "problem": problem}


def require_same_channels(scans: Sequence[PlateScan]) -> list[str]:
    """Check that all scans declare the same channels; return them.

    Raises
    ------
    ChannelMismatchError
        Naming the first plate whose channels differ from the first plate's.
    """
    first = scans[0]
    for scan in scans[1:]:
        if scan.channels != first.channels:
            raise ChannelMismatchError(
                f"plate {scan.source} has channels {scan.channels}, but {first.source} has {first.channels} "
                "(expected the same channels on every plate)"
            )
    return list(first.channels)
