"""Writers shared by the analyses of model scores (:mod:`mcnn_infer.analysis.pipeline`) and of the
classical translocation readout (:mod:`mcnn_infer.analysis.translocation`): the result record,
the progress bar, plate QC and potency files with their ``summary.json`` entries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from mcnn_infer import atomic
from mcnn_infer.analysis.potency import (
    MAX_HILL,
    fold_errors,
    plot_dose_response,
    potency_summary,
    potency_table,
)
from mcnn_infer.analysis.qc import Z_PRIME_ACCEPT, plate_qc, plot_control_distributions
from mcnn_infer.progress import progress_bar


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
