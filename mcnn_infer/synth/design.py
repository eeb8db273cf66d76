"""Experimental designs of synthetic screens: the real BBBC021 layout, or a simple dose-response screen.

A design says which fields to render (plate, well, site, compound, concentration, MoA,
role, output file names) and holds the ground truth of every compound.

BBBC021 design (:func:`bbbc021_design`): rows of the real ``BBBC021_v1_image.csv`` (real
plate folders, wells, sites, compounds, concentrations and file names). A compound gets
the MoA of its annotated concentrations in ``BBBC021_v1_moa.csv``; its EC50 is set below
its lowest annotated concentration so annotated doses show a clear phenotype. Compounds
with no annotation at all are skipped by default (``unannotated="skip"``; every skipped
field is listed with its reason in :attr:`SynthDesign.skipped`), or rendered as DMSO-like
fields with MoA ``unannotated`` (``unannotated="dmso-like"``).

Simple design (:func:`simple_design`): ``compounds_per_moa`` compounds per MoA, each at
``concentrations`` log-spaced doses in ``replicates`` wells spread over plates, plus
DMSO wells (role ``negative``) and a strong Microtubule stabilizer (role ``positive``) on
every plate, on a 96-well grid.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from mcnn_infer.errors import ConfigError, MetadataError
from mcnn_infer.synth.phenotypes import (
    DMSO,
    MOA_CODES,
    MOAS,
    CompoundTruth,
    dmso_like,
    hill,
    make_compound,
)
from mcnn_infer.wells import PLATE_SHAPES, normalize_well, well_from_indices

DATA_DIR = Path(__file__).with_name("data")
IMAGE_CSV = "BBBC021_v1_image.csv"
MOA_CSV = "BBBC021_v1_moa.csv"

#: Columns of ``BBBC021_v1_image.csv`` in their real order.
IMAGE_COLUMNS: tuple[str, ...] = (
    "TableNumber",
    "ImageNumber",
    "Image_FileName_DAPI",
    "Image_PathName_DAPI",
    "Image_FileName_Tubulin",
    "Image_PathName_Tubulin",
    "Image_FileName_Actin",
    "Image_PathName_Actin",
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Replicate",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)
#: Columns of :attr:`SynthDesign.fields`.
FIELD_COLUMNS: tuple[str, ...] = (
    "plate",
    "week",
    "path_name",
    "well",
    "site",
    "replicate",
    "compound",
    "concentration",
    "moa",
    "role",
    "file_w1",
    "file_w2",
    "file_w4",
    "table_number",
    "image_number",
)
POSITIVE_CONTROL = "PC-taxol"
POSITIVE_MOA = "Microtubule stabilizers"
#: Placement of the control wells in the first and last columns (:func:`simple_design`).
CONTROL_LAYOUTS = ("columns", "interleaved")
# Defaults of a simple-mode screen: :func:`simple_design`, :func:`mcnn_infer.synth.synthesize`
# and ``hcs synth`` read them from here.
COMPOUNDS_PER_MOA = 2
CONCENTRATIONS = 6
#: Lowest and highest dose (µM); the doses are log-spaced between them.
CONCENTRATION_RANGE_UM = (0.01, 30.0)
REPLICATES = 2
SITES = 1
#: DMSO (negative control) and PC-taxol (positive control) wells per plate.
CONTROLS = 8
POSITIVE_CONTROLS = 4
#: Wells per plate (a key of :data:`mcnn_infer.wells.PLATE_SHAPES`).
PLATE_FORMAT = 96
_UNANNOTATED_CHOICES = ("skip", "dmso-like")


@dataclass
class SynthDesign:
    """What to render and the truth behind it.

    Attributes
    ----------
    kind : str
        ``bbbc021`` or ``simple``.
    fields : pandas.DataFrame
        One row per field, columns :data:`FIELD_COLUMNS`; ``concentration`` in µM,
        ``role`` is ``negative`` | ``positive`` | ``treated``.
    compounds : dict[str, CompoundTruth]
        Truth of every compound in ``fields`` (DMSO included, as a DMSO-like compound).
    moa_table : pandas.DataFrame
        Rows of ``BBBC021_v1_moa.csv`` to write: ``compound, concentration, moa``.
    skipped : pandas.DataFrame
        Fields of the source design that are not rendered: ``plate, well, site, compound,
        concentration, reason``.
    platemap : pandas.DataFrame or None
        Simple designs: ``plate, well, compound, concentration, role, label``.
    """

    kind: str
    fields: pd.DataFrame
    compounds: dict[str, CompoundTruth]
    moa_table: pd.DataFrame
    skipped: pd.DataFrame
    platemap: pd.DataFrame | None = None


def _empty_skipped() -> pd.DataFrame:
    return pd.DataFrame(columns=["plate", "well", "site", "compound", "concentration", "reason"])


def _week_key(plate: str) -> tuple[int, str]:
    week = plate.split("_", 1)[0].removeprefix("Week")
    return (int(week) if week.isdigit() else 10**6, plate)


def read_bbbc021_tables(metadata_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the real ``BBBC021_v1_image.csv`` and ``BBBC021_v1_moa.csv``.

    Parameters
    ----------
    metadata_dir : path, optional
        Folder holding both CSVs (``BBBC021_v1_image.csv`` may be gzipped as ``.csv.gz``);
        defaults to the copies shipped with the package.

    Raises
    ------
    MetadataError
        If a file is missing or lacks the expected columns.
    """
    folder = Path(metadata_dir) if metadata_dir is not None else DATA_DIR
    image_path = folder / IMAGE_CSV
    if not image_path.exists():
        image_path = folder / f"{IMAGE_CSV}.gz"
    moa_path = folder / MOA_CSV
    for path in (image_path, moa_path):
        if not path.exists():
            raise MetadataError(f"{path} does not exist (expected the BBBC021 table {path.name} in {folder})")
    opener = gzip.open if image_path.suffix == ".gz" else open
    with opener(image_path, "rt", encoding="utf-8") as handle:
        image = pd.read_csv(handle, dtype={"Image_Metadata_Compound": str})
    moa = pd.read_csv(moa_path)
    missing = [c for c in IMAGE_COLUMNS if c not in image.columns]
    if missing:
        raise MetadataError(
            f"{image_path} lacks columns {missing} (expected the BBBC021_v1_image.csv schema)"
        )
    if not {"compound", "concentration", "moa"} <= set(moa.columns):
        raise MetadataError(
            f"{moa_path} has columns {list(moa.columns)} (expected compound, concentration, moa)"
        )
    return image, moa


