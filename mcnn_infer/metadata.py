"""Treatments per well: compound, concentration, replicate, MoA and control role.

Two sources are understood:

* BBBC021-style CSVs: ``BBBC021_v1_image.csv`` (columns ``Image_Metadata_Plate_DAPI``,
  ``Image_Metadata_Well_DAPI``, ``Image_Metadata_Compound``, ``Image_Metadata_Concentration``,
  ``Replicate``; one row per image set) and ``BBBC021_v1_moa.csv`` (``compound``,
  ``concentration``, ``moa``; found beside the image CSV unless given). DMSO wells get the
  role ``negative``; compounds named in ``positive_compounds`` get ``positive``.
* A plate map CSV with columns ``plate, well, compound, concentration, role, label``
  (``label`` is the MoA or class; ``role`` is ``negative``, ``positive`` or ``treated``).

Concentrations are in µM.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mcnn_infer.errors import MetadataError, PlateError
from mcnn_infer.wells import normalize_well, outside_format_problem

COLUMNS = ["plate", "well", "compound", "concentration", "replicate", "moa", "role"]
ROLES = ("negative", "positive", "treated")
#: Stains of the BBBC021 / MetaXpress wavelength keys (Caie et al. 2010).
BBBC021_CHANNEL_NAMES: dict[str, str] = {"w1": "DAPI", "w2": "Tubulin", "w4": "Actin"}
NEGATIVE_COMPOUNDS = ("DMSO",)
PLATE_MAP_COLUMNS = ("plate", "well", "compound", "concentration", "role")
BBBC021_COLUMNS = (
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)
MOA_FILE = "BBBC021_v1_moa.csv"


def read_treatments(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    moa_csv: str | os.PathLike[str] | None = None,
    positive_compounds: Iterable[str] = (),
) -> pd.DataFrame:
    """Read treatment metadata into one row per (plate, well).

    Parameters
    ----------
    paths : path or iterable of paths
        BBBC021 image CSVs and/or plate-map CSVs; their rows are concatenated.
    moa_csv : path, optional
        BBBC021 MoA CSV (default: ``BBBC021_v1_moa.csv`` beside a BBBC021 image CSV).
    positive_compounds : iterable of str
        Compounds whose wells are positive controls (BBBC021 has no role column).

    Returns
    -------
    pandas.DataFrame
        Columns ``plate, well, compound, concentration (float, µM), replicate (Int64),
        moa (str or NA), role``, sorted by plate and well.

    Raises
    ------
    MetadataError
        Unreadable file, missing columns, non-numeric or negative concentrations, unknown
        roles, or a well given two different treatments.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames = [_read_one(Path(p), moa_csv, set(positive_compounds)) for p in paths]
    if not frames:
        raise MetadataError("no metadata file given (expected a BBBC021 image CSV or a plate map CSV)")
    table = pd.concat(frames, ignore_index=True)
    return _one_row_per_well(table, ", ".join(str(p) for p in paths))


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise MetadataError(f"metadata file {path} does not exist") from exc
    except Exception as exc:
        raise MetadataError(f"metadata file {path} is not a readable CSV ({exc})") from exc


def _read_one(path: Path, moa_csv, positive: set[str]) -> pd.DataFrame:
    raw = _read_csv(path)
    columns = set(raw.columns)
    if set(BBBC021_COLUMNS) <= columns:
        return _from_bbbc021(path, raw, moa_csv, positive)
    if set(PLATE_MAP_COLUMNS) <= columns:
        return _from_plate_map(path, raw, positive)
    raise MetadataError(
        f"metadata file {path} has columns {sorted(columns)[:10]}; expected a plate map "
        f"({', '.join(PLATE_MAP_COLUMNS)}, label) or a BBBC021 image CSV ({', '.join(BBBC021_COLUMNS)})"
    )


