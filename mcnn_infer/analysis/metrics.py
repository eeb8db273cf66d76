"""The evaluation metrics of ``hcs evaluate`` / ``hcs analyze``: one table, one function each.

A metric takes the treatment profiles, the well profiles and the MoA calls and returns its
accuracy, query counts, a confusion matrix and (optionally) a per-query table.
:func:`mcnn_infer.analysis.pipeline.run_evaluation` writes every metric of :data:`METRICS` the
same way (``evaluation.json``, CSV, confusion PNG) and the report lists them by their labels,
so a new metric is one function here and one line in :data:`METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mcnn_infer.analysis import evaluate as ev
from mcnn_infer.analysis.moa import classifier_accuracy


@dataclass
class EvaluationInputs:
    """What the metrics are computed from.

    Attributes
    ----------
    treatment_profiles : pandas.DataFrame
        Median profile per treatment, pooled over batches (:func:`evaluate.treatment_profiles`).
    well_profiles : pandas.DataFrame
        Per-well profiles with ``Metadata_`` columns.
    calls : pandas.DataFrame or None
        The classifier's MoA calls per treatment (:func:`mcnn_infer.analysis.moa.call_moa`).
    """

    treatment_profiles: pd.DataFrame
    well_profiles: pd.DataFrame
    calls: pd.DataFrame | None = None


@dataclass
class MetricOutcome:
    """One metric's result: ``accuracy`` in [0, 1] (NaN without queries) over ``n_queries``.

    ``record`` holds further facts for ``evaluation.json``; ``predictions`` is the per-query table
    (written as ``<predictions_prefix><key>.csv``) when the metric has one.
    """

    accuracy: float
    n_queries: int
    confusion: pd.DataFrame
    plot_title: str
    record: dict[str, Any] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    predictions_prefix: str = "nn_predictions_"


@dataclass(frozen=True)
class Metric:
    """A row of :data:`METRICS`: key (file names, JSON), report label, and the function."""

    key: str
    label: str
    compute: Callable[[EvaluationInputs], MetricOutcome | None]


def _profiles_for(mode: str, inputs: EvaluationInputs) -> pd.DataFrame:
    """Treatment profiles for a 1-NN mode: pooled over batches, except NSCB when replicates span batches."""
    pooled = inputs.treatment_profiles
    if mode == "nscb" and pooled["Metadata_Batches"].str.contains(";").any():
        return ev.treatment_profiles(inputs.well_profiles, by_batch=True)
    return pooled


def nearest_neighbour(mode: str) -> Callable[[EvaluationInputs], MetricOutcome]:
    """Treatment-level cosine 1-NN MoA accuracy (Ljosa et al. 2013) in ``mode`` (``nsc`` or ``nscb``)."""

    def compute(inputs: EvaluationInputs) -> MetricOutcome:
        pred = ev.nearest_neighbour_moa(_profiles_for(mode, inputs), mode)
        acc = ev.accuracy_of(pred, mode)
        return MetricOutcome(
            accuracy=acc.accuracy,
            n_queries=acc.n_queries,
            confusion=ev.confusion_matrix(pred["moa"], pred["predicted_moa"]),
            plot_title=f"1-NN {mode.upper()}: accuracy {acc.accuracy:.2f} (n={acc.n_queries})",
            record={"n_no_reference": acc.n_no_reference},
            predictions=pred,
        )

    return compute


def classifier(inputs: EvaluationInputs) -> MetricOutcome | None:
    """The classifier's own treatment-level accuracy (its MoA calls against the labels; DMSO left out)."""
    calls = inputs.calls
    if calls is None or "moa" not in calls.columns:
        return None
    q = calls[
        calls["moa"].notna() & ~calls.get("role", pd.Series("treated", index=calls.index)).eq("negative")
    ]
    acc = classifier_accuracy(calls)
    return MetricOutcome(
        accuracy=acc["accuracy"],
        n_queries=acc["n"],
        confusion=ev.confusion_matrix(q["moa"], q["predicted_moa"]),
        plot_title=f"classifier: accuracy {acc['accuracy']:.2f} (n={acc['n']})",
    )


METRICS: tuple[Metric, ...] = (
    Metric("nsc", "1-NN NSC (not same compound)", nearest_neighbour("nsc")),
    Metric("nscb", "1-NN NSCB (not same compound or batch)", nearest_neighbour("nscb")),
    Metric("classifier", "classifier (treatment level)", classifier),
)