def bbbc021_design(
    *,
    plates: int | Sequence[str] | None = None,
    wells: Sequence[str] | None = None,
    sites: int | None = None,
    seed: int = 0,
    unannotated: str = "skip",
    metadata_dir: str | Path | None = None,
) -> SynthDesign:
    """The real BBBC021 design, or a subset of it.

    Parameters
    ----------
    plates : int or sequence of str, optional
        The first ``n`` plates in week order (``Week1_22123`` first), or plate folder names;
        all 55 plates by default.
    wells : sequence of str, optional
        Keep only these wells (``B02``); all 60 by default.
    sites : int, optional
        Keep sites ``1..sites`` (1-4); all 4 by default.
    seed : int
        Seed of the compounds' variants and potencies.
    unannotated : {"skip", "dmso-like"}
        What to do with compounds that have no MoA annotation at any concentration.
    metadata_dir : path, optional
        Folder with the real CSVs (see :func:`read_bbbc021_tables`).

    Raises
    ------
    ConfigError
        For an unknown plate or well, a bad site count, or an unknown ``unannotated`` value.
    """
    if unannotated not in _UNANNOTATED_CHOICES:
        raise ConfigError(
            f"unannotated={unannotated!r} is not valid (expected one of {_UNANNOTATED_CHOICES})"
        )
    image, moa = read_bbbc021_tables(metadata_dir)
    all_plates = sorted(image["Image_Metadata_Plate_DAPI"].unique(), key=_week_key)
    if plates is None:
        chosen = all_plates
    elif isinstance(plates, int):
        if not 1 <= plates <= len(all_plates):
            raise ConfigError(f"plates={plates} is out of range (BBBC021 has 1 to {len(all_plates)} plates)")
        chosen = all_plates[:plates]
    else:
        chosen = list(plates)
        unknown = sorted(set(chosen) - set(all_plates))
        if unknown:
            raise ConfigError(
                f"plate(s) {unknown} are not in BBBC021_v1_image.csv (expected names like {all_plates[0]!r})"
            )
    rows = image[image["Image_Metadata_Plate_DAPI"].isin(chosen)].copy()
    rows["site"] = rows["Image_FileName_DAPI"].str.extract(r"_s(\d+)_w1", expand=False).astype(int)
    if wells is not None:
        wanted = [normalize_well(w, "--wells") for w in wells]
        unknown = sorted(set(wanted) - set(rows["Image_Metadata_Well_DAPI"]))
        if unknown:
            raise ConfigError(f"well(s) {unknown} are not used on plates {chosen} (BBBC021 uses B02..G11)")
        rows = rows[rows["Image_Metadata_Well_DAPI"].isin(wanted)]
    if sites is not None:
        if not 1 <= sites <= 4:
            raise ConfigError(f"sites={sites} is out of range (BBBC021 has 1 to 4 sites per well)")
        rows = rows[rows["site"] <= sites]

    annotated = moa[moa["compound"] != DMSO]
    compound_moa = annotated.groupby("compound")["moa"].first().to_dict()
    lowest_dose = annotated.groupby("compound")["concentration"].min().to_dict()
    rng = np.random.default_rng([seed, 21])
    compounds: dict[str, CompoundTruth] = {DMSO: dmso_like(DMSO)}
    for name in sorted(rows["Image_Metadata_Compound"].unique()):
        if name == DMSO:
            continue
        if name in compound_moa:
            ec50 = lowest_dose[name] / float(rng.uniform(2.0, 6.0))
            compounds[name] = make_compound(name, compound_moa[name], rng, ec50_um=ec50)
        elif unannotated == "dmso-like":
            compounds[name] = dmso_like(name, "unannotated")

    keep = rows["Image_Metadata_Compound"].isin(list(compounds))
    dropped = rows[~keep]
    skipped = pd.DataFrame(
        {
            "plate": dropped["Image_Metadata_Plate_DAPI"],
            "well": dropped["Image_Metadata_Well_DAPI"],
            "site": dropped["site"],
            "compound": dropped["Image_Metadata_Compound"],
            "concentration": dropped["Image_Metadata_Concentration"],
            "reason": "compound has no MoA annotation in BBBC021_v1_moa.csv (unannotated='skip')",
        }
    ).reset_index(drop=True)
    rows = rows[keep]
    fields = pd.DataFrame(
        {
            "plate": rows["Image_Metadata_Plate_DAPI"].astype(str),
            "week": rows["Image_PathName_DAPI"].str.split("/").str[0].astype(str),
            "path_name": rows["Image_PathName_DAPI"].astype(str),
            "well": rows["Image_Metadata_Well_DAPI"].astype(str),
            "site": rows["site"].astype(int),
            "replicate": rows["Replicate"].astype(int),
            "compound": rows["Image_Metadata_Compound"].astype(str),
            "concentration": rows["Image_Metadata_Concentration"].astype(float),
            "moa": rows["Image_Metadata_Compound"].map(lambda c: compounds[c].moa).astype(str),
            "role": np.where(rows["Image_Metadata_Compound"] == DMSO, "negative", "treated"),
            "file_w1": rows["Image_FileName_DAPI"].astype(str),
            "file_w2": rows["Image_FileName_Tubulin"].astype(str),
            "file_w4": rows["Image_FileName_Actin"].astype(str),
            "table_number": rows["TableNumber"].astype(int),
            "image_number": rows["ImageNumber"].astype(int),
        }
    )
    fields = _sorted(fields)
    pairs = fields[["compound", "concentration"]].drop_duplicates()
    moa_table = moa.merge(pairs, on=["compound", "concentration"], how="inner")
    if (fields["compound"] == DMSO).any() and not (moa_table["compound"] == DMSO).any():
        moa_table = pd.concat([moa_table, moa[moa["compound"] == DMSO]], ignore_index=True)
    return SynthDesign("bbbc021", fields, compounds, moa_table.reset_index(drop=True), skipped)


