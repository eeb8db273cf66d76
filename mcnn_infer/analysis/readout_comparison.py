"""The M-CNN readout side by side with the classical translocation readout on one plate.

Both readouts are judged the same way on the same wells: Z' on the control wells the model did
not train on (``in_training`` False in the scorer's well table), and a 4PL EC50 per plate-map
group (the SBS plate's rows, dose index on the x axis). The model's Z' is given for its QC score
(the class probability, as ``hcs analyze`` uses it) and for its log-odds; its EC50s are fitted
to the log-odds (the potency readout of ``hcs analyze``). Written to ``out_dir``:
``readout_comparison.csv`` (one row per group: both EC50s and whether the model's lies in the
classical range widened by ``tolerance``), ``readout_comparison.json`` (Z', ranges, verdicts),
``readout_comparison.png`` (both dose responses on one axis, each scaled to its own held-out
controls: 0 = negative mean, 1 = positive mean) and ``readout_comparison.html``.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.potency import four_pl, potency_table
from mcnn_infer.analysis.qc import z_prime
from mcnn_infer.analysis.translocation import SCORE, read_plate_map
from mcnn_infer.atomic import write_json
from mcnn_infer.results import IN_TRAINING, LOGODDS_PREFIX, logodds_column, prob_column

#: Default widening of the classical EC50 range (dose index) within which the model's must lie.
TOLERANCE = 0.3


def _model_wells(results_dir: Path, pmap: pd.DataFrame, class_name: str) -> tuple[pd.DataFrame, str]:
    """Model wells with ``y`` (log-odds, or the probability for older results) and ``p`` (probability)."""
    path = results_dir / "wells.parquet"
    if not path.is_file():
        raise AnalysisError(f"{path}: not found; expected the wells table of an `hcs score` run")
    wells = pd.read_parquet(path)
    probability = prob_column(class_name)
    if probability not in wells.columns:
        raise AnalysisError(
            f"{path}: no column {probability!r}; expected a model with the class {class_name!r}"
        )
    column = logodds_column(class_name) if logodds_column(class_name) in wells.columns else probability
    table = pd.DataFrame({"well": wells["well"], "y": wells[column], "p": wells[probability]})
    table[IN_TRAINING] = wells[IN_TRAINING] if IN_TRAINING in wells.columns else False
    return table.merge(pmap, on="well", how="inner"), column


def _classical_wells(classical_dir: Path) -> pd.DataFrame:
    path = classical_dir / "translocation_wells.csv"
    if not path.is_file():
        raise AnalysisError(
            f"{path}: not found; expected the output of `hcs analyze --readout translocation --out DIR`"
        )
    table = pd.read_csv(path, dtype={"group": str})
    return table[["well", SCORE]].rename(columns={SCORE: "y"})


def _held_out_z(wells: pd.DataFrame, held: set[str], column: str = "y") -> tuple[float, int, int]:
    sel = wells[wells["well"].isin(held)]
    pos = sel.loc[sel["role"] == "positive", column].to_numpy(float)
    neg = sel.loc[sel["role"] == "negative", column].to_numpy(float)
    return z_prime(pos, neg), int(pos.size), int(neg.size)


def _ec50s(wells: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    treated = wells[(wells["role"] == "treated") & np.isfinite(wells["x"]) & np.isfinite(wells["y"])]
    return potency_table(treated, group="group", x="x", y="y", x_is_log10_conc=False)


def compare_readouts(
    results_dir: str | Path,
    classical_dir: str | Path,
    plate_map: str | Path,
    out_dir: str | Path,
    class_name: str,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """Compare the model's and the classical readout of one plate; write the files listed above.

    Parameters
    ----------
    results_dir : path
        ``hcs score`` results of the plate (``wells.parquet`` with ``logodds_<class>`` and
        ``in_training``).
    classical_dir : path
        ``hcs analyze --readout translocation --out`` folder of the same plate
        (``analysis/translocation_wells.csv``) or its ``analysis`` folder.
    plate_map : path
        The translocation plate map (:func:`mcnn_infer.analysis.translocation.read_plate_map`):
        roles, groups (rows) and dose index.
    out_dir : path
        Where to write.
    class_name : str
        The model class of the positive controls (its log-odds is the model readout).
    tolerance : float
        Widening of the classical group EC50 range (x units).

    Returns
    -------
    dict
        The contents of ``readout_comparison.json``.
    """
    results_dir, out = Path(results_dir), Path(out_dir)
    classical_dir = Path(classical_dir)
    if (classical_dir / "analysis").is_dir():
        classical_dir = classical_dir / "analysis"
    pmap = read_plate_map(plate_map)
    model, column = _model_wells(results_dir, pmap, class_name)
    classical = _classical_wells(classical_dir).merge(pmap, on="well", how="inner")
    controls = model[model["role"].isin(["positive", "negative"])]
    held = set(controls.loc[~controls[IN_TRAINING].astype(bool), "well"])
    trained = sorted(set(controls.loc[controls[IN_TRAINING].astype(bool), "well"]))
    if not held:
        raise AnalysisError(
            f"{results_dir}: the model trained on every control well of the plate; expected held-out controls "
            "to judge Z' on (train on part of the controls)"
        )
    out.mkdir(parents=True, exist_ok=True)
    z_model, n_pos, n_neg = _held_out_z(model, held, "p")
    z_model_logodds, _, _ = _held_out_z(model, held)
    z_classical, _, _ = _held_out_z(classical, held)
    z_classical_all, _, _ = _held_out_z(classical, set(classical["well"]))
    model_fit, model_fits = _ec50s(model)
    classical_fit, classical_fits = _ec50s(classical)
    low = float(classical_fit["ec50_x"].min()) - tolerance
    high = float(classical_fit["ec50_x"].max()) + tolerance
    table = model_fit[["group", "ec50_x", "ec50_low", "ec50_high", "trusted"]].merge(
        classical_fit[["group", "ec50_x", "trusted"]], on="group", suffixes=("_model", "_classical")
    )
    table["model_within_classical_range"] = table["ec50_x_model"].between(low, high)
    atomic.write_table(table, out / "readout_comparison.csv")
    png = _plot(model, classical, held, model_fits, classical_fits, column, out / "readout_comparison.png")
    summary = {
        "model_readout": column,
        "model_readout_kind": "log-odds" if column.startswith(LOGODDS_PREFIX) else "probability",
        "classical_readout": SCORE,
        "held_out_controls": {"wells": sorted(held), "n_positive": n_pos, "n_negative": n_neg},
        "trained_control_wells": trained,
        "model_qc_score": prob_column(class_name),
        "z_prime_held_out": {"model": z_model, "model_logodds": z_model_logodds, "classical": z_classical},
        "z_prime_classical_all_controls": z_classical_all,
        "classical_ec50_range": [float(classical_fit["ec50_x"].min()), float(classical_fit["ec50_x"].max())],
        "tolerance": tolerance,
        "all_model_ec50_within": bool(table["model_within_classical_range"].all()),
        # how the two readouts' row EC50s relate: a constant shift, and the same order of the rows
        "ec50_shift_model_minus_classical": float((table["ec50_x_model"] - table["ec50_x_classical"]).median()),
        "ec50_spearman": float(spearmanr(table["ec50_x_model"], table["ec50_x_classical"]).statistic),
        "groups": table.to_dict("records"),
        "table": "readout_comparison.csv",
        "plot": png.name,
    }
    write_json(out / "readout_comparison.json", summary)
    _write_html(summary, table, png, out / "readout_comparison.html")
    return summary


def _control_means(wells: pd.DataFrame, held: set[str]) -> tuple[float, float]:
    """Mean ``y`` of the held-out negative and positive controls (the 0 and 1 of the scaled plot)."""
    sel = wells[wells["well"].isin(held)]
    return (
        float(sel.loc[sel["role"] == "negative", "y"].mean()),
        float(sel.loc[sel["role"] == "positive", "y"].mean()),
    )


def _plot(model, classical, held, model_fits, classical_fits, column, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcnn_infer.analysis.io import save_figure

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for wells, fits, label, colour in (
        (model, model_fits, f"M-CNN ({column})", "#d62728"),
        (classical, classical_fits, "classical translocation score", "#1f77b4"),
    ):
        neg, pos = _control_means(wells, held)
        treated = wells[wells["role"] == "treated"]
        scaled = (treated["y"] - neg) / (pos - neg)
        means = scaled.groupby(treated["x"]).agg(["mean", "std"]).reset_index()
        ax.errorbar(
            means["x"], means["mean"], yerr=means["std"], fmt="o", color=colour, capsize=2, label=label
        )
        grid = np.linspace(means["x"].min(), means["x"].max(), 200)
        for fit in fits.values():
            if np.isfinite(fit.log_ec50):
                curve = four_pl(grid, fit.bottom, fit.top, fit.log_ec50, fit.hill)
                ax.plot(grid, (curve - neg) / (pos - neg), color=colour, alpha=0.25, linewidth=1)
    ax.axhline(0, color="#777777", linewidth=0.8)
    ax.axhline(1, color="#777777", linewidth=0.8)
    ax.set_xlabel("dose index")
    ax.set_ylabel("response (0 = negative, 1 = positive held-out controls)")
    ax.set_title("dose response per row: M-CNN vs classical readout", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _write_html(summary: dict, table: pd.DataFrame, png: Path, path: Path) -> None:
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    z = summary["z_prime_held_out"]
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in record.values())
        + "</tr>"
        for record in table.to_dict("records")
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    low, high = summary["classical_ec50_range"]
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Readout comparison</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>M-CNN vs classical translocation readout</h1>
<p>Z' on the {len(summary["held_out_controls"]["wells"])} control wells the model did not train on
({summary["held_out_controls"]["n_negative"]} negative, {summary["held_out_controls"]["n_positive"]} positive):
<b>M-CNN {_fmt(z["model"])}</b> ({html.escape(summary["model_qc_score"])}; on
{html.escape(summary["model_readout"])}: {_fmt(z["model_logodds"])}), classical {_fmt(z["classical"])}
(classical on all controls: {_fmt(summary["z_prime_classical_all_controls"])}).
The model trained on the control wells {html.escape(", ".join(summary["trained_control_wells"]) or "none")}.</p>
<p>EC50 per row (dose index; M-CNN on {html.escape(summary["model_readout"])}): classical range {low:.2f} to {high:.2f}, widened by {summary["tolerance"]}:
every M-CNN EC50 within it: <b>{"yes" if summary["all_model_ec50_within"] else "no"}</b>; median shift
M-CNN minus classical {summary["ec50_shift_model_minus_classical"]:+.2f}, Spearman correlation of the rows
{summary["ec50_spearman"]:.2f}.</p>
<table><tr>{head}</tr>{rows}</table>
<img alt="dose response" src="data:image/png;base64,{image}"></body></html>"""
    atomic.write_text(path, body)


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    return str(value)
