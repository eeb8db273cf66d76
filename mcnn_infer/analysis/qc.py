"""Plate and image quality control.

Plate QC is the Z'-factor of Zhang, Chung & Oldenburg (1999) computed from positive and
negative control wells:

    Z' = 1 - 3 (sd_pos + sd_neg) / |mean_pos - mean_neg|

A plate is accepted when Z' >= 0.5, the usual screening acceptance line.

Z' is a property of the assay read out by a model, so it is computed only on control wells the
model did not train on: wells flagged ``in_training`` (the model card's training and validation
wells) are left out, and a plate whose controls were all used in training gets no Z' (an
in-sample Z' is never reported as QC). ``qc_plates.csv`` says how many control wells were used
and how many were left out.

The image-QC measures of single fields are computed while scoring
(:mod:`mcnn_infer.image_qc`); :func:`field_qc_summary` lists the fields they flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.results import IN_TRAINING

Z_PRIME_ACCEPT = 0.5


def z_prime(positive: np.ndarray, negative: np.ndarray) -> float:
    """Z'-factor of two control populations.

    Parameters
    ----------
    positive, negative : array_like, shape (n,)
        Per-well scores of the positive and negative control wells (any units).

    Returns
    -------
    float
        Z' in (-inf, 1]; NaN when a group has fewer than 2 wells or the means are equal.
    """
    pos = np.asarray(positive, dtype=float)
    neg = np.asarray(negative, dtype=float)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if pos.size < 2 or neg.size < 2:
        return float("nan")
    gap = abs(pos.mean() - neg.mean())
    if gap == 0:
        return float("nan")
    return float(1.0 - 3.0 * (pos.std(ddof=1) + neg.std(ddof=1)) / gap)


def plate_qc(wells: pd.DataFrame, score_column: str, threshold: float = Z_PRIME_ACCEPT) -> pd.DataFrame:
    """Z'-factor and control statistics per plate.

    Parameters
    ----------
    wells : pandas.DataFrame
        One row per well with ``plate``, ``role`` (negative / positive / treated) and ``score_column``.
    score_column : str
        The per-well score the controls are compared on (e.g. ``prob_<class>``).
    threshold : float
        Acceptance line for Z'.

    Returns
    -------
    pandas.DataFrame
        One row per plate: ``plate, score, controls, n_neg, n_pos, n_trained_excluded, mean_neg,
        sd_neg, mean_pos, sd_pos, z_prime, passed, flag`` (``flag`` is '' or a short reason;
        ``controls`` is ``held out`` when the model trained on none of the control wells used).
    """
    for col in ("plate", "role", score_column):
        if col not in wells.columns:
            raise AnalysisError(
                f"well table: column {col!r} missing; plate QC needs plate, role and {score_column!r}"
            )
    rows = []
    for plate, grp in wells.groupby("plate", sort=True):
        controls = grp["role"].isin(["positive", "negative"])
        trained = (
            grp[IN_TRAINING].fillna(False).astype(bool)
            if IN_TRAINING in grp.columns
            else pd.Series(False, index=grp.index)
        )
        n_excluded = int((controls & trained).sum())
        grp = grp[~trained]
        pos = grp.loc[grp["role"] == "positive", score_column].to_numpy(float)
        neg = grp.loc[grp["role"] == "negative", score_column].to_numpy(float)
        zp = z_prime(pos, neg)
        if n_excluded and (pos.size < 2 or neg.size < 2):
            zp = float("nan")
            flag = (
                f"no Z': the model trained on {n_excluded} of this plate's control wells and too few held-out "
                f"controls remain ({pos.size} positive, {neg.size} negative; need 2 each)"
            )
        elif pos.size < 2 or neg.size < 2:
            flag = f"too few controls ({pos.size} positive, {neg.size} negative; need 2 each)"
        elif not np.isfinite(zp):
            flag = "controls have equal means"
        elif zp < threshold:
            flag = f"Z' {zp:.2f} below {threshold}"
        else:
            flag = ""
        rows.append(
            {
                "plate": plate,
                "score": score_column,
                "controls": "held out" if n_excluded else "all (the model trained on none)",
                "n_neg": int(neg.size),
                "n_pos": int(pos.size),
                "n_trained_excluded": n_excluded,
                "mean_neg": float(np.mean(neg)) if neg.size else np.nan,
                "sd_neg": float(np.std(neg, ddof=1)) if neg.size > 1 else np.nan,
                "mean_pos": float(np.mean(pos)) if pos.size else np.nan,
                "sd_pos": float(np.std(pos, ddof=1)) if pos.size > 1 else np.nan,
                "z_prime": zp,
                "passed": bool(np.isfinite(zp) and zp >= threshold),
                "flag": flag,
            }
        )
    return pd.DataFrame(rows)


def field_qc_summary(fields: pd.DataFrame) -> pd.DataFrame:
    """Fields flagged by image QC (any of ``qc_empty, qc_saturated, qc_blurry``).

    Parameters
    ----------
    fields : pandas.DataFrame
        The scorer's field table.

    Returns
    -------
    pandas.DataFrame
        ``plate, well, site, timepoint, qc_empty, qc_saturated, qc_blurry`` for flagged fields only.
    """
    flags = [c for c in ("qc_empty", "qc_saturated", "qc_blurry") if c in fields.columns]
    keys = [c for c in ("plate", "well", "site", "timepoint") if c in fields.columns]
    if not flags:
        return pd.DataFrame(columns=keys)
    bad = fields[flags].fillna(False).astype(bool).any(axis=1)
    return fields.loc[bad, keys + flags].reset_index(drop=True)


def plot_control_distributions(wells: pd.DataFrame, score_column: str, path, title: str | None = None):
    """Strip plot of a per-well score by role (negative / treated / positive), one panel per plate.

    Parameters
    ----------
    wells : pandas.DataFrame
        ``plate, role, score_column``.
    score_column : str
        Score on the y axis (its own units).
    path : str or Path
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcnn_infer.analysis.io import save_figure

    plates = sorted(wells["plate"].unique())
    fig, axes = plt.subplots(
        1, len(plates), figsize=(min(3.2 * len(plates), 14), 3.4), squeeze=False, sharey=True
    )
    colours = {"negative": "#1f77b4", "treated": "#7f7f7f", "positive": "#d62728"}
    rng = np.random.default_rng(0)
    for ax, plate in zip(axes[0], plates, strict=True):
        grp = wells[wells["plate"] == plate]
        trained = (
            grp[IN_TRAINING].fillna(False).astype(bool).to_numpy()
            if IN_TRAINING in grp.columns
            else np.zeros(len(grp), bool)
        )
        for i, role in enumerate(("negative", "treated", "positive")):
            is_role = (grp["role"] == role).to_numpy()
            v = grp.loc[is_role & ~trained, score_column].to_numpy(float)
            if v.size:
                ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, s=10, color=colours[role], alpha=0.7)
                ax.hlines(np.mean(v), i - 0.3, i + 0.3, color="black", linewidth=1.5)
            seen = grp.loc[is_role & trained, score_column].to_numpy(float)
            if seen.size:  # wells the model trained on: shown hollow, not part of the mean or Z'
                ax.scatter(
                    i + rng.uniform(-0.15, 0.15, seen.size), seen, s=12, facecolors="none",
                    edgecolors=colours[role], alpha=0.6, label="trained on (not in Z')" if i != 1 else None,
                )
        ax.set_xticks(range(3))
        ax.set_xticklabels(["neg", "treated", "pos"], fontsize=8)
        ax.set_title(str(plate), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(score_column)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
