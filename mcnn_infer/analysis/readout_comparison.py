"""The M-CNN readout side by side with the classical translocation readout on one plate.

Both readouts are judged the same way on the same wells: Z' on the control wells the model did
not train on (``in_training`` False in the scorer's well table), and a 4PL EC50 per plate-map
group (the SBS plate's rows, dose index on the x axis). The model's Z' is given for its QC score
(the class probability, as ``hcs analyze`` uses it) and for its log-odds; its EC50s are fitted
to the log-odds (the potency readout of ``hcs analyze``). Written to ``out_dir``:
``readout_comparison.csv`` (one row per group: both EC50s and whether the model's lies in the
classical range widened by ``tolerance``), ``readout_comparison.json`` (Z', ranges, verdicts),
``readout_comparison.png`` (both dose responses on one axis, each scaled to its own held-out
controls: 0 = negative mean, 1 = positive mean); ``hcs compare`` renders ``readout_comparison.html``
from them (:func:`mcnn_infer.report.render.write_comparison_page`, as ``hcs report`` does).

The classical measurement is judged on each of its scales (:data:`~mcnn_infer.analysis.translocation.SCALES`:
ratio, log-ratio, nuclear fraction), because a 4PL EC50 depends on the scale of the readout: the
ratio grows with the odds of nuclear localisation, so its half-maximal point lies later in the
dose series than on the log-ratio or the nuclear fraction of the very same masks. The verdict of
``readout_comparison.csv`` is against ``classical_scale``, by default the log-ratio: the M-CNN's
potency readout is a log-odds, and the log of the nuclear / perinuclear ratio is the classical
readout on the matching scale. ``readout_comparison_scales.csv`` gives Z', EC50 range and verdict
for every scale, the ratio included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.potency import MAX_HILL, baseline_columns, potency_table
from mcnn_infer.analysis.qc import z_prime
from mcnn_infer.analysis.translocation import SCALES, SCORE, read_plate_map
from mcnn_infer.atomic import write_json
from mcnn_infer.results import (
    ANALYSIS_DIRNAME,
    COMPARISON_DIRNAME,
    COMPARISON_FILE,
    IN_TRAINING,
    LOGODDS_PREFIX,
    logodds_column,
    prob_column,
)

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
    """``well`` and every classical scale column the table has (older tables: the ratio only)."""
    path = classical_dir / "translocation_wells.csv"
    if not path.is_file():
        raise AnalysisError(
            f"{path}: not found; expected the output of `hcs analyze --readout translocation --out DIR`"
        )
    table = pd.read_csv(path, dtype={"group": str})
    if SCORE not in table.columns:
        raise AnalysisError(f"{path}: no column {SCORE!r}; expected a translocation wells table")
    return table[["well", *(c for c in SCALES.values() if c in table.columns)]]


def _held_out_z(wells: pd.DataFrame, held: set[str], column: str = "y") -> tuple[float, int, int]:
    sel = wells[wells["well"].isin(held)]
    pos = sel.loc[sel["role"] == "positive", column].to_numpy(float)
    neg = sel.loc[sel["role"] == "negative", column].to_numpy(float)
    return z_prime(pos, neg), int(pos.size), int(neg.size)


def _ec50s(wells: pd.DataFrame, max_hill: float) -> tuple[pd.DataFrame, dict]:
    """4PL fits per group of the treated wells (as ``hcs analyze``: baseline from the negative controls)."""
    treated = wells[(wells["role"] == "treated") & np.isfinite(wells["x"]) & np.isfinite(wells["y"])]
    treated = treated.assign(**baseline_columns(wells.loc[wells["role"] == "negative", "y"]))
    return potency_table(treated, group="group", x="x", y="y", x_is_log10_conc=False, max_hill=max_hill)


def _judge(
    model_fit: pd.DataFrame, classical_fit: pd.DataFrame, tolerance: float
) -> tuple[pd.DataFrame, dict]:
    """Per-group table of both EC50s and the verdict against the classical range widened by ``tolerance``."""
    low = float(classical_fit["ec50_x"].min()) - tolerance
    high = float(classical_fit["ec50_x"].max()) + tolerance
    table = model_fit[["group", "ec50_qualifier", "ec50_x", "ec50_low", "ec50_high", "trusted"]].merge(
        classical_fit[["group", "ec50_qualifier", "ec50_x", "trusted"]],
        on="group",
        suffixes=("_model", "_classical"),
    )
    table["model_within_classical_range"] = table["ec50_x_model"].between(low, high)
    verdict = {
        "classical_ec50_range": [float(classical_fit["ec50_x"].min()), float(classical_fit["ec50_x"].max())],
        "n_groups_within": int(table["model_within_classical_range"].sum()),
        "n_groups": len(table),
        "all_model_ec50_within": bool(table["model_within_classical_range"].all()),
        # how the two readouts' row EC50s relate: a constant shift, and the same order of the rows
        "ec50_shift_model_minus_classical": float(
            (table["ec50_x_model"] - table["ec50_x_classical"]).median()
        ),
        "ec50_spearman": float(spearmanr(table["ec50_x_model"], table["ec50_x_classical"]).statistic),
    }
    return table, verdict


def _pearson_treated(model: pd.DataFrame, classical: pd.DataFrame) -> float:
    """Pearson r of the model's and the classical ``y`` over the dosed wells (how linearly they relate)."""
    pairs = model.loc[model["role"] == "treated", ["well", "y"]].merge(
        classical[["well", "y"]], on="well", suffixes=("_model", "_classical")
    )
    pairs = pairs[np.isfinite(pairs["y_model"]) & np.isfinite(pairs["y_classical"])]
    if len(pairs) < 3:
        return float("nan")
    return float(pearsonr(pairs["y_model"], pairs["y_classical"]).statistic)


