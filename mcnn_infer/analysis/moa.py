"""Per-treatment MoA calls from well aggregates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.io import PROB_PREFIX

MIN_CONFIDENCE = 0.5


def call_moa(
    wells: pd.DataFrame, class_names: list[str], min_confidence: float = MIN_CONFIDENCE
) -> pd.DataFrame:
    """Call the MoA of each treatment (compound x concentration) from its wells.

    The call is the class with the highest mean probability over the treatment's wells;
    ``confidence`` is that mean probability; ``well_agreement`` is the fraction of wells
    whose own predicted class equals the call. Calls below ``min_confidence`` are marked
    ``uncertain``.

    Parameters
    ----------
    wells : pandas.DataFrame
        One row per well: ``compound, concentration, role, predicted_class, prob_<class>...``
        and optionally ``moa`` (true label).
    class_names : list of str
        Model classes (the ``prob_<class>`` columns).
    min_confidence : float
        Mean-probability threshold in [0, 1] below which a call is uncertain.

    Returns
    -------
    pandas.DataFrame
        One row per treatment sorted by compound and concentration: ``compound, concentration,
        role, moa (if known), n_wells, predicted_moa, confidence, well_agreement, uncertain,
        prob_<class>...`` (mean probabilities).
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise AnalysisError(f"MoA calls: min_confidence {min_confidence}; expected a value in [0, 1]")
    probs = [PROB_PREFIX + c for c in class_names]
    need = ["compound", "concentration", "predicted_class", *probs]
    missing = [c for c in need if c not in wells.columns]
    if missing:
        raise AnalysisError(
            f"MoA calls: well table lacks {missing}; expected treatment columns from metadata"
        )
    keys = ["compound", "concentration"]
    data = wells.dropna(subset=["compound"])
    mean = data.groupby(keys, sort=True)[probs].mean()
    arr = mean.to_numpy(float)
    best = np.argmax(arr, axis=1)
    out = mean.reset_index()
    out.insert(2, "n_wells", data.groupby(keys, sort=True).size().to_numpy())
    out.insert(3, "predicted_moa", [class_names[i] for i in best])
    out.insert(4, "confidence", arr[np.arange(len(arr)), best])
    agree = (
        data.merge(out[[*keys, "predicted_moa"]], on=keys)
        .assign(_a=lambda d: d["predicted_class"] == d["predicted_moa"])
        .groupby(keys, sort=True)["_a"]
        .mean()
    )
    out.insert(5, "well_agreement", agree.to_numpy(float))
    out.insert(6, "uncertain", out["confidence"] < min_confidence)
    for extra in ("moa", "role"):
        if extra in data.columns:
            first = data.groupby(keys, sort=True)[extra].agg(
                lambda s: s.dropna().iloc[0] if s.notna().any() else None
            )
            out.insert(2, extra, first.to_numpy())
    return out


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
