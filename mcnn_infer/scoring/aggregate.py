"""Per-well and per-treatment aggregation of field probabilities.

Well = mean of the class probabilities of its ``ok`` fields; treatment = mean over the wells
of one (compound, concentration). The predicted class is the arg-max of the mean
probabilities and the confidence its value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mcnn_infer.results import IN_TRAINING, OK, canonical_order, logodds_columns, prob_columns

TREATMENT_COLUMNS = ["compound", "concentration", "moa", "role"]


def _call(table: pd.DataFrame, class_names: Sequence[str], probs: list[str]) -> tuple[pd.Series, pd.Series]:
    values = table[probs].to_numpy(dtype=np.float64)
    has = ~np.isnan(values).any(axis=1) if len(values) else np.zeros(0, bool)
    best = np.where(has, np.nan_to_num(values, nan=-1.0).argmax(axis=1) if len(values) else 0, -1)
    names = np.asarray(list(class_names), dtype=object)
    predicted = pd.Series([names[b] if b >= 0 else None for b in best], index=table.index, dtype=object)
    confidence = pd.Series(
        np.where(has, np.nan_to_num(values).max(axis=1) if len(values) else 0, np.nan),
        index=table.index,
        dtype=np.float64,
    )
    return predicted, confidence


def wells_table(
    fields: pd.DataFrame,
    class_names: Sequence[str],
    treatments: pd.DataFrame | None = None,
    trained_wells: Sequence[str] = (),
) -> pd.DataFrame:
    """Aggregate the field table to one row per well.

    Parameters
    ----------
    fields : pandas.DataFrame
        The scorer's field table (``plate, well, status, prob_<class>...``).
    class_names : sequence of str
    treatments : pandas.DataFrame, optional
        ``plate, well, compound, concentration, moa, role`` (from ``read_treatments``).
    trained_wells : sequence of str
        ``plate/well`` keys the model trained or was selected on (the model card's
        ``training.wells``); they get ``in_training`` True.

    Returns
    -------
    pandas.DataFrame
        ``plate, well, n_fields, predicted_class, confidence, prob_<class>..., logodds_<class>...,
        in_training`` (+ the treatment columns), one row per well that has any field row
        (``n_fields`` counts ok fields; a well with none has NaN probabilities), in plate, row,
        column order. ``logodds_<class>`` is the mean of the fields' log-odds.
    """
    probs = prob_columns(class_names) + [c for c in logodds_columns(class_names) if c in fields.columns]
    rows = fields[fields["well"].astype(str) != ""]
    ok = rows[rows["status"] == OK]
    keys = rows[["plate", "well"]].drop_duplicates()
    means = ok.groupby(["plate", "well"], sort=False)[probs].mean().reset_index()
    counts = ok.groupby(["plate", "well"], sort=False).size().rename("n_fields").reset_index()
    wells = keys.merge(counts, on=["plate", "well"], how="left").merge(
        means, on=["plate", "well"], how="left"
    )
    wells["n_fields"] = wells["n_fields"].fillna(0).astype(np.int64)
    for column in probs:
        wells[column] = wells[column].astype(np.float32)
    wells["predicted_class"], wells["confidence"] = _call(wells, class_names, prob_columns(class_names))
    trained = set(map(str, trained_wells))
    wells[IN_TRAINING] = (wells["plate"].astype(str) + "/" + wells["well"].astype(str)).isin(trained)
    wells = wells[["plate", "well", "n_fields", "predicted_class", "confidence", *probs, IN_TRAINING]]
    if treatments is not None:
        meta = treatments[["plate", "well", *TREATMENT_COLUMNS]].drop_duplicates(["plate", "well"])
        wells = wells.merge(meta, on=["plate", "well"], how="left")
    wells = wells.assign(site=1, timepoint=1, plane=1, reason="")
    wells = canonical_order(wells).drop(columns=["site", "timepoint", "plane", "reason"])
    return wells


def treatments_table(wells: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """Aggregate wells with metadata to one row per (compound, concentration).

    Returns
    -------
    pandas.DataFrame
        ``compound, concentration (µM), moa, role, predicted_moa, confidence, n_wells,
        prob_<class>...`` over wells with at least one ok field, sorted by compound and
        concentration. ``moa`` is the annotated mechanism (NA when unknown).
    """
    probs = prob_columns(class_names)
    columns = ["compound", "concentration", "moa", "role", "predicted_moa", "confidence", "n_wells", *probs]
    if "compound" not in wells.columns:
        return pd.DataFrame(columns=columns)
    used = wells[(wells["n_fields"] > 0) & wells["compound"].notna()]
    if used.empty:
        return pd.DataFrame(columns=columns)
    groups = used.groupby(["compound", "concentration"], sort=True, dropna=False)
    table = groups[probs].mean().reset_index()
    table["n_wells"] = groups.size().to_numpy().astype(np.int64)
    table["moa"] = groups["moa"].agg(lambda s: s.dropna().iloc[0] if s.notna().any() else pd.NA).to_numpy()
    table["role"] = groups["role"].agg(lambda s: s.dropna().iloc[0] if s.notna().any() else pd.NA).to_numpy()
    for column in probs:
        table[column] = table[column].astype(np.float32)
    table["predicted_moa"], table["confidence"] = _call(table, class_names, probs)
    return table[columns].reset_index(drop=True)
