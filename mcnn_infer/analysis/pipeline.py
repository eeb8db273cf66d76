"""``hcs analyze``: read the scoring outputs, write QC, heatmaps, MoA calls, potency, profiles and
evaluation to ``RESULTS_DIR/analysis/`` with a ``summary.json`` index the report renders."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from mcnn_infer import atomic
from mcnn_infer.analysis import evaluate as ev
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.heatmaps import class_heatmap, score_heatmap
from mcnn_infer.analysis.io import ScoringResults, read_scoring_results
from mcnn_infer.analysis.mean_ap import MapSettings
from mcnn_infer.analysis.metrics import METRICS, EvaluationInputs
from mcnn_infer.analysis.moa import MIN_CONFIDENCE, call_moa, classifier_accuracy
from mcnn_infer.analysis.potency import (
    MAX_HILL,
    baseline_columns,
    fold_errors,
    plot_dose_response,
    potency_summary,
    potency_table,
)
from mcnn_infer.analysis.profiles import (
    profile_info,
    resolve_normalization,
    week_batch,
    well_profiles,
    write_profiles,
)
from mcnn_infer.analysis.qc import Z_PRIME_ACCEPT, field_qc_summary, plate_qc, plot_control_distributions
from mcnn_infer.atomic import write_json
from mcnn_infer.progress import progress_bar
from mcnn_infer.results import (
    ANALYSIS_DIRNAME,
    EVALUATION_DIRNAME,
    EVALUATION_FILE,
    LOGODDS_PREFIX,
    PROB_PROFILES_FILE,
    PROFILES_FILE,
    SUMMARY_NAME,
    logodds_column,
    prob_column,
    stored_prob_columns,
)


@dataclass
class AnalysisResult:
    """What an analysis wrote: ``out_dir`` (the ``analysis/`` folder) and its ``summary`` index."""

    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)


def analysis_progress() -> Progress:
    """The progress bar of the analysis steps (on stderr, cleared when done)."""
    return progress_bar("items", console=Console(stderr=True), transient=True)


def safe_name(value: object) -> str:
    """A file-name-safe version of ``value`` (letters, digits, ``._-``)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("._")
    return text or "unnamed"


