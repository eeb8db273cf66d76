"""The evaluation metrics of ``hcs evaluate`` / ``hcs analyze``: one table, one function each.

A metric takes the treatment profiles, the well profiles (embeddings and class probabilities)
and the MoA calls and returns its headline score, query counts and, as it has them, a
confusion matrix, a per-query table, further tables and its own figure.
:func:`mcnn_infer.analysis.evaluation.run_evaluation` writes every metric of :data:`METRICS` the
same way (``evaluation.json``, CSV, PNG) and the report lists them by their labels in their
section, so a new metric is one function here and one line in :data:`METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mcnn_infer.analysis import evaluate as ev
from mcnn_infer.analysis import mean_ap
from mcnn_infer.analysis.moa import classifier_accuracy
from mcnn_infer.analysis.profiles import profile_info


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
    prob_profiles : pandas.DataFrame or None
        Per-well profiles of the class probabilities (``prob_<class>`` features), normalised
        like ``well_profiles``.
    map_settings : mean_ap.MapSettings
        Null size, seed and threshold of the mAP metrics.
    """

    treatment_profiles: pd.DataFrame
    well_profiles: pd.DataFrame
    calls: pd.DataFrame | None = None
    prob_profiles: pd.DataFrame | None = None
    map_settings: mean_ap.MapSettings = field(default_factory=mean_ap.MapSettings)


@dataclass
class MetricOutcome:
    """One metric's result: ``score`` in [0, 1] (NaN without queries) over ``n_queries``.

    ``score`` is the metric's headline number, written to ``evaluation.json`` under its
    :attr:`Metric.score_name` (``accuracy`` for 1-NN and the classifier, ``fraction_retrieved``
    for mAP). ``record`` holds further facts for ``evaluation.json``; ``confusion`` is written as
    ``confusion_<key>.csv|png`` when the metric has one; ``predictions`` is the per-query table
    (written as ``<predictions_prefix><key>.csv``); ``tables`` are further tables by file name
    (``.csv`` or ``.parquet``); ``plot`` draws the metric's own figure into the path it is given
    (``<key>.png``).
    """

    score: float
    n_queries: int
    plot_title: str
    confusion: pd.DataFrame | None = None
    record: dict[str, Any] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    predictions_prefix: str = "nn_predictions_"
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plot: Callable[[Path], Any] | None = None


@dataclass(frozen=True)
class Metric:
    """A row of :data:`METRICS`: key (file names, JSON), report label, the function, the name of
    its score in ``evaluation.json`` and the report section that lists it (``evaluation`` or ``map``)."""

    key: str
    label: str
    compute: Callable[[EvaluationInputs], MetricOutcome | None]
    score_name: str = "accuracy"
    section: str = "evaluation"


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
            score=acc.accuracy,
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
        score=acc["accuracy"],
        n_queries=acc["n"],
        confusion=ev.confusion_matrix(q["moa"], q["predicted_moa"]),
        plot_title=f"classifier: accuracy {acc['accuracy']:.2f} (n={acc['n']})",
    )


#: The two feature sets mAP is computed on: ``EvaluationInputs`` attribute of their well profiles.
MAP_FEATURES = {"embeddings": "well_profiles", "probabilities": "prob_profiles"}
_MAP_TASKS = {"activity": mean_ap.phenotypic_activity, "consistency": mean_ap.phenotypic_consistency}
_MAP_GROUP = {"activity": "treatments", "consistency": "MoAs"}


def mean_average_precision(kind: str, features: str) -> Callable[[EvaluationInputs], MetricOutcome | None]:
    """copairs mAP (``kind`` ``activity`` or ``consistency``, see :mod:`mcnn_infer.analysis.mean_ap`)
    on the ``features`` (``embeddings`` or ``probabilities``) well profiles; score = fraction of
    treatments (activity) or MoAs (consistency) retrieved at corrected p < threshold."""

    def compute(inputs: EvaluationInputs) -> MetricOutcome | None:
        profiles = getattr(inputs, MAP_FEATURES[features])
        if profiles is None:
            return None
        result = _MAP_TASKS[kind](profiles, inputs.map_settings)
        s = result.summary
        norm = profile_info(profiles).get("normalization", "none")
        title = (
            f"mAP {kind}, {features} ({norm}): {s['n_retrieved']}/{s['n_groups']} "
            f"{_MAP_GROUP[kind]} retrieved"
        )
        return MetricOutcome(
            score=s["fraction_retrieved"],
            n_queries=s["n_groups"],
            plot_title=title,
            record={**s, "kind": kind, "features": features, "normalization": norm},
            predictions=result.groups,
            predictions_prefix="",
            tables={f"ap_{kind}_{features}.parquet": result.ap} if len(result.ap) else {},
            plot=lambda path: mean_ap.plot_map(result, path, title),
        )

    return compute


METRICS: tuple[Metric, ...] = (
    Metric("nsc", "1-NN NSC (not same compound)", nearest_neighbour("nsc")),
    Metric("nscb", "1-NN NSCB (not same compound or batch)", nearest_neighbour("nscb")),
    Metric("classifier", "classifier (treatment level)", classifier),
    *(
        Metric(
            f"map_{kind}_{features}",
            f"mAP phenotypic {kind} ({features}), {_MAP_GROUP[kind]} retrieved",
            mean_average_precision(kind, features),
            score_name="fraction_retrieved",
            section="map",
        )
        for kind in mean_ap.KINDS
        for features in MAP_FEATURES
    ),
)
