"""Plate and image quality control.

Plate QC is the Z'-factor of Zhang, Chung & Oldenburg (1999) computed from positive and
negative control wells:

    Z' = 1 - 3 (sd_pos + sd_neg) / |mean_pos - mean_neg|

A plate is accepted when Z' >= 0.5, the usual screening acceptance line.

Image QC uses three cheap measures per field (a few ms on a 1024x1280x3 field):

* ``fg_fraction`` - fraction of pixels brighter than ``median + 5 * 1.4826 * MAD`` of their
  channel (robust background + 5 noise sigma), maximum over channels, on a 4x subsample.
  A field is *nearly empty* when it is below 0.5 %.
* ``sat_fraction`` - fraction of pixels at the saturation value (the dtype maximum for
  integer images, 1.0 for float images), maximum over channels. *Saturated* above 1 %.
* ``focus`` - variance of the 4-neighbour Laplacian divided by the variance of the image
  (scale free) on a 2x subsample, mean over channels. A field is *out of focus* when its focus is below
  ``blur_ratio`` (0.3) times the median focus of its plate (:func:`blurry_flags`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError

Z_PRIME_ACCEPT = 0.5
EMPTY_FG_FRACTION = 0.005
SATURATED_FRACTION = 0.01
BLUR_RATIO = 0.3
_STATS_STEP = 4
_FOCUS_STEP = 2


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
        One row per plate: ``plate, score, n_neg, n_pos, mean_neg, sd_neg, mean_pos, sd_pos,
        z_prime, passed, flag`` (``flag`` is '' or a short reason).
    """
    for col in ("plate", "role", score_column):
        if col not in wells.columns:
            raise AnalysisError(
                f"well table: column {col!r} missing; plate QC needs plate, role and {score_column!r}"
            )
    rows = []
    for plate, grp in wells.groupby("plate", sort=True):
        pos = grp.loc[grp["role"] == "positive", score_column].to_numpy(float)
        neg = grp.loc[grp["role"] == "negative", score_column].to_numpy(float)
        zp = z_prime(pos, neg)
        if pos.size < 2 or neg.size < 2:
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
                "n_neg": int(neg.size),
                "n_pos": int(pos.size),
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


def _channels(raw: np.ndarray) -> np.ndarray:
    if raw.ndim == 2:
        raw = raw[:, :, None]
    if raw.ndim != 3 or raw.shape[0] < 3 or raw.shape[1] < 3:
        raise AnalysisError(
            f"image_qc: field of shape {raw.shape}; expected (H, W) or (H, W, C) with H, W >= 3"
        )
    return raw


def saturation_value(dtype: np.dtype) -> float:
    """Value counted as saturated: the dtype maximum for integers, 1.0 for floats."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def image_qc(raw: np.ndarray) -> dict[str, float | bool]:
    """Cheap image-QC measures of one raw field.

    Parameters
    ----------
    raw : numpy.ndarray, shape (H, W, C) or (H, W)
        Raw intensities in native dtype (uint8 / uint16 / float32), channels last.

    Returns
    -------
    dict
        ``fg_fraction`` (0..1), ``sat_fraction`` (0..1), ``focus`` (>= 0, scale free),
        ``qc_empty`` (bool), ``qc_saturated`` (bool). Out-of-focus needs the plate context:
        see :func:`blurry_flags`.
    """
    raw = _channels(np.asarray(raw))
    sat = saturation_value(raw.dtype)
    fg, sat_frac, focus = 0.0, 0.0, []
    for c in range(raw.shape[2]):
        ch = raw[:, :, c]
        sub = ch[::_STATS_STEP, ::_STATS_STEP].astype(np.float32).ravel()
        med = float(np.median(sub))
        mad = float(np.median(np.abs(sub - med)))
        thr = med + 5.0 * 1.4826 * max(mad, 1e-6 if raw.dtype.kind == "f" else 0.5)
        fg = max(fg, float(np.count_nonzero(sub > thr)) / sub.size)
        sat_frac = max(sat_frac, float(np.count_nonzero(sub >= sat)) / sub.size)
        x = ch[::_FOCUS_STEP, ::_FOCUS_STEP].astype(np.float32)
        lap = 4.0 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
        var = float(x.var())
        focus.append(float(lap.var()) / var if var > 0 else 0.0)
    return {
        "fg_fraction": fg,
        "sat_fraction": sat_frac,
        "focus": float(np.mean(focus)),
        "qc_empty": fg < EMPTY_FG_FRACTION,
        "qc_saturated": sat_frac > SATURATED_FRACTION,
    }


def blurry_flags(focus: pd.Series, plate: pd.Series, ratio: float = BLUR_RATIO) -> pd.Series:
    """Flag fields whose focus is below ``ratio`` times their plate's median focus.

    Parameters
    ----------
    focus : pandas.Series
        ``focus`` values from :func:`image_qc`, one per field.
    plate : pandas.Series
        Plate of each field, aligned with ``focus``.
    ratio : float
        Fraction of the plate median below which a field counts as out of focus.

    Returns
    -------
    pandas.Series of bool, aligned with ``focus``.
    """
    if not 0 < ratio < 1:
        raise AnalysisError(f"blurry_flags: ratio {ratio}; expected a value in (0, 1)")
    median = focus.groupby(plate).transform("median")
    return (focus < ratio * median).fillna(False).astype(bool)


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
        for i, role in enumerate(("negative", "treated", "positive")):
            v = grp.loc[grp["role"] == role, score_column].to_numpy(float)
            if v.size:
                ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, s=10, color=colours[role], alpha=0.7)
                ax.hlines(np.mean(v), i - 0.3, i + 0.3, color="black", linewidth=1.5)
        ax.set_xticks(range(3))
        ax.set_xticklabels(["neg", "treated", "pos"], fontsize=8)
        ax.set_title(str(plate), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(score_column)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
