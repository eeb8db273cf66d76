"""Write one plate of a field table as an OME-Zarr HCS store, resumably.

Layout of the store ``<plate>.zarr``: ``<row>/<column>/<field>/<level>``; one image group per
(well, site) named ``site - 1``, one array per resolution level, shape ``(T, C, Z, Y, X)``
(the plate's time points and planes in ascending order; channels in the field table's
order), chunks of one plane ``(1, 1, 1, Y, X)``, the source dtype (float64 TIFFs are read as
float32). Each plane is written as its chunk even when it is all zero.

Resume: the root group's ``hcs`` attribute holds a fingerprint of the input (field table,
channels, NGFF version, levels). A field's image group gets its metadata and the
``hcs.complete`` marker in one atomic attribute write *after* its pixels, so a field with the
marker is skipped on a re-run and a field without it is rewritten from scratch. The plate and
well metadata first list every well and site of the input (so a reader of an unfinished store
sees what is missing) and are rewritten with the wells and sites actually converted after each
well and after the last well (zarr's local store
writes every metadata file to a temporary name and renames it into place). Source planes that
cannot be read are listed in the field's ``hcs.absent_planes`` (with the reason) and returned
as problems; no pixels are invented for them beyond the array's fill value 0.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.convert.levels import level_shape, pyramid
from mcnn_infer.convert.ngff_metadata import (
    AXIS_NAMES,
    image_attrs,
    plate_attrs,
    well_attrs,
    zarr_format,
)
from mcnn_infer.errors import ConfigError, HcsError
from mcnn_infer.images import read_field
from mcnn_infer.plates import field_paths
from mcnn_infer.plates.ome_zarr import HCS_KEY
from mcnn_infer.wells import plate_shape_for, row_index, row_label, split_well

WRITER = "hcs convert"
#: Changes whenever the converter's output for the same input changes (part of the fingerprint).
OUTPUT_REVISION = 1


@dataclass
class PlateJob:
    """One plate to convert.

    Attributes
    ----------
    name : str
        Plate name (``plate`` column); the store is ``<out>/<name>.zarr``.
    channels : list of str
        Channel keys in order (array channel axis and omero labels).
    fields : pandas.DataFrame
        The plate's rows of the field table (``well, site, timepoint, plane, path_<ch>...``).
    store : Path
        The store to write.
    """

    name: str
    channels: list[str]
    fields: pd.DataFrame
    store: Path


@dataclass
class PlateOutcome:
    """What converting one plate did; counts are field-table rows (one per site, time point, plane)."""

    name: str
    store: Path
    written: int = 0
    resumed: int = 0
    failed: int = 0
    problems: list[dict] = field(default_factory=list)


def fingerprint(job: PlateJob, version: str, levels: int) -> str:
    """sha256 of everything the store's content depends on."""
    keys = ["well", "site", "timepoint", "plane", *[f"path_{c}" for c in job.channels]]
    payload = {
        "revision": OUTPUT_REVISION,
        "plate": job.name,
        "ngff_version": version,
        "levels": int(levels),
        "channels": list(job.channels),
        "fields": job.fields[keys].astype(str).to_numpy().tolist(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _marker(digest: str, complete: bool) -> dict[str, Any]:
    return {"writer": WRITER, "fingerprint": digest, "complete": complete}


def open_store(store: Path, version: str, digest: str, overwrite: bool):
    """Create the store, or reopen one this converter began with the same fingerprint.

    Raises
    ------
    ConfigError
        ``store`` is a file, a folder that is not a store written by ``hcs convert``, or a store
        written from other input or options (unless ``overwrite``).
    """
    import zarr

    if store.exists() and not store.is_dir():
        raise ConfigError(
            f"{store} is a file (expected an absent folder or an OME-Zarr plate written by hcs convert)"
        )
    if store.is_dir() and any(store.iterdir()):
        marker = _existing_marker(store)
        if marker is None:
            raise ConfigError(
                f"{store} exists and is not a plate written by hcs convert (no '{HCS_KEY}' attribute in its "
                "root group); remove it or choose another output folder"
            )
        if marker.get("fingerprint") == digest:
            return zarr.open_group(str(store), mode="r+")
        if not overwrite:
            raise ConfigError(
                f"{store} was written by hcs convert from other plate files or options (NGFF version, "
                "levels, channels or fields differ); pass --overwrite to replace it, or choose another "
                "output folder"
            )
        shutil.rmtree(store)
    return zarr.open_group(str(store), mode="w", zarr_format=zarr_format(version))


def _existing_marker(store: Path) -> dict | None:
    import zarr

    try:
        marker = zarr.open_group(str(store), mode="r").attrs.get(HCS_KEY)
    except Exception:
        return None
    return dict(marker) if isinstance(marker, dict) and marker.get("writer") == WRITER else None


class PlateWriter:
    """Writes :class:`PlateJob` s into stores of one NGFF version with ``levels`` resolution levels."""

    def __init__(self, version: str, levels: int, overwrite: bool = False):
        self.version = version
        self.levels = int(levels)
        self.overwrite = overwrite

    def write(self, job: PlateJob, advance: Callable[[int], None] = lambda n: None) -> PlateOutcome:
        """Convert every field of ``job`` not already complete in its store; ``advance(rows)`` per field."""
        digest = fingerprint(job, self.version, self.levels)
        root = open_store(job.store, self.version, digest, self.overwrite)
        table = job.fields.sort_values(["well", "site", "timepoint", "plane"]).reset_index(drop=True)
        self.timepoints = sorted(int(t) for t in table["timepoint"].unique())
        self.planes = sorted(int(z) for z in table["plane"].unique())
        wells = sorted(table["well"].unique(), key=lambda w: (row_index(split_well(w)[0]), split_well(w)[1]))
        n_rows, n_cols = plate_shape_for(list(wells))
        rows, cols = [row_label(i) for i in range(1, n_rows + 1)], list(range(1, n_cols + 1))
        if not (root.attrs.get(HCS_KEY) or {}).get("complete"):
            # the full well list up front: a reader of an unfinished store sees the wells still missing
            root.attrs.put(
                plate_attrs(
                    self.version,
                    job.name,
                    rows,
                    cols,
                    [split_well(w) for w in wells],
                    0,
                    _marker(digest, False),
                )
            )
        outcome = PlateOutcome(job.name, job.store)
        done_wells: list[tuple[str, int]] = []
        field_count = 0
        for well in wells:
            images = self._write_well(root, job, well, table[table["well"] == well], outcome, advance)
            if images:
                done_wells.append(split_well(well))
                field_count = max(field_count, len(images))
        root.attrs.put(
            plate_attrs(self.version, job.name, rows, cols, done_wells, field_count, _marker(digest, True))
        )
        return outcome

    def _write_well(self, root, job: PlateJob, well: str, rows: pd.DataFrame, outcome, advance) -> list[str]:
        row, col = split_well(well)
        group = _child(root, f"{row}/{col}")
        images: list[str] = []
        expected = [str(int(site) - 1) for site in sorted(rows["site"].unique())]

        def well_group():
            # created with the well's first readable plane (a well that fails entirely leaves no group),
            # listing every site up front: a reader of an unfinished store sees which are still missing
            nonlocal group
            if group is None:
                group = root.require_group(row).require_group(str(col))
                group.attrs.put(well_attrs(self.version, expected))
            return group

        for site, site_rows in rows.groupby("site", sort=True):
            name = str(int(site) - 1)
            existing = _child(group, name) if group is not None else None
            marker = existing.attrs.get(HCS_KEY) if existing is not None else None
            if isinstance(marker, dict) and marker.get("complete"):
                absent = list(marker.get("absent_planes", []))
                outcome.resumed += len(site_rows) - self._failed(absent)
                written = True
            else:
                written, absent = self._write_field(well_group, name, job, site_rows)
                outcome.written += len(site_rows) - self._failed(absent)
            outcome.failed += self._failed(absent)
            outcome.problems.extend(self._problems(job, well, int(site), site_rows, absent))
            if written:
                images.append(name)
            advance(len(site_rows))
        if group is not None:
            group.attrs.put(well_attrs(self.version, images))
        return images

    @staticmethod
    def _failed(absent: list[dict]) -> int:
        return sum(1 for a in absent if a.get("in_source", True))

    def _problems(
        self, job: PlateJob, well: str, site: int, rows: pd.DataFrame, absent: list[dict]
    ) -> list[dict]:
        by_key = {(int(r.timepoint), int(r.plane)): r for r in rows.itertuples(index=False)}
        out = []
        for entry in absent:
            if not entry.get("in_source", True):
                continue
            key = (int(entry["timepoint"]), int(entry["plane"]))
            source = by_key.get(key)
            path = getattr(source, f"path_{job.channels[0]}", "") if source is not None else ""
            out.append(
                {
                    "plate": job.name,
                    "well": well,
                    "site": site,
                    "timepoint": key[0],
                    "plane": key[1],
                    "path": str(path),
                    "problem": entry.get("reason", ""),
                }
            )
        return out

    def _write_field(
        self, well_group: Callable[[], Any], name: str, job: PlateJob, rows: pd.DataFrame
    ) -> tuple[bool, list[dict]]:
        """Write one (well, site) image; returns whether it was written and its absent planes."""
        t_index = {t: i for i, t in enumerate(self.timepoints)}
        z_index = {z: i for i, z in enumerate(self.planes)}
        arrays = None
        first: tuple[tuple[int, ...], np.dtype] | None = None
        absent: list[dict] = []
        seen: set[tuple[int, int]] = set()
        for _, row in rows.iterrows():
            key = (int(row["timepoint"]), int(row["plane"]))
            seen.add(key)
            try:
                data = read_field(field_paths(row, job.channels))  # (H, W, C)
            except HcsError as exc:
                absent.append(_absent(key, f"cannot read the source field: {exc}"))
                continue
            if first is None:
                first = (data.shape, data.dtype)
                image = well_group().create_group(name, overwrite=True)
                arrays = self._create_arrays(
                    image, data.shape[0], data.shape[1], len(job.channels), data.dtype
                )
            elif (data.shape, data.dtype) != first:
                absent.append(
                    _absent(
                        key,
                        f"the source field is {data.shape[0]}x{data.shape[1]} {data.dtype}, but this site's "
                        f"first field is {first[0][0]}x{first[0][1]} {first[1]} (expected one size per site)",
                    )
                )
                continue
            t, z = t_index[key[0]], z_index[key[1]]
            for c in range(data.shape[2]):
                for array, plane in zip(arrays, pyramid(data[:, :, c], self.levels), strict=True):
                    array[t, c, z, :, :] = plane
        for t in self.timepoints:
            for z in self.planes:
                if (t, z) not in seen:
                    absent.append({**_absent((t, z), "not in the source plate"), "in_source": False})
        if arrays is None:
            return False, absent
        absent.sort(key=lambda a: (a["timepoint"], a["plane"]))
        marker = {"complete": True, "absent_planes": absent}
        image.attrs.put(image_attrs(self.version, name, self.levels, job.channels, first[1], marker))
        return True, absent

    def _create_arrays(self, image, height: int, width: int, n_channels: int, dtype: np.dtype) -> list:
        shape_tz = (len(self.timepoints), n_channels, len(self.planes))
        arrays = []
        for level in range(self.levels):
            y, x = level_shape(height, width, level)
            options: dict[str, Any] = (
                {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
                if zarr_format(self.version) == 2
                else {"dimension_names": AXIS_NAMES}
            )
            arrays.append(
                image.create_array(
                    str(level),
                    shape=(*shape_tz, y, x),
                    chunks=(1, 1, 1, y, x),
                    dtype=dtype,
                    fill_value=0,
                    config={"write_empty_chunks": True},
                    overwrite=True,
                    **options,
                )
            )
        return arrays


def _child(group, path: str):
    try:
        return group[path]
    except KeyError:
        return None


def _absent(key: tuple[int, int], reason: str) -> dict:
    return {"timepoint": key[0], "plane": key[1], "reason": reason}
