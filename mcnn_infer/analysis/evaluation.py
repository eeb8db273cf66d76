"""``hcs evaluate`` and the evaluation step of ``hcs analyze``: well profiles of the embeddings and
class probabilities, then every metric of :data:`mcnn_infer.analysis.metrics.METRICS` written
to the evaluation folder (``evaluation.json``, tables, figures). The metrics themselves live in
:mod:`mcnn_infer.analysis.metrics`, :mod:`mcnn_infer.analysis.evaluate` (1-NN) and
:mod:`mcnn_infer.analysis.mean_ap` (copairs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mcnn_infer import atomic
from mcnn_infer.analysis import evaluate as ev
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.io import ScoringResults, read_scoring_results
from mcnn_infer.analysis.mean_ap import MapSettings
from mcnn_infer.analysis.metrics import METRICS, EvaluationInputs
from mcnn_infer.analysis.moa import call_moa
from mcnn_infer.analysis.profiles import (
    profile_info,
    resolve_normalization,
    week_batch,
    well_profiles,
    write_profiles,
)
from mcnn_infer.atomic import write_json
from mcnn_infer.results import (
    ANALYSIS_DIRNAME,
    EVALUATION_DIRNAME,
    EVALUATION_FILE,
    PROB_PROFILES_FILE,
    PROFILES_FILE,
    stored_prob_columns,
)


def _prob_source(res: ScoringResults) -> tuple[pd.DataFrame, str]:
    """Per-field class probabilities (``fields.parquet``) when stored, else the well table's."""
    if res.fields is not None and stored_prob_columns(res.fields):
        return res.fields, "fields"
    return res.wells, "wells"


