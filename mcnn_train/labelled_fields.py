"""Plate folders + treatment CSVs -> one table of labelled fields for training.

Labels are the MoA of each (plate, well) from :func:`mcnn_infer.metadata.read_treatments`
(DMSO is the class ``DMSO``). Fields whose well has no treatment row or no MoA are excluded
and counted by reason; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.errors import ChannelMismatchError, ConfigError, MetadataError

LABEL_FILES = ("BBBC021_v1_image.csv", "platemap.csv")


@dataclass
class LabelledFields:
    """Labelled fields of all plates.

    Attributes
    ----------
    fields : pandas.DataFrame
        One row per field: the field-table columns (``plate, well, site, timepoint,
        path_<ch>...``) plus ``compound, concentration, moa, role`` and ``label`` (int index
        into ``class_names``). Index 0..n-1.
    channels : list of str
        Channel keys in order (the same for every plate).
    class_names : list of str
        Sorted MoA names; ``label`` indexes this list.
    excluded : pandas.DataFrame
        ``plate, well, site, reason`` of fields left out (no treatment row / no MoA / max_fields).
    problems : pandas.DataFrame
        Problems reported by the plate scanner (incomplete fields, unreadable names).
    plate_fields : pandas.DataFrame
        Every field the scanner found, labelled or not (per-plate normalisation samples the
        whole plate, as the scorer does).
    """

    fields: pd.DataFrame
    channels: list[str]
    class_names: list[str]
    excluded: pd.DataFrame
    problems: pd.DataFrame
    plate_fields: pd.DataFrame

    def path_columns(self) -> list[str]:
        return [f"path_{c}" for c in self.channels]

    def field_paths(self, index: int) -> list[str]:
        row = self.fields.iloc[index]
        return [str(row[c]) for c in self.path_columns()]

    def summary(self) -> dict[str, Any]:
        """Counts for the model card's training-data summary."""
        return {
            "n_fields": len(self.fields),
            "n_plates": int(self.fields["plate"].nunique()),
            "plates": sorted(self.fields["plate"].unique().tolist()),
            "n_wells": int(self.fields[["plate", "well"]].drop_duplicates().shape[0]),
            "n_compounds": int(self.fields["compound"].nunique()),
            "fields_per_class": {
                name: int((self.fields["label"] == i).sum()) for i, name in enumerate(self.class_names)
            },
            "excluded": {str(k): int(v) for k, v in self.excluded["reason"].value_counts().items()},
            "scan_problems": len(self.problems),
        }