def _concentrations(path: Path, values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = values[numbers.isna() | (numbers < 0) | ~np.isfinite(numbers.fillna(0))]
    if len(bad):
        raise MetadataError(
            f"metadata file {path}: concentration {bad.iloc[0]!r} (line {bad.index[0] + 2}) is not a "
            "non-negative number in µM"
        )
    return numbers.astype(float)


def _wells(path: Path, values: pd.Series) -> pd.Series:
    out = []
    for line, value in zip(values.index + 2, values, strict=True):
        try:
            well = normalize_well(value, source=f"{path} line {line}")
        except PlateError as exc:
            raise MetadataError(str(exc)) from exc
        problem = outside_format_problem(well)
        if problem:
            raise MetadataError(f"metadata {path} line {line}: {problem}")
        out.append(well)
    return pd.Series(out, index=values.index, dtype=object)


def _treatment_columns(path: Path, raw: pd.DataFrame, names: tuple[str, str, str, str, str]) -> pd.DataFrame:
    """``plate, well, compound, concentration, replicate`` from the CSV columns ``names`` (in that order),
    checked and normalised; a missing replicate column gives NA."""
    plate, well, compound, concentration, replicate = names
    return pd.DataFrame(
        {
            "plate": raw[plate].str.strip(),
            "well": _wells(path, raw[well]),
            "compound": raw[compound].str.strip(),
            "concentration": _concentrations(path, raw[concentration]),
            "replicate": pd.to_numeric(raw.get(replicate, pd.Series(pd.NA, index=raw.index)), errors="coerce"),
        }
    )


def _from_bbbc021(path: Path, raw: pd.DataFrame, moa_csv, positive: set[str]) -> pd.DataFrame:
    table = _treatment_columns(
        path,
        raw,
        (
            "Image_Metadata_Plate_DAPI",
            "Image_Metadata_Well_DAPI",
            "Image_Metadata_Compound",
            "Image_Metadata_Concentration",
            "Replicate",
        ),
    )
    moa_path = Path(moa_csv) if moa_csv is not None else path.parent / MOA_FILE
    if moa_path.exists():
        moa = _read_csv(moa_path)
        missing = {"compound", "concentration", "moa"} - set(moa.columns)
        if missing:
            raise MetadataError(
                f"MoA file {moa_path} lacks columns {sorted(missing)} (expected compound, concentration, moa)"
            )
        moa = pd.DataFrame(
            {
                "compound": moa["compound"].str.strip(),
                "concentration": _concentrations(moa_path, moa["concentration"]),
                "moa": moa["moa"].str.strip(),
            }
        )
        # Match concentrations to 6 significant digits (the CSVs print them differently).
        table["_c"] = table["concentration"].map(_conc_key)
        moa["_c"] = moa["concentration"].map(_conc_key)
        table = table.merge(moa.drop(columns="concentration"), on=["compound", "_c"], how="left").drop(
            columns="_c"
        )
    elif moa_csv is not None:
        raise MetadataError(f"MoA file {moa_path} does not exist")
    else:
        table["moa"] = pd.NA
    table.loc[table["compound"].isin(NEGATIVE_COMPOUNDS), "moa"] = "DMSO"
    table["role"] = np.where(
        table["compound"].isin(NEGATIVE_COMPOUNDS),
        "negative",
        np.where(table["compound"].isin(positive), "positive", "treated"),
    )
    return table


def _from_plate_map(path: Path, raw: pd.DataFrame, positive: set[str]) -> pd.DataFrame:
    roles = raw["role"].str.strip().str.lower()
    bad = roles[~roles.isin(ROLES)]
    if len(bad):
        raise MetadataError(
            f"plate map {path}: role {bad.iloc[0]!r} (line {bad.index[0] + 2}) is not one of {', '.join(ROLES)}"
        )
    label = raw["label"].str.strip() if "label" in raw.columns else pd.Series("", index=raw.index)
    table = _treatment_columns(path, raw, ("plate", "well", "compound", "concentration", "replicate"))
    table["moa"] = label.replace("", pd.NA)
    table["role"] = roles
    table.loc[table["compound"].isin(positive), "role"] = "positive"
    return table


def _conc_key(value: float) -> str:
    return f"{value:.6g}"


def _one_row_per_well(table: pd.DataFrame, source: str) -> pd.DataFrame:
    empty_plate = table[table["plate"] == ""]
    if len(empty_plate):
        raise MetadataError(f"metadata {source}: a row has no plate name (expected e.g. 'Week1_22123')")
    keyed = table.drop_duplicates(subset=["plate", "well", "compound", "concentration"])
    clash = keyed[keyed.duplicated(subset=["plate", "well"], keep=False)]
    if len(clash):
        first = clash.iloc[0]
        others = clash[(clash["plate"] == first["plate"]) & (clash["well"] == first["well"])]
        treatments = "; ".join(f"{r.compound} at {r.concentration} µM" for r in others.itertuples())
        raise MetadataError(
            f"metadata {source}: well {first['well']} of plate {first['plate']} has two treatments ({treatments}); "
            "expected one treatment per well"
        )
    out = keyed.reset_index(drop=True)
    out["replicate"] = pd.array(out["replicate"], dtype="Int64")
    out["moa"] = out["moa"].astype(object).where(out["moa"].notna(), None)
    return out[COLUMNS].sort_values(["plate", "well"]).reset_index(drop=True)