def write_well_profiles(
    res: ScoringResults,
    out_dir: Path,
    *,
    normalize: str = "none",
    batch_of: Callable[[str], str] = week_batch,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Build, normalise and write the per-well profiles of the embeddings and of the class probabilities.

    Parameters
    ----------
    res : ScoringResults
        A results folder with ``embeddings.parquet``.
    out_dir : Path
        Where ``profiles.parquet`` (embeddings) and ``profiles_probabilities.parquet`` go.
    normalize : str
        A :data:`mcnn_infer.analysis.profiles.NORMALIZATIONS` name or alias.
    batch_of : callable
        Plate name -> batch.

    Returns
    -------
    tuple
        ``(embedding profiles, probability profiles, summary entry)``; the entry names the files,
        the normalisation and the features kept.
    """
    wells = res.wells if res.has_treatments else None
    profiles = well_profiles(res.embeddings, wells, normalize=normalize, batch_of=batch_of)
    prob_table, prob_source = _prob_source(res)
    prob_profiles = well_profiles(
        prob_table,
        wells,
        features=stored_prob_columns(prob_table),
        normalize=normalize,
        batch_of=batch_of,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_profiles(profiles, out_dir / PROFILES_FILE, features="embeddings", source="embeddings")
    write_profiles(prob_profiles, out_dir / PROB_PROFILES_FILE, features="probabilities", source=prob_source)
    info, prob_info = profile_info(profiles), profile_info(prob_profiles)
    entry = {
        "table": PROFILES_FILE,
        "probabilities_table": PROB_PROFILES_FILE,
        "normalize": info["normalization"],
        "normalize_description": info["description"],
        "n_wells": len(profiles),
        "n_features": info["n_features"],
        "n_features_in": info["n_features_in"],
        "n_probability_features": prob_info["n_features"],
        "probabilities_from": prob_source,
    }
    return profiles, prob_profiles, entry


def _normalization_record(profiles: pd.DataFrame) -> dict[str, Any]:
    info = profile_info(profiles)
    dropped = info.get("dropped_features", {})
    return {
        "name": info.get("normalization", "none"),
        "description": info.get("description", ""),
        "reference": info.get("reference"),
        "n_features_in": info.get("n_features_in"),
        "n_features": info.get("n_features"),
        "n_features_dropped": {step: len(names) for step, names in dropped.items()},
        **({"spherize": info["spherize"]} if "spherize" in info else {}),
    }


def _held_out(profiles: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The profiles of wells the model did not train on (``Metadata_InTraining`` False), and how many were left out."""
    column = "Metadata_InTraining"
    if column not in profiles.columns:
        return profiles, 0
    trained = profiles[column].fillna(False).astype(bool)
    return profiles[~trained].reset_index(drop=True), int(trained.sum())


def run_evaluation(
    profiles: pd.DataFrame,
    out_dir: Path,
    calls: pd.DataFrame | None = None,
    *,
    prob_profiles: pd.DataFrame | None = None,
    map_settings: MapSettings | None = None,
    profile_files: dict[str, Any] | None = None,
) -> dict:
    """Every metric of :data:`mcnn_infer.analysis.metrics.METRICS`: NSC / NSCB 1-NN accuracy, the
    classifier's accuracy from ``calls`` (confusion matrices CSV + PNG) and copairs mAP of
    phenotypic activity and consistency on both feature sets (tables CSV + Parquet, PNG).

    Parameters
    ----------
    profiles : pandas.DataFrame
        Well profiles of the embeddings (:func:`mcnn_infer.analysis.profiles.well_profiles`) with MoA labels.
    out_dir : Path
        Folder for ``nn_predictions_<metric>.csv``, ``confusion_<metric>.csv|png``,
        ``map_<kind>_<features>.csv|png``, ``ap_<kind>_<features>.parquet`` and ``evaluation.json``.
    calls : pandas.DataFrame, optional
        MoA calls (:func:`mcnn_infer.analysis.moa.call_moa`) for the classifier's own accuracy.
    prob_profiles : pandas.DataFrame, optional
        Well profiles of the class probabilities; without them mAP is computed on the embeddings only.
    map_settings : MapSettings, optional
        Null size, seed and threshold of mAP; default :class:`MapSettings` ().
    profile_files : dict, optional
        The profile files the metrics were computed from (:func:`write_well_profiles`' entry),
        recorded as ``profiles``.

    Returns
    -------
    dict
        ``{"n_treatments", "normalization", "map_settings", "profiles", "files": {...},
        "<metric key>": {<score name>: ..., "n_queries": ..., ...}}`` for every metric computed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = map_settings or MapSettings()
    # quality figures only on wells the model did not train on
    profiles, n_trained = _held_out(profiles)
    if prob_profiles is not None:
        prob_profiles, _ = _held_out(prob_profiles)
    inputs = EvaluationInputs(
        ev.treatment_profiles(profiles), profiles, calls, prob_profiles=prob_profiles, map_settings=settings
    )
    result: dict[str, Any] = {
        "n_treatments": len(inputs.treatment_profiles),
        "n_wells_in_training_excluded": n_trained,
        "normalization": {
            **_normalization_record(profiles),
            **({"probabilities": _normalization_record(prob_profiles)} if prob_profiles is not None else {}),
        },
        "map_settings": {
            "null_size": settings.null_size,
            "seed": settings.seed,
            "threshold": settings.threshold,
        },
        **({"profiles": profile_files} if profile_files is not None else {}),
        "files": {},
    }
    for metric in METRICS:
        outcome = metric.compute(inputs)
        if outcome is None:
            continue
        files = {}
        if outcome.predictions is not None:
            files["predictions"] = f"{outcome.predictions_prefix}{metric.key}.csv"
            atomic.write_table(outcome.predictions, out_dir / files["predictions"])
        for name, table in outcome.tables.items():
            files[Path(name).stem] = name
            atomic.write_table(table, out_dir / name)
        if outcome.confusion is not None:
            files["confusion_csv"] = f"confusion_{metric.key}.csv"
            files["confusion_png"] = f"confusion_{metric.key}.png"
            atomic.write_table(outcome.confusion.reset_index(), out_dir / files["confusion_csv"])
            ev.plot_confusion(outcome.confusion, out_dir / files["confusion_png"], outcome.plot_title)
        if outcome.plot is not None:
            files["png"] = f"{metric.key}.png"
            outcome.plot(out_dir / files["png"])
        result[metric.key] = {
            metric.score_name: outcome.score,
            "n_queries": outcome.n_queries,
            **outcome.record,
        }
        result["files"][metric.key] = files
    write_json(out_dir / EVALUATION_FILE, result)
    return result


def evaluate_results(
    results_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    normalize: str = "none",
    map_settings: MapSettings | None = None,
    batch_of: Callable[[str], str] = week_batch,
) -> dict:
    """``hcs evaluate``: NSC / NSCB, classifier accuracy and mAP of a labelled results folder.

    Parameters
    ----------
    results_dir : str or Path
        A results folder with ``embeddings.parquet`` and wells with ``moa`` labels.
    out_dir : str or Path, optional
        Output folder; default ``results_dir/analysis/evaluation``. The well profiles
        (``profiles.parquet``, ``profiles_probabilities.parquet``) are written there too.
    normalize : str
        A :data:`mcnn_infer.analysis.profiles.NORMALIZATIONS` name or alias.
    map_settings : MapSettings, optional
        Null size, seed and threshold of mAP.
    batch_of : callable
        Plate name -> batch, for NSCB.

    Returns
    -------
    dict
        The evaluation, as written to ``evaluation.json``.
    """
    res = read_scoring_results(results_dir)
    if res.embeddings is None:
        raise AnalysisError(
            f"{res.root / 'embeddings.parquet'}: not found; score with --embeddings to evaluate"
        )
    if not (res.has_treatments and res.has_labels):
        raise AnalysisError(
            f"{res.root / 'wells.parquet'}: no MoA labels (columns compound, concentration, role, moa); "
            "expected plates scored with labelled metadata"
        )
    resolve_normalization(normalize)
    out = Path(out_dir) if out_dir is not None else res.root / ANALYSIS_DIRNAME / EVALUATION_DIRNAME
    profiles, prob_profiles, entry = write_well_profiles(res, out, normalize=normalize, batch_of=batch_of)
    calls = call_moa(res.wells, res.class_names, treatments=res.treatments)
    return run_evaluation(
        profiles,
        out,
        calls=calls,
        prob_profiles=prob_profiles,
        map_settings=map_settings,
        profile_files=entry,
    )