def simple_design(
    *,
    plates: int | None = None,
    compounds_per_moa: int = COMPOUNDS_PER_MOA,
    concentrations: int = CONCENTRATIONS,
    replicates: int = REPLICATES,
    sites: int = SITES,
    controls: int = CONTROLS,
    positive_controls: int = POSITIVE_CONTROLS,
    moas: Sequence[str] | None = None,
    concentration_range_um: tuple[float, float] = CONCENTRATION_RANGE_UM,
    plate_format: int = PLATE_FORMAT,
    annotate_min_strength: float = 0.5,
    seed: int = 0,
    control_layout: str = CONTROL_LAYOUTS[0],
) -> SynthDesign:
    """A dose-response screen laid out on 96-well (or 384-well) plates.

    As in BBBC021, a treatment's MoA is annotated (``BBBC021_v1_moa.csv`` and the plate map's
    ``label``) only at concentrations where the phenotype shows: where the compound's Hill
    curve reaches ``annotate_min_strength`` (0 annotates every dose). Lower doses keep their
    compound and concentration with an empty label; ``truth_fields.csv`` has the MoA of every
    field regardless.

    Compounds ``<CODE>-<k>`` (e.g. ``EG5-01``) get EC50s log-uniform in 0.1-3 µM; every
    compound is tested at ``concentrations`` log-spaced doses spanning
    ``concentration_range_um``. Replicate ``r`` of treatment ``t`` goes to plate
    ``(t + r) mod plates``, so replicates land on different plates when ``replicates <= plates``.
    Each plate has ``controls`` DMSO wells and ``positive_controls`` wells of ``PC-taxol`` (a
    potent Microtubule stabilizer at the top dose) in the first and last columns: with
    ``control_layout="columns"`` DMSO fills column 1 (then the last column) and PC-taxol the
    last column from the bottom; with ``"interleaved"`` the two alternate down both edge columns
    (A01 DMSO, B01 PC, ..., and the opposite in the last column), as screens place controls so that
    a row or edge effect hits both alike. Treated wells are placed in a seeded random order.

    Parameters
    ----------
    plates : int, optional
        Number of plates; by default the fewest that hold every well.

    Raises
    ------
    ConfigError
        For counts out of range, unknown MoAs, or too few plates for the wells needed.
    """
    for name, value, low in (
        ("compounds_per_moa", compounds_per_moa, 1),
        ("concentrations", concentrations, 1),
        ("replicates", replicates, 1),
        ("sites", sites, 1),
        ("controls", controls, 0),
        ("positive_controls", positive_controls, 0),
    ):
        if int(value) != value or value < low:
            raise ConfigError(f"{name}={value!r} is not valid (expected an integer >= {low})")
    if plate_format not in PLATE_SHAPES:
        raise ConfigError(
            f"plate_format={plate_format} is not valid (expected one of {sorted(PLATE_SHAPES)})"
        )
    low_c, high_c = concentration_range_um
    if not 0 < low_c <= high_c:
        raise ConfigError(
            f"concentration range {concentration_range_um} is not valid (expected 0 < low <= high µM)"
        )
    chosen_moas = list(MOAS) if moas is None else list(moas)
    unknown = [m for m in chosen_moas if m not in MOAS]
    if unknown or not chosen_moas:
        raise ConfigError(f"MoA(s) {unknown or chosen_moas} not valid (expected some of: {', '.join(MOAS)})")
    n_rows, n_cols = PLATE_SHAPES[plate_format]
    control_slots = [well_from_indices(r, 1) for r in range(1, n_rows + 1)] + [
        well_from_indices(r, n_cols) for r in range(1, n_rows + 1)
    ]
    if control_layout not in CONTROL_LAYOUTS:
        raise ConfigError(
            f"control_layout={control_layout!r} is not valid (expected one of {', '.join(CONTROL_LAYOUTS)})"
        )
    if controls + positive_controls > len(control_slots):
        raise ConfigError(
            f"controls={controls} + positive_controls={positive_controls} exceed the {len(control_slots)} "
            "control wells (first and last column)"
        )

    rng = np.random.default_rng([seed, 7])
    compounds: dict[str, CompoundTruth] = {DMSO: dmso_like(DMSO)}
    for moa in chosen_moas:
        for k in range(1, compounds_per_moa + 1):
            name = f"{MOA_CODES[moa]}-{k:02d}"
            compounds[name] = make_compound(name, moa, rng)
    doses = [float(f"{c:.4g}") for c in np.geomspace(low_c, high_c, concentrations)]
    treatments = [(name, dose) for name in compounds if name != DMSO for dose in doses]

    per_plate_capacity = n_rows * n_cols - controls - positive_controls  # treated wells per plate
    total = len(treatments) * replicates
    needed = max(-(-total // max(per_plate_capacity, 1)), replicates if total else 1)
    n_plates = needed if plates is None else int(plates)
    if n_plates < 1 or n_plates * per_plate_capacity < total:
        raise ConfigError(
            f"plates={plates} cannot hold {total} treated wells ({len(treatments)} treatments x {replicates} "
            f"replicates, {per_plate_capacity} per plate); use --plates {needed} or more"
        )
    assignment: dict[int, list[tuple[str, float, int]]] = {p: [] for p in range(n_plates)}
    for r in range(replicates):
        for t, (name, dose) in enumerate(treatments):
            plate = (t + r) % n_plates
            # Spill to the next plate with space (only when a plate is full).
            while len(assignment[plate]) >= per_plate_capacity:
                plate = (plate + 1) % n_plates
            assignment[plate].append((name, dose, r + 1))

    if positive_controls:
        compounds[POSITIVE_CONTROL] = make_compound(
            POSITIVE_CONTROL, POSITIVE_MOA, rng, ec50_um=high_c / 300.0
        )
    start = date(2007, 6, 15)
    records = []
    guid_rng = np.random.default_rng([seed, 99])
    slots = [well_from_indices(r, c) for r in range(1, n_rows + 1) for c in range(2, n_cols)]
    for p in range(n_plates):
        week_no = p // 2 + 1
        week = f"Week{week_no}"
        plate = f"{week}_{50001 + p}"
        prefix = f"{week}_{(start + timedelta(days=7 * (week_no - 1))).strftime('%d%m%y')}"
        wells: list[tuple[str, str, float, str, int | None]] = []
        negative_slots, positive_slots = _control_wells(
            control_slots, n_rows, controls, positive_controls, control_layout
        )
        wells += [(w, DMSO, 0.0, "negative", None) for w in negative_slots]
        wells += [(w, POSITIVE_CONTROL, high_c, "positive", None) for w in positive_slots]
        pool = slots + [w for w in control_slots if w not in negative_slots and w not in positive_slots]
        placed = [pool[i] for i in rng.permutation(len(pool))]
        for (name, dose, rep), well in zip(assignment[p], placed, strict=False):
            wells.append((well, name, dose, "treated", rep))
        for well, name, dose, role, rep in wells:
            for site in range(1, sites + 1):
                files = [f"{prefix}_{well}_s{site}_{ch}{_guid(guid_rng)}.tif" for ch in ("w1", "w2", "w4")]
                records.append(
                    {
                        "plate": plate,
                        "week": week,
                        "path_name": f"{week}/{plate}",
                        "well": well,
                        "site": site,
                        "replicate": rep if rep is not None else 1,
                        "compound": name,
                        "concentration": dose,
                        "moa": compounds[name].moa,
                        "role": role,
                        "file_w1": files[0],
                        "file_w2": files[1],
                        "file_w4": files[2],
                        "table_number": week_no,
                        "image_number": 0,
                    }
                )
    fields = _sorted(pd.DataFrame.from_records(records, columns=list(FIELD_COLUMNS)))
    fields["image_number"] = np.arange(1, len(fields) + 1)
    visible = np.array(
        [
            name == DMSO
            or float(hill(dose, compounds[name].ec50_um, compounds[name].hill_slope)) >= annotate_min_strength
            for name, dose in zip(fields["compound"], fields["concentration"], strict=True)
        ]
    )
    moa_table = (
        fields.loc[visible, ["compound", "concentration", "moa"]]
        .drop_duplicates()
        .sort_values(["compound", "concentration"])
    ).reset_index(drop=True)
    labelled = fields.assign(moa=fields["moa"].where(visible, ""))
    platemap = labelled.drop_duplicates(["plate", "well"])[
        ["plate", "well", "compound", "concentration", "role", "moa"]
    ]
    platemap = platemap.rename(columns={"moa": "label"}).reset_index(drop=True)
    return SynthDesign("simple", fields, compounds, moa_table, _empty_skipped(), platemap)


def _control_wells(
    slots: list[str], n_rows: int, negatives: int, positives: int, layout: str
) -> tuple[list[str], list[str]]:
    """Negative and positive control wells among ``slots`` (column 1 top-down, then the last column)."""
    if layout == "columns":
        return slots[:negatives], slots[::-1][:positives]
    # interleaved: even slots of column 1 and odd slots of the last column start as negative
    first = [s for i, s in enumerate(slots) if (i % 2 == 0) == (i < n_rows)]
    second = [s for s in slots if s not in first]
    negative = first[:negatives] + second[: max(0, negatives - len(first))]
    rest = [s for s in slots if s not in negative]
    positive = [s for s in second if s in rest][:positives]
    positive += [s for s in rest if s not in positive][: positives - len(positive)]
    return negative, positive


def _guid(rng: np.random.Generator) -> str:
    """A version-4 UUID drawn from ``rng``, uppercase with dashes (36 characters)."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4)).upper()


def _sorted(fields: pd.DataFrame) -> pd.DataFrame:
    key = fields["plate"].map(_week_key)
    order = sorted(
        range(len(fields)), key=lambda i: (key.iloc[i], fields["well"].iloc[i], fields["site"].iloc[i])
    )
    return fields.iloc[order].reset_index(drop=True)
