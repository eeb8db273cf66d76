"""The plates of a scoring run: scanned, checked against the model card, joined into one field table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mcnn_infer.card import ModelCard, bit_depth_mismatch, check_channels
from mcnn_infer.errors import ChannelMismatchError, ConfigError, HcsError, PlateError
from mcnn_infer.images import image_info
from mcnn_infer.plates import PlateScan, require_same_channels, scan_plate
from mcnn_infer.results import KEYS, path_columns
from mcnn_infer.scoring.assemble import problem_rows
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.wells import outside_format_problem, plate_format
from mcnn_infer.zstack import choose_planes


def plate_channels_for(card: ModelCard, channel_map: dict[str, str]) -> list[str] | None:
    """Plate channel keys in model order under ``--channel-map`` (None without a map).

    Raises
    ------
    ConfigError
        If the map names a channel the model does not have.
    """
    if not channel_map:
        return None
    names = {name: key for key, name in card.input.channel_names.items()}
    known = set(card.input.channels) | set(names)
    unknown = sorted(set(channel_map) - known)
    if unknown:
        raise ConfigError(
            f"--channel-map names {unknown}, which model {card.model_name} does not have "
            f"(expected its channel keys {card.input.channels} or names {sorted(names)})"
        )
    out = []
    for key in card.input.channels:
        name = card.input.channel_names.get(key)
        out.append(channel_map.get(key) or (channel_map.get(name) if name else None) or key)
    return out


#: Fields whose headers decide a plate's bit depth (the first ones that can be read).
BIT_DEPTH_SAMPLE = 5


def check_bit_depth(card: ModelCard, scan: PlateScan, allow: bool) -> None:
    """Compare the plate's bit depth with the card's, from the headers of its first readable fields.

    A field whose header cannot be read (or lies: 10^12 pixels, an odd dtype) does not decide for
    the plate: it is skipped with its reason when scored. The plate is refused only when every
    sampled field (up to :data:`BIT_DEPTH_SAMPLE` readable ones) differs from the card.

    Raises
    ------
    PlateError
        Naming the first sampled file, its bit depth and the model's, unless ``allow``.
    """
    if allow:
        return
    mismatches = []
    for path in scan.fields[scan.path_columns[0]]:
        try:
            dtype = image_info(path).dtype
        except HcsError:
            continue
        mismatch = bit_depth_mismatch(card, dtype, path)
        if mismatch is None:
            return
        mismatches.append(mismatch)
        if len(mismatches) >= BIT_DEPTH_SAMPLE:
            break
    if mismatches:
        raise PlateError(mismatches[0])


def scan_plates(
    plate_dirs: Sequence[str | os.PathLike[str]], card: ModelCard, options: ScoreOptions
) -> tuple[list[PlateScan], list[str]]:
    """Scan each plate folder and check it against the model card; return scans and channels."""
    wanted = plate_channels_for(card, options.channel_map)
    scans = [
        with_planes(scan_plate(Path(d).resolve(), channels=wanted, pattern=options.pattern), options.planes)
        for d in plate_dirs
    ]
    channels = require_same_channels(scans)
    seen: dict[str, Path] = {}
    for scan in scans:
        label = ", ".join(scan.plates)
        if wanted is None:
            check_channels(card, scan.channels, f"{label} ({scan.source})")
        elif len(scan.channels) != len(card.input.channels):
            raise ChannelMismatchError(
                f"plate {scan.source} has channels {scan.channels} after --channel-map, model expects "
                f"{len(card.input.channels)}"
            )
        check_bit_depth(card, scan, options.allow_bit_depth_mismatch)
        for plate in scan.plates:
            if plate in seen:
                raise PlateError(
                    f"plate name {plate!r} occurs in {seen[plate]} and {scan.source} (expected distinct plate names)"
                )
            seen[plate] = scan.source
    return scans, channels


def with_planes(scan: PlateScan, planes: str | None) -> PlateScan:
    """``scan`` with the ``--planes`` choice applied (:func:`mcnn_infer.zstack.choose_planes`).

    Raises
    ------
    ConfigError
        A plate with z-stacks and no choice.
    """
    fields, missing = choose_planes(scan.fields, scan.channels, planes, str(scan.source))
    if fields is scan.fields:
        return scan
    problems = pd.concat([scan.problems, pd.DataFrame(missing, columns=scan.problems.columns)], ignore_index=True)
    return dataclasses.replace(scan, fields=fields, problems=problems)


def wells_outside_map_format(scan: PlateScan, treatments: pd.DataFrame) -> PlateScan:
    """``scan`` with fields in wells outside the plate format its plate map gives moved to the problems.

    The format of a plate named in the plate map is the smallest of 96, 384 and 1536 wells that
    holds the map's wells of that plate; a field in a well beyond it (``M05`` on a plate whose map
    ends at ``H12``) is a problem row naming the well and the format, never ``ok``. Plates the
    map does not name keep the format their own wells give (only wells outside every format fail,
    in the scan).
    """
    moved, rows = pd.Series(False, index=scan.fields.index), []
    for plate, group in scan.fields.groupby("plate", sort=True):
        mapped = treatments.loc[treatments["plate"].astype(str) == str(plate), "well"].astype(str)
        size = plate_format(mapped.tolist()) if len(mapped) else None
        if size is None:
            continue
        for well, fields in group.groupby("well", sort=True):
            problem = outside_format_problem(str(well), size)
            if problem is None:
                continue
            moved[fields.index] = True
            for row in fields.itertuples(index=False):
                rows.append(
                    {
                        "plate": row.plate,
                        "well": row.well,
                        "site": row.site,
                        "path": str(getattr(row, scan.path_columns[0])),
                        "problem": f"{problem}, the format of plate {plate}'s wells in the plate map",
                    }
                )
    if not rows:
        return scan
    problems = pd.concat([scan.problems, pd.DataFrame(rows, columns=scan.problems.columns)], ignore_index=True)
    return dataclasses.replace(scan, fields=scan.fields[~moved].reset_index(drop=True), problems=problems)


def field_table(scans: Sequence[PlateScan], channels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = path_columns(channels)
    fields = pd.concat([s.fields[KEYS + paths] for s in scans], ignore_index=True)
    fields["_index"] = np.arange(len(fields), dtype=np.int64)
    problems = pd.concat([problem_rows(s.problems, channels) for s in scans], ignore_index=True)
    return fields, problems
