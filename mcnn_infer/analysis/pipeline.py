"""``hcs analyze``: read the scoring outputs, write QC, heatmaps, MoA calls, potency, profiles and
evaluation to ``RESULTS_DIR/analysis/`` with a ``summary.json`` index the report renders.

The writers shared with the translocation readout are in :mod:`mcnn_infer.analysis.outputs`, the
profiles and the evaluation (``hcs evaluate``) in :mod:`mcnn_infer.analysis.evaluation`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.evaluation import run_evaluation, write_well_profiles
from mcnn_infer.analysis.heatmaps import class_heatmap, score_heatmap
from mcnn_infer.analysis.io import ScoringResults, read_scoring_results
from mcnn_infer.analysis.moa import MIN_CONFIDENCE, call_moa, classifier_accuracy
from mcnn_infer.analysis.outputs import (
    AnalysisResult,
    analysis_progress,
    now_iso,
    safe_name,
    write_potency,
    write_qc,
)
from mcnn_infer.analysis.potency import MAX_HILL, baseline_columns
from mcnn_infer.analysis.profiles import resolve_normalization, week_batch
from mcnn_infer.analysis.qc import field_qc_summary
from mcnn_infer.atomic import write_json
from mcnn_infer.results import (
    ANALYSIS_DIRNAME,
    EVALUATION_DIRNAME,
    LOGODDS_PREFIX,
    SUMMARY_NAME,
    logodds_column,
    prob_column,
)


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