def now_iso() -> str:
    """Current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_qc(
    wells: pd.DataFrame, score_column: str, out_dir: Path, threshold: float = Z_PRIME_ACCEPT
) -> dict:
    """Write ``qc_plates.csv`` and ``qc_controls.png``; return the summary entry."""
    table = plate_qc(wells, score_column, threshold)
    atomic.write_table(table, out_dir / "qc_plates.csv")
    plot_control_distributions(
        wells, score_column, out_dir / "qc_controls.png", title=f"control distributions: {score_column}"
    )
    return {
        "score": score_column,
        "threshold": threshold,
        "table": "qc_plates.csv",
        "control_plot": "qc_controls.png",
        "plates": table.to_dict("records"),
    }


def write_potency(
    points: pd.DataFrame,
    out_dir: Path,
    *,
    group: str,
    x_is_log10_conc: bool,
    x_label: str,
    y_label: str,
    truth: pd.DataFrame | None = None,
    max_hill: float = MAX_HILL,
) -> dict:
    """Fit a 4PL per group, write ``potency.csv`` and ``dose_response/<group>.png``; return the summary entry.

    ``points`` has one row per well: ``group, x, y`` and optionally ``response_class`` and the
    negative-control baseline (:data:`mcnn_infer.analysis.potency.BASELINE_COLUMNS`); ``max_hill``
    bounds |hill| (:func:`mcnn_infer.analysis.potency.fit_four_pl`).
    """
    groups = points[group].nunique()
    plots: dict[str, str] = {}
    with analysis_progress() as bar:
        task = bar.add_task("4PL fits", total=groups)
        table, fits = potency_table(
            points,
            group=group,
            x="x",
            y="y",
            x_is_log10_conc=x_is_log10_conc,
            max_hill=max_hill,
            progress=lambda: bar.advance(task),
        )
        task2 = bar.add_task("dose-response plots", total=groups)
        for key, grp in points.groupby(group, sort=True):
            rel = f"dose_response/{safe_name(key)}.png"
            cls = grp["response_class"].iloc[0] if "response_class" in grp.columns else None
            plot_dose_response(
                grp["x"].to_numpy(float),
                grp["y"].to_numpy(float),
                fits[key],
                out_dir / rel,
                title=f"{group} {key}" + (f" — {y_label} {cls}" if cls else ""),
                x_label=x_label,
                y_label=y_label if not cls else f"{y_label} {cls}",
            )
            plots[str(key)] = rel
            bar.advance(task2)
    atomic.write_table(table, out_dir / "potency.csv")
    entry: dict[str, Any] = {
        "group": group,
        "table": "potency.csv",
        "plots": plots,
        "x_label": x_label,
        "y_label": y_label,
        "n_fits": len(table),
        **potency_summary(table, max_hill),
    }
    if truth is not None:
        fe = fold_errors(table, truth, group=group)
        atomic.write_table(fe, out_dir / "potency_vs_truth.csv")
        trusted = fe[fe["trusted"] & np.isfinite(fe["fold_error"])]
        entry["truth"] = {
            "table": "potency_vs_truth.csv",
            "n_compared": len(fe),
            "median_fold_error_all": float(fe["fold_error"].median()) if len(fe) else float("nan"),
            "median_fold_error_trusted": float(trusted["fold_error"].median())
            if len(trusted)
            else float("nan"),
            "n_trusted": len(trusted),
        }
    return entry


def read_truth(path: str | Path) -> pd.DataFrame:
    """Read ``truth_compounds.csv`` (``compound, moa, ec50_uM, hill_slope``) and check its columns."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path}: truth file not found; expected truth_compounds.csv from hcs synth")
    truth = pd.read_csv(path)
    for col in ("compound", "ec50_uM"):
        if col not in truth.columns:
            raise AnalysisError(
                f"{path}: column {col!r} missing; expected compound, moa, ec50_uM, hill_slope"
            )
    truth["ec50_uM"] = pd.to_numeric(truth["ec50_uM"], errors="coerce")
    bad = truth[~(truth["ec50_uM"] > 0)]
    if len(bad):
        raise AnalysisError(
            f"{path}: ec50_uM {bad['ec50_uM'].iloc[0]!r} for compound {bad['compound'].iloc[0]!r}; expected a positive number"
        )
    return truth


def _model_name(run: dict[str, Any]) -> str | None:
    model = run.get("model")
    if isinstance(model, dict):
        return model.get("model_name") or model.get("name")
    return run.get("model_name") or (str(model) if model else None)


def _class_or_error(name: str | None, classes: list[str], option: str) -> str | None:
    if name is not None and name not in classes:
        raise AnalysisError(f"{option} {name!r} is not a model class; expected one of {classes}")
    return name


def _mode_class(wells: pd.DataFrame, role: str, classes: list[str] | None = None) -> str | None:
    """The class of the ``role`` wells: their annotated MoA when it is a model class, else the
    class the model predicts most often for them."""
    chosen = wells[wells["role"] == role]
    if classes is not None and "moa" in chosen.columns:
        annotated = chosen["moa"].dropna()
        annotated = annotated[annotated.isin(classes)]
        if len(annotated):
            return str(annotated.mode().iloc[0])
    sel = chosen["predicted_class"].dropna()
    return str(sel.mode().iloc[0]) if len(sel) else None


def readout_column(wells: pd.DataFrame, class_name: str) -> str:
    """The per-well potency readout of a class: ``logodds_<class>`` when scored.

    The log-odds log(p / (1 - p)) is continuous where the probability saturates: with a model
    that separates the controls well, the probabilities of most treated wells sit at 0.000 or
    1.000 and a 4PL fit through that step is noisy. The log-odds keeps the order and the
    spread (it is linear in the model's last layer). Results scored before the log-odds existed
    fall back to ``prob_<class>``.
    """
    column = logodds_column(class_name)
    return column if column in wells.columns else prob_column(class_name)


