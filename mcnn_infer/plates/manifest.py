"""Manifest CSVs in CellProfiler LoadData style.

Columns ``Image_FileName_<Channel>`` and ``Image_PathName_<Channel>`` give one file per
channel; the plate, well and site come from ``Metadata_Plate`` / ``Metadata_Well`` /
``Metadata_Site`` or their ``Image_Metadata_<Name>[_<Channel>]`` variants (BBBC021's
``BBBC021_v1_image.csv`` uses ``Image_Metadata_Plate_DAPI`` and ``Image_Metadata_Well_DAPI``
and has no site column: the site is then read from ``_s<N>_`` in the file name, or
numbered in row order within the well).

Every path is resolved under ``root`` (default: the CSV's folder) and must stay inside it:
absolute paths, ``..`` and symlinks that lead out of the root are recorded as problems.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from mcnn_infer.errors import MetadataError, PlateError
from mcnn_infer.plates.base import MAX_INDEX, ChannelFile
from mcnn_infer.wells import normalize_well

_FILE_COL = re.compile(r"^Image_FileName_(?P<channel>.+)$")
_SITE_IN_NAME = re.compile(r"_s(\d+)(?:_|$)", re.IGNORECASE | re.ASCII)

EXAMPLE = (
    "manifest.csv with Image_FileName_DAPI, Image_PathName_DAPI, Metadata_Plate, Metadata_Well, Metadata_Site"
)


def is_manifest(path: Path) -> bool:
    """True if ``path`` is a CSV whose header has ``Image_FileName_<Channel>`` columns."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    try:
        header = pd.read_csv(path, nrows=0).columns
    except Exception:
        return False
    return any(_FILE_COL.match(str(c)) for c in header)


def _metadata_column(columns: list[str], name: str, channels: list[str]) -> str | None:
    candidates = [f"Metadata_{name}", f"Image_Metadata_{name}"]
    candidates += [f"Image_Metadata_{name}_{ch}" for ch in channels]
    for cand in candidates:
        if cand in columns:
            return cand
    return None


def read_manifest(
    csv_path: Path, root: Path | None = None, plates: list[str] | None = None
) -> tuple[list[str], list[ChannelFile], list[dict]]:
    """Read a LoadData-style manifest.

    Returns
    -------
    channels : list of str
        Channel keys in the CSV's column order (the ``<Channel>`` of ``Image_FileName_<Channel>``).
    files : list of ChannelFile
        One record per existing channel file inside the root.
    problems : list of dict
        ``plate, well, site, path, problem`` for rows that cannot be used.
    """
    csv_path = Path(csv_path)
    root = (Path(root) if root is not None else csv_path.parent).resolve()
    try:
        with warnings.catch_warnings():
            # a row with more cells than the header is an error, not a silently shifted row
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, index_col=False)
    except Exception as exc:
        raise MetadataError(f"manifest {csv_path} is not a readable CSV ({exc})") from exc
    columns = [str(c) for c in table.columns]
    channels = [m.group("channel") for c in columns if (m := _FILE_COL.match(c))]
    if not channels:
        raise MetadataError(
            f"manifest {csv_path} has no Image_FileName_<Channel> columns (found: {', '.join(columns[:12])})"
        )
    missing_path_cols = [f"Image_PathName_{ch}" for ch in channels if f"Image_PathName_{ch}" not in columns]
    plate_col = _metadata_column(columns, "Plate", channels)
    well_col = _metadata_column(columns, "Well", channels)
    site_col = _metadata_column(columns, "Site", channels)
    if plate_col is None or well_col is None:
        raise MetadataError(
            f"manifest {csv_path} lacks a plate or well column (expected Metadata_Plate and Metadata_Well, "
            f"or Image_Metadata_Plate_<Channel> / Image_Metadata_Well_<Channel>)"
        )
    if plates is not None:
        table = table[table[plate_col].isin(plates)]
    files: list[ChannelFile] = []
    problems: list[dict] = []
    site_counter: dict[tuple[str, str], int] = {}
    for line_no, row in zip(table.index + 2, table.itertuples(index=False), strict=True):
        record = dict(zip(columns, row, strict=True))
        plate = record[plate_col].strip()
        try:
            well = normalize_well(record[well_col], source=f"{csv_path} line {line_no}")
        except PlateError as exc:
            problems.append(_problem(plate, record[well_col], 0, str(csv_path), str(exc)))
            continue
        site = _site_of(record, site_col, channels, site_counter, plate, well)
        if site is None:
            problems.append(
                _problem(
                    plate,
                    well,
                    0,
                    str(csv_path),
                    f"line {line_no}: site {record[site_col]!r} is not a number",
                )
            )
            continue
        for ch in channels:
            name = record[f"Image_FileName_{ch}"].strip()
            folder = (
                ""
                if ch in {c.removeprefix("Image_PathName_") for c in missing_path_cols}
                else record[f"Image_PathName_{ch}"].strip()
            )
            if not name:
                problems.append(
                    _problem(plate, well, site, str(csv_path), f"line {line_no}: no file for channel {ch}")
                )
                continue
            path, why = _resolve_inside(root, folder, name)
            if why:
                problems.append(_problem(plate, well, site, str(path), why))
                continue
            files.append(ChannelFile(plate=plate, well=well, site=site, channel=ch, path=path))
    return channels, files, problems


def _site_of(
    record: dict, site_col: str | None, channels: list[str], counter: dict, plate: str, well: str
) -> int | None:
    if site_col is not None:
        return _index(record[site_col].strip())
    match = _SITE_IN_NAME.search(record[f"Image_FileName_{channels[0]}"])
    if match:
        return _index(match.group(1))
    counter[(plate, well)] = counter.get((plate, well), 0) + 1
    return counter[(plate, well)]


def _index(text: str) -> int | None:
    """A 1-based site number in ASCII digits, or None."""
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_INDEX:
        return int(text)
    return None


def _resolve_inside(root: Path, folder: str, name: str) -> tuple[Path, str | None]:
    """Resolve ``root/folder/name``; return (path, reason) where reason is set if unusable."""
    candidate = Path(folder) / name
    if candidate.is_absolute():
        return candidate, f"absolute path {candidate} in the manifest (expected a path relative to {root})"
    joined = root / candidate
    try:
        resolved = joined.resolve()
        if not resolved.is_relative_to(root):
            return joined, f"path {candidate} resolves to {resolved}, outside the root {root}"
        if not resolved.is_file():
            return joined, f"file {candidate} listed in the manifest does not exist under {root}"
    except (OSError, ValueError) as exc:
        return joined, f"path {candidate} cannot be used ({exc})"
    return resolved, None


def _problem(plate: str, well: str, site: int, path: str, problem: str) -> dict:
    return {"plate": plate, "well": well, "site": site, "path": path, "problem": problem}