def find_plate_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` that directly contain TIFF files, and OME-Zarr plates, sorted."""
    from mcnn_infer.plates.ome_zarr import find_plate_stores

    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"--data {root} is not a folder: expected a BBBC021-like root with plate folders")
    stores, _, tiffs = find_plate_stores(root)  # does not descend into Zarr stores
    dirs = sorted({p.parent for p in tiffs} | set(stores))
    if not dirs:
        raise ConfigError(
            f"--data {root} holds no .tif files and no OME-Zarr plates: expected plate folders inside it"
        )
    return dirs


def find_label_files(root: Path) -> list[Path]:
    """The first of ``BBBC021_v1_image.csv`` / ``platemap.csv`` directly in ``root``."""
    for name in LABEL_FILES:
        candidate = Path(root) / name
        if candidate.is_file():
            return [candidate]
    raise ConfigError(f"--data {root} has none of {', '.join(LABEL_FILES)}: give --labels CSV")


def load_labelled_fields(
    plates: list[Path],
    labels: list[Path],
    layout: str | None = None,
    max_fields: int | None = None,
    seed: int = 0,
    pattern: str | None = None,
    planes: str | None = None,
) -> LabelledFields:
    """Scan plates, check their channels agree, join treatments and build labels.

    Parameters
    ----------
    plates : list of Path
        Plate folders.
    labels : list of Path
        Treatment CSVs (read together with :func:`mcnn_infer.metadata.read_treatments`).
    layout : str or None
        Force a plate layout; None = detect per plate.
    max_fields : int or None
        Keep a seeded random sample of at most this many labelled fields.
    seed : int
        Seed of that sample.
    pattern : str or None
        File-name pattern of the plates (``--pattern``); implies layout ``pattern``.
    planes : str or None
        How fields with several z-planes are read (``--planes``: :func:`mcnn_infer.zstack.choose_planes`).

    Raises
    ------
    ChannelMismatchError
        A plate whose channels differ from the first plate's.
    MetadataError
        When the labels match no field of the plates.
    """
    from mcnn_infer.metadata import read_treatments
    from mcnn_infer.plates import scan_plate
    from mcnn_infer.zstack import choose_planes

    if not plates:
        raise ConfigError("no plate folders given: expected at least one")
    tables, problems = [], []
    channels: list[str] | None = None
    first_plate: Path | None = None
    for plate_dir in plates:
        scan = scan_plate(plate_dir, layout=layout, pattern=pattern)
        if channels is None:
            channels, first_plate = list(scan.channels), plate_dir
        elif list(scan.channels) != channels:
            raise ChannelMismatchError(
                f"plate {plate_dir} has channels {list(scan.channels)} but the first plate {first_plate} has "
                f"{channels} (expected every training plate to have the same channels in the same order)"
            )
        fields, missing = choose_planes(scan.fields, scan.channels, planes, str(plate_dir))
        tables.append(fields)
        problems.append(pd.concat([scan.problems, pd.DataFrame(missing, columns=scan.problems.columns)]))
    assert channels is not None
    fields = pd.concat(tables, ignore_index=True)
    problem_table = pd.concat(problems, ignore_index=True)
    if fields.empty:
        raise ConfigError(f"the plate folders {[str(p) for p in plates]} hold no complete field")

    treatments = read_treatments(*labels)
    keys = ["plate", "well"]
    treatments = treatments.drop_duplicates(keys)
    joined = fields.merge(
        treatments[["plate", "well", "compound", "concentration", "moa", "role"]],
        on=keys,
        how="left",
        indicator=True,
    )
    no_row = joined["_merge"] == "left_only"
    if bool(no_row.all()):
        raise MetadataError(
            f"labels {[str(p) for p in labels]} match no field: they name plates "
            f"{sorted(treatments['plate'].astype(str).unique().tolist())[:10]} but the plate folders give "
            f"{sorted(fields['plate'].astype(str).unique().tolist())[:10]} (expected the same plate names "
            "and wells)"
        )
    no_moa = ~no_row & joined["moa"].isna()
    reasons = np.where(no_row, "well not in labels", np.where(no_moa, "no MoA label", ""))
    joined["_reason"] = reasons
    excluded = joined.loc[joined["_reason"] != "", ["plate", "well", "site"]].assign(
        reason=joined.loc[joined["_reason"] != "", "_reason"]
    )
    kept = joined.loc[joined["_reason"] == ""].drop(columns=["_merge", "_reason"]).reset_index(drop=True)
    if kept.empty:
        raise MetadataError(
            f"labels {[str(p) for p in labels]} give no MoA for any field of the plates "
            "(expected a 'moa' per treated well, or a plate map 'label')"
        )
    if max_fields is not None and len(kept) > max_fields:
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(len(kept), size=max_fields, replace=False))
        dropped = kept.drop(index=take)
        excluded = pd.concat(
            [excluded, dropped[["plate", "well", "site"]].assign(reason="over max_fields")], ignore_index=True
        )
        kept = kept.iloc[take].reset_index(drop=True)
    kept["moa"] = kept["moa"].astype(str)
    class_names = sorted(kept["moa"].unique().tolist())
    if len(class_names) < 2:
        raise MetadataError(
            f"labels {[str(p) for p in labels]} give only the class {class_names} for these plates "
            "(expected at least 2 classes to train a classifier)"
        )
    kept["label"] = kept["moa"].map({name: i for i, name in enumerate(class_names)}).astype(np.int64)
    return LabelledFields(
        fields=kept,
        channels=channels,
        class_names=class_names,
        excluded=excluded.reset_index(drop=True),
        problems=problem_table,
        plate_fields=fields,
    )