def readout_label(column: str) -> str:
    """Axis label of a readout column (``log-odds`` or ``probability``)."""
    return "log-odds" if column.startswith(LOGODDS_PREFIX) else "probability"


def dose_points(
    wells: pd.DataFrame, class_names: list[str], negative_class: str | None, response_class: str | None
) -> pd.DataFrame:
    """Dose-response points per treated well: ``compound, x`` (log10 µM), ``y`` (log-odds, :func:`readout_column`), ``response_class``
    and the negative controls' mean and standard deviation of that readout (``baseline_mean, baseline_sd``).

    Each compound's response class is ``response_class`` when given; otherwise the class with the
    highest mean probability at the compound's top concentration, excluding ``negative_class``.
    """
    treated = wells[(wells["role"] == "treated") & (wells["concentration"] > 0) & wells["compound"].notna()]
    negative = wells[wells["role"] == "negative"]
    candidates = [c for c in class_names if c != negative_class] or class_names
    parts = []
    for compound, grp in treated.groupby("compound", sort=True):
        if response_class is None:
            top = grp[grp["concentration"] == grp["concentration"].max()]
            cls = max(candidates, key=lambda c: float(top[prob_column(c)].mean()))
        else:
            cls = response_class
        parts.append(
            pd.DataFrame(
                {
                    "compound": compound,
                    "x": np.log10(grp["concentration"].to_numpy(float)),
                    "y": grp[readout_column(grp, cls)].to_numpy(float),
                    "response_class": cls,
                }
            ).assign(**baseline_columns(negative[readout_column(grp, cls)]))
        )
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["compound", "x", "y", "response_class"])
    )