def compare_readouts(
    results_dir: str | Path,
    classical_dir: str | Path,
    plate_map: str | Path,
    out_dir: str | Path | None,
    class_name: str,
    tolerance: float = TOLERANCE,
    classical_scale: str = "log-ratio",
    max_hill: float = MAX_HILL,
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
    out_dir : path or None
        Where to write; None: ``results_dir/analysis/comparison``, where ``hcs report`` of the
        results folder shows it.
    class_name : str
        The model class of the positive controls (its log-odds is the model readout).
    tolerance : float
        Widening of the classical group EC50 range (x units).
    classical_scale : str
        Scale of the classical readout the verdict of ``readout_comparison.csv`` is against, a key
        of :data:`~mcnn_infer.analysis.translocation.SCALES`; every scale the classical table has
        is judged in ``classical_scales``.
    max_hill : float
        Bound of the 4PL Hill slope |hill| of both readouts' fits
        (:func:`mcnn_infer.analysis.potency.fit_four_pl`).

    Returns
    -------
    dict
        The contents of ``readout_comparison.json``.
    """
    if classical_scale not in SCALES:
        raise AnalysisError(
            f"readout comparison: classical scale {classical_scale!r}; expected one of {sorted(SCALES)}"
        )
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / ANALYSIS_DIRNAME / COMPARISON_DIRNAME
    classical_dir = Path(classical_dir)
    if (classical_dir / "analysis").is_dir():
        classical_dir = classical_dir / "analysis"
    pmap = read_plate_map(plate_map)
    model, column = _model_wells(results_dir, pmap, class_name)
    classical_all = _classical_wells(classical_dir).merge(pmap, on="well", how="inner")
    if SCALES[classical_scale] not in classical_all.columns:
        raise AnalysisError(
            f"{classical_dir / 'translocation_wells.csv'}: no column {SCALES[classical_scale]!r} for the "
            f"classical scale {classical_scale!r}; rerun `hcs analyze --readout translocation`"
        )
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
    model_fit, model_fits = _ec50s(model, max_hill)
    scales, tables, classical_fits = {}, {}, {}
    for scale, scale_column in SCALES.items():
        if scale_column not in classical_all.columns:
            continue
        classical = classical_all.rename(columns={scale_column: "y"})
        classical_fit, classical_fits[scale] = _ec50s(classical, max_hill)
        tables[scale], verdict = _judge(model_fit, classical_fit, tolerance)
        scales[scale] = {
            "column": scale_column,
            "z_prime_held_out": _held_out_z(classical, held)[0],
            "z_prime_all_controls": _held_out_z(classical, set(classical["well"]))[0],
            **verdict,
            "pearson_r_treated_wells": _pearson_treated(model, classical),
        }
    main = scales[classical_scale]
    table = tables[classical_scale]
    atomic.write_table(table, out / "readout_comparison.csv")
    scale_rows = [
        {"scale": name, **{k: v for k, v in verdict.items() if k != "classical_ec50_range"}}
        | {
            "classical_ec50_min": verdict["classical_ec50_range"][0],
            "classical_ec50_max": verdict["classical_ec50_range"][1],
        }
        for name, verdict in scales.items()
    ]
    atomic.write_table(pd.DataFrame(scale_rows), out / "readout_comparison_scales.csv")
    curves = [(model, model_fits, f"M-CNN ({column})", "#d62728")]
    for scale, colour in (("ratio", "#1f77b4"), ("log-ratio", "#2ca02c")):
        if scale in scales:
            curves.append(
                (
                    classical_all.rename(columns={SCALES[scale]: "y"}),
                    classical_fits[scale],
                    f"classical translocation {scale}",
                    colour,
                )
            )
    png = _plot(curves, held, out / "readout_comparison.png")
    summary = {
        "model_readout": column,
        "model_readout_kind": "log-odds" if column.startswith(LOGODDS_PREFIX) else "probability",
        "classical_readout": SCALES[classical_scale],
        "classical_scale": classical_scale,
        "held_out_controls": {"wells": sorted(held), "n_positive": n_pos, "n_negative": n_neg},
        "trained_control_wells": trained,
        "model_qc_score": prob_column(class_name),
        "z_prime_held_out": {
            "model": z_model,
            "model_logodds": z_model_logodds,
            "classical": main["z_prime_held_out"],
        },
        "z_prime_classical_all_controls": main["z_prime_all_controls"],
        "tolerance": tolerance,
        "max_hill": max_hill,
        **{k: main[k] for k in ("classical_ec50_range", "all_model_ec50_within")},
        "ec50_shift_model_minus_classical": main["ec50_shift_model_minus_classical"],
        "ec50_spearman": main["ec50_spearman"],
        "classical_scales": scales,
        "groups": table.to_dict("records"),
        "table": "readout_comparison.csv",
        "scales_table": "readout_comparison_scales.csv",
        "plot": png.name,
        "html": "readout_comparison.html",
        "out_dir": str(out),
    }
    write_json(out / COMPARISON_FILE, summary)
    return summary


def verdict_line(summary: dict[str, Any]) -> str:
    """One line of the comparison's figures: held-out Z' and the row EC50 verdict on every classical scale."""
    z = summary["z_prime_held_out"]
    verdicts = "; ".join(
        f"{name} {v['classical_ec50_range'][0]:.2f}-{v['classical_ec50_range'][1]:.2f}: "
        f"{v['n_groups_within']}/{v['n_groups']} within (shift {v['ec50_shift_model_minus_classical']:+.2f})"
        for name, v in summary["classical_scales"].items()
    )
    return (
        f"held-out Z' ({len(summary['held_out_controls']['wells'])} control wells): M-CNN {z['model']:.3f} "
        f"({summary['model_qc_score']}; {z['model_logodds']:.3f} on {summary['model_readout']}), "
        f"classical {summary['classical_scale']} {z['classical']:.3f}. Row EC50s M-CNN "
        + ", ".join(f"{g['group']} {g['ec50_x_model']:.2f}" for g in summary["groups"])
        + f"; classical ranges (+/- {summary['tolerance']}): {verdicts}"
    )


def _control_means(wells: pd.DataFrame, held: set[str]) -> tuple[float, float]:
    """Mean ``y`` of the held-out negative and positive controls (the 0 and 1 of the scaled plot)."""
    sel = wells[wells["well"].isin(held)]
    return (
        float(sel.loc[sel["role"] == "negative", "y"].mean()),
        float(sel.loc[sel["role"] == "positive", "y"].mean()),
    )


def _plot(curves: list[tuple], held: set[str], path: Path) -> Path:
    """Dose responses of ``curves`` (wells with ``y``, fits, label, colour), each scaled to its held-out controls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcnn_infer.analysis.io import save_figure

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for wells, fits, label, colour in curves:
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
                curve = fit.curve(grid)
                ax.plot(grid, (curve - neg) / (pos - neg), color=colour, alpha=0.25, linewidth=1)
    ax.axhline(0, color="#777777", linewidth=0.8)
    ax.axhline(1, color="#777777", linewidth=0.8)
    ax.set_xlabel("dose index")
    ax.set_ylabel("response (0 = negative, 1 = positive held-out controls)")
    ax.set_title("dose response per row: M-CNN vs classical readout", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
