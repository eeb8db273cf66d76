"""Per-treatment MoA calls from well aggregates."""

from __future__ import annotations

import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.results import prob_columns
from mcnn_infer.scoring.aggregate import treatments_table

MIN_CONFIDENCE = 0.5


def call_moa(
    wells: pd.DataFrame,
    class_names: list[str],
    min_confidence: float = MIN_CONFIDENCE,
    treatments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The MoA call of each treatment (compound x concentration), with its well agreement.

    The call is the scorer's (``treatments.parquet``, :func:`mcnn_infer.scoring.aggregate.treatments_table`):
    the class with the highest mean probability over the treatment's wells, ``confidence`` being
    that mean. When no treatment table is given it is computed from ``wells`` by the same
    function. Added here: ``well_agreement``, the fraction of the treatment's wells whose own
    predicted class equals the call, and ``uncertain`` (confidence below ``min_confidence``).

    Parameters
    ----------
    wells : pandas.DataFrame
        One row per well: ``compound, concentration, role, predicted_class, prob_<class>...``,
        optionally ``n_fields`` (wells without scored fields are left out) and ``moa``.
    class_names : list of str
        Model classes (the ``prob_<class>`` columns).
    min_confidence : float
        Mean-probability threshold in [0, 1] below which a call is uncertain.
    treatments : pandas.DataFrame, optional
        The scorer's treatment table of these wells.

    Returns
    -------
    pandas.DataFrame
        One row per treatment sorted by compound and concentration: ``compound, concentration,
        role, moa (if known), n_wells, predicted_moa, confidence, well_agreement, uncertain,
        prob_<class>...`` (mean probabilities).
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise AnalysisError(f"MoA calls: min_confidence {min_confidence}; expected a value in [0, 1]")
    probs = prob_columns(class_names)
    need = ["compound", "concentration", "predicted_class", *probs]
    missing = [c for c in need if c not in wells.columns]
    if missing:
        raise AnalysisError(
            f"MoA calls: well table lacks {missing}; expected treatment columns from metadata"
        )
    keys = ["compound", "concentration"]
    scored = wells if "n_fields" in wells.columns else wells.assign(n_fields=1)
    scored = scored[(scored["n_fields"] > 0) & scored["compound"].notna()]
    if treatments is None:
        labels = {c: pd.NA for c in ("moa", "role") if c not in scored.columns}
        treatments = treatments_table(scored.assign(**labels), class_names)
    out = treatments.sort_values(keys, kind="stable").reset_index(drop=True)
    agree = (
        scored.merge(out[[*keys, "predicted_moa"]], on=keys)
        .assign(_a=lambda d: d["predicted_class"] == d["predicted_moa"])
        .groupby(keys, sort=True)["_a"]
        .mean()
        .rename("well_agreement")
        .reset_index()
    )
    out = out.merge(agree, on=keys, how="left")
    out["uncertain"] = out["confidence"] < min_confidence
    known = [c for c in ("role", "moa") if c in wells.columns]
    columns = [*keys, *known, "n_wells", "predicted_moa", "confidence", "well_agreement", "uncertain", *probs]
    return out[columns]


def classifier_accuracy(
    calls: pd.DataFrame, exclude_roles: tuple[str, ...] = ("negative",)
) -> dict[str, float]:
    """Treatment-level accuracy of the classifier's MoA calls against known labels.

    Parameters
    ----------
    calls : pandas.DataFrame
        Output of :func:`call_moa` with a ``moa`` column.
    exclude_roles : tuple of str
        Roles left out of the queries (negative controls / DMSO by default).

    Returns
    -------
    dict
        ``{"n": number of labelled treatments, "accuracy": fraction correct}`` (NaN when n == 0).
    """
    if "moa" not in calls.columns:
        raise AnalysisError(
            "classifier accuracy: the treatments have no 'moa' column; expected labelled plates"
        )
    q = calls[calls["moa"].notna()]
    if "role" in q.columns:
        q = q[~q["role"].isin(exclude_roles)]
    n = len(q)
    acc = float((q["predicted_moa"] == q["moa"]).mean()) if n else float("nan")
    return {"n": n, "accuracy": acc}
