"""Image QC of single fields, computed while scoring: nearly empty, saturated, out of focus.

Three cheap measures per field (a few ms on a 1024x1280x3 field):

* ``fg_fraction`` - fraction of pixels brighter than ``median + 5 * 1.4826 * MAD`` of their
  channel (robust background + 5 noise sigma), maximum over channels, on a 4x subsample.
  A field is *nearly empty* when it is below 0.5 %.
* ``sat_fraction`` - fraction of pixels at the saturation value (the dtype maximum for
  integer images, 1.0 for float images), maximum over channels. *Saturated* above 1 %.
* ``focus`` - variance of the 4-neighbour Laplacian divided by the variance of the image
  (scale free) on a 2x subsample, mean over channels. A field is *out of focus* when its focus is below
  ``blur_ratio`` (0.3) times the median focus of its plate (:func:`blurry_flags`).

The scorer calls :func:`image_qc` on every raw field and :func:`blurry_flags` on every plate;
the analysis summarises the flags (:func:`mcnn_infer.analysis.qc.field_qc_summary`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcnn_infer.errors import ConfigError, ImageReadError

EMPTY_FG_FRACTION = 0.005
SATURATED_FRACTION = 0.01
BLUR_RATIO = 0.3
_STATS_STEP = 4
_FOCUS_STEP = 2


def _channels(raw: np.ndarray) -> np.ndarray:
    if raw.ndim == 2:
        raw = raw[:, :, None]
    if raw.ndim != 3 or raw.shape[0] < 3 or raw.shape[1] < 3:
        raise ImageReadError(
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
        raise ConfigError(f"blurry_flags: ratio {ratio}; expected a value in (0, 1)")
    median = focus.groupby(plate).transform("median")
    return (focus < ratio * median).fillna(False).astype(bool)
