"""Build the final field, well, treatment and embedding tables and write them atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.atomic import write_json, write_table, write_table_pair
from mcnn_infer.errors import ConfigError
from mcnn_infer.image_qc import blurry_flags
from mcnn_infer.results import (
    EMB_PREFIX,
    EMBEDDINGS_FILE,
    FIELDS,
    KEYS,
    OK,
    QC_FLAGS,
    QC_MEASURES,
    RUN_FILE,
    SKIPPED,
    THUMBNAILS_FILE,
    TREATMENTS,
    WELLS,
    canonical_order,
    field_columns,
    logodds_columns,
    path_columns,
    prob_columns,
    stored_emb_columns,
)
from mcnn_infer.scoring.aggregate import TREATMENT_COLUMNS, treatments_table, wells_table


def problem_rows(problems: pd.DataFrame, channels: Sequence[str]) -> pd.DataFrame:
    """Scan problems (incomplete fields, duplicates, unparseable names) as ``skipped`` field rows.

    Time point and plane are 0 (unknown) as is the site of a file whose name did not parse;
    the reason names the problem and the file.
    """
    rows = pd.DataFrame(
        {
            "plate": problems["plate"].astype(str),
            "well": problems["well"].fillna("").astype(str),
            "site": problems["site"].fillna(0).astype(np.int64),
            "timepoint": 0,
            "plane": 0,
            "status": SKIPPED,
            "reason": [
                f"{p} ({path})" for p, path in zip(problems["problem"], problems["path"], strict=True)
            ],
        }
    )
    for column in path_columns(channels):
        rows[column] = None
    return rows


def _blurry(fields: pd.DataFrame) -> pd.Series:
    focus = fields["qc_focus"].where(fields["status"] == OK)
    return blurry_flags(focus, fields["plate"]).astype(bool)


def finish_fields(fields: pd.DataFrame, channels: Sequence[str], class_names: Sequence[str]) -> pd.DataFrame:
    """Fill types, predicted class, confidence and ``qc_blurry``; canonical order and columns.

    ``qc_blurry`` compares each field's focus with its plate's median, so it is recomputed
    whenever fields are combined (e.g. by ``hcs merge``).
    """
    probs = prob_columns(class_names)
    logodds = logodds_columns(class_names)
    fields = fields.copy()
    for column in probs + logodds + QC_MEASURES:
        if column not in fields:
            fields[column] = np.nan
    for column in QC_FLAGS:
        if column not in fields:
            fields[column] = False
    for column in ("site", "timepoint", "plane"):
        fields[column] = fields[column].astype(np.int64)
    fields["reason"] = fields["reason"].fillna("").astype(str)
    fields["status"] = fields["status"].astype(str)
    for column in probs + logodds:
        fields[column] = fields[column].astype(np.float32)
    for column in QC_MEASURES:
        fields[column] = fields[column].astype(np.float64)
    for column in ("qc_empty", "qc_saturated"):
        fields[column] = fields[column].astype("boolean").fillna(False).astype(bool)
    fields["qc_blurry"] = _blurry(fields)
    values = fields[probs].to_numpy(dtype=np.float64)
    ok = (fields["status"] == OK).to_numpy() & ~np.isnan(values).any(axis=1)
    best = np.nan_to_num(values, nan=-1.0).argmax(axis=1) if len(values) else np.zeros(0, int)
    names = np.asarray(list(class_names), dtype=object)
    fields["predicted_class"] = pd.Series(
        np.where(ok, names[best] if len(best) else [], None), index=fields.index, dtype=object
    )
    fields["confidence"] = np.where(
        ok, np.nan_to_num(values).max(axis=1) if len(values) else 0, np.nan
    ).astype(np.float32)
    paths = path_columns(channels)
    ordered = canonical_order(fields, first_path=paths[0] if paths else None)
    extra = [c for c in ordered.columns if c.startswith(EMB_PREFIX) or c == "_index"]
    return ordered[field_columns(channels, class_names) + extra]


def combine(base: pd.DataFrame, stored: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """Join the scanned fields (``KEYS, path_<ch>..., _index``) with their stored results.

    Raises
    ------
    ConfigError
        If a field has no stored result (the run is incomplete).
    """
    merged = base.merge(stored, on="_index", how="left", validate="one_to_one")
    missing = merged["status"].isna()
    if missing.any():
        first = merged[missing].iloc[0]
        raise ConfigError(
            f"{int(missing.sum())} fields have no result yet (first: plate {first['plate']} well {first['well']} "
            f"site {first['site']}); re-run the same `hcs score` command to finish them"
        )
    return pd.concat([merged, problems], ignore_index=True) if not problems.empty else merged


def split_embeddings(fields: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(fields without ``emb_*`` / ``_index``, embeddings of ok fields or None)."""
    embs = stored_emb_columns(fields)
    table = fields.drop(columns=[c for c in ("_index",) if c in fields.columns])
    if not embs:
        return table, None
    ok = table[table["status"] == OK]
    embedding = ok[KEYS + embs].reset_index(drop=True)
    for column in embs:
        embedding[column] = embedding[column].astype(np.float32)
    return table.drop(columns=embs), embedding


def treatment_frame(wells: pd.DataFrame) -> pd.DataFrame | None:
    """The treatment columns of a wells table (None when it has none)."""
    if not set(TREATMENT_COLUMNS) <= set(wells.columns):
        return None
    return wells[["plate", "well", *TREATMENT_COLUMNS]]


def write_outputs(
    out_dir: Path,
    fields: pd.DataFrame,
    class_names: Sequence[str],
    treatments: pd.DataFrame | None,
    embeddings: pd.DataFrame | None,
    run_info: dict[str, Any],
    thumbnails: pd.DataFrame | None = None,
) -> dict[str, int]:
    """Write fields, wells, treatments (with metadata), embeddings, thumbnails and ``run.json`` atomically.

    ``run.json`` is written last: its presence means the other files are complete.

    Returns
    -------
    dict
        Row counts: ``fields, ok, skipped, wells, treatments``.
    """
    trained = run_info.get("model", {}).get("training_wells") or []
    wells = wells_table(fields, class_names, treatments, trained_wells=trained)
    write_table_pair(fields, out_dir / FIELDS)
    write_table_pair(wells, out_dir / WELLS)
    n_treatments = 0
    if treatments is not None:
        table = treatments_table(wells, class_names)
        n_treatments = len(table)
        write_table_pair(table, out_dir / TREATMENTS)
    if embeddings is not None:
        write_table(embeddings, out_dir / EMBEDDINGS_FILE)
    if thumbnails is not None:
        write_table(thumbnails, out_dir / THUMBNAILS_FILE)
    counts = {
        "fields": len(fields),
        "ok": int((fields["status"] == OK).sum()),
        "skipped": int((fields["status"] == SKIPPED).sum()),
        "wells": len(wells),
        "treatments": n_treatments,
    }
    write_json(out_dir / RUN_FILE, {**run_info, "counts": counts})
    return counts