def analyze(
    results_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    qc_class: str | None = None,
    response_class: str | None = None,
    heatmap_class: str | None = None,
    truth: str | Path | None = None,
    normalize: str = "none",
    min_confidence: float = MIN_CONFIDENCE,
    batch_of: Callable[[str], str] = week_batch,
    max_hill: float = MAX_HILL,
) -> AnalysisResult:
    """Analyse a scoring results folder.

    Parameters
    ----------
    results_dir : str or Path
        Folder written by ``hcs score`` (``wells.parquet`` required; ``fields.parquet``,
        ``embeddings.parquet``, ``run.json`` used when present).
    out_dir : str or Path, optional
        Where to write; default ``results_dir/analysis``.
    qc_class : str, optional
        Class whose probability is the Z' score; default the class most often predicted in
        positive-control wells.
    response_class : str, optional
        Class whose log-odds (:func:`readout_column`) is fitted for every compound; default per compound (see :func:`dose_points`).
    heatmap_class : str, optional
        Class of the score heatmaps; default ``qc_class``, else the first class.
    truth : str or Path, optional
        ``truth_compounds.csv`` of ``hcs synth``: EC50 fold-errors versus truth are reported.
    normalize : str
        Normalisation of the well profiles, a :data:`mcnn_infer.analysis.profiles.NORMALIZATIONS`
        name (see :func:`mcnn_infer.analysis.profiles.normalize_profiles`).
    min_confidence : float
        MoA calls below this mean probability are marked uncertain.
    batch_of : callable
        Plate name -> batch, for NSCB.
    max_hill : float
        Bound of the 4PL Hill slope |hill| (``--max-hill``).

    Returns
    -------
    AnalysisResult
    """
    res = read_scoring_results(results_dir)
    out = Path(out_dir) if out_dir is not None else res.root / ANALYSIS_DIRNAME
    out.mkdir(parents=True, exist_ok=True)
    classes = res.class_names
    _class_or_error(qc_class, classes, "--qc-class")
    _class_or_error(response_class, classes, "--response-class")
    _class_or_error(heatmap_class, classes, "--heatmap-class")
    resolve_normalization(normalize)
    truth_df = read_truth(truth) if truth is not None else None
    wells = res.wells
    summary: dict[str, Any] = {
        "kind": "model",
        "source": str(res.root),
        "created": now_iso(),
        "model": _model_name(res.run),
        "classes": classes,
        "n_plates": int(wells["plate"].nunique()),
        "n_wells": len(wells),
        "n_fields": len(res.fields) if res.fields is not None else None,
        "notes": [],
    }
    negative_class = _mode_class(wells, "negative", classes) if res.has_treatments else None
    if res.has_treatments and qc_class is None:
        qc_class = _mode_class(wells, "positive", classes)
    if res.has_treatments and qc_class is not None:
        # Z' on the class probability (the hit-calling score, bounded in [0, 1]) of held-out controls;
        # potency below on the log-odds, which keeps changing with dose where the probability saturates
        summary["qc"] = write_qc(wells, prob_column(qc_class), out)
    else:
        summary["notes"].append("Plate QC skipped: no positive / negative control wells in the metadata.")
    if res.fields is not None:
        flagged = field_qc_summary(res.fields)
        atomic.write_table(flagged, out / "qc_fields.csv")
        summary["field_qc"] = {
            "table": "qc_fields.csv",
            "n_flagged": len(flagged),
            "n_fields": len(res.fields),
        }
    summary["heatmaps"] = _write_heatmaps(res, out, heatmap_class or qc_class or classes[0])
    if res.has_treatments:
        calls = call_moa(wells, classes, min_confidence, res.treatments)
        atomic.write_table(calls, out / "moa_calls.csv")
        summary["moa"] = {
            "table": "moa_calls.csv",
            "n_treatments": len(calls),
            "min_confidence": min_confidence,
        }
        points = dose_points(wells, classes, negative_class, response_class)
        if len(points):
            summary["potency"] = write_potency(
                points,
                out,
                group="compound",
                x_is_log10_conc=True,
                x_label="log10 concentration (µM)",
                y_label=readout_label(readout_column(wells, str(points["response_class"].iloc[0]))),
                truth=truth_df,
                max_hill=max_hill,
            )
        if res.has_labels:
            summary["classifier"] = classifier_accuracy(calls)
    else:
        summary["notes"].append("MoA calls and potency skipped: the wells have no treatment metadata.")
    if res.embeddings is not None:
        profiles, prob_profiles, entry = write_well_profiles(res, out, normalize=normalize, batch_of=batch_of)
        summary["profiles"] = entry
        if res.has_labels:
            summary["evaluation"] = run_evaluation(
                profiles,
                out / EVALUATION_DIRNAME,
                calls=calls if res.has_treatments else None,
                prob_profiles=prob_profiles,
                profile_files={k: f"../{v}" if k.endswith("table") else v for k, v in entry.items()},
            )
    write_json(out / SUMMARY_NAME, summary)
    return AnalysisResult(out, summary)


def _write_heatmaps(res: ScoringResults, out: Path, score_class: str) -> list[dict]:
    items = []
    plates = sorted(res.wells["plate"].unique())
    with analysis_progress() as bar:
        task = bar.add_task("plate heatmaps", total=2 * len(plates))
        for plate in plates:
            pw = res.wells[res.wells["plate"] == plate]
            rel = f"heatmaps/{safe_name(plate)}_class.png"
            class_heatmap(pw, res.class_names, out / rel, title=f"{plate}: predicted class")
            items.append({"plate": plate, "kind": "class", "column": "predicted_class", "path": rel})
            bar.advance(task)
            col = prob_column(score_class)
            rel = f"heatmaps/{safe_name(plate)}_{safe_name(col)}.png"
            score_heatmap(pw, col, out / rel, title=f"{plate}: P({score_class})")
            items.append({"plate": plate, "kind": "score", "column": col, "path": rel})
            bar.advance(task)
    return items


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
