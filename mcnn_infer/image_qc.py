"""Image QC of single fields, computed while scoring: nearly empty, saturated, out of focus.

Three cheap measures per field (a few ms on a 1024x1280x3 field):

* ``fg_fraction`` - fraction of pixels brighter than ``median + 5 * 1.4826 * MAD`` of their
  channel (robust background + 5 noise sigma), maximum over channels, on a 4x subsample.
  A field is *nearly empty* when it is below 0.5 %.
* ``sat_fraction`` - fraction of pixels at the saturation value (the dtype maximum for
  integer images, 1.0 for float images), maximum over channels. *Saturated* above 1 %.
* ``focus`` - variance of the 4-neighbour Laplacian divided by the variance of the image
  (scale free) on a 2x subsample, mean over channels (variances from float64 sums for integer
  pixels). A field is *out of focus* when its focus is below ``blur_ratio`` (0.3) times the
  median focus of its plate (:func:`blurry_flags`).

The scorer calls :func:`image_qc` on every raw field and :func:`blurry_flags` on every plate;
the analysis summarises the flags (:func:`mcnn_infer.analysis.qc.field_qc_summary`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd

from mcnn_infer.errors import ConfigError, ImageReadError

EMPTY_FG_FRACTION = 0.005
SATURATED_FRACTION = 0.01
BLUR_RATIO = 0.3
_STATS_STEP = 4
_FOCUS_STEP = 2


def _planes(raw: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """The (H, W) channel planes of an (H, W) or (H, W, C) field, or of a sequence of planes."""
    if isinstance(raw, (list, tuple)):
        planes = [np.asarray(p) for p in raw]
        shapes = {p.shape for p in planes}
        dtypes = {p.dtype for p in planes}
        if not planes or len(shapes) != 1 or len(dtypes) != 1 or planes[0].ndim != 2:
            raise ImageReadError(
                f"image_qc: planes of shapes {sorted(shapes)} and dtypes {sorted(map(str, dtypes))}; "
                "expected one or more (H, W) planes alike"
            )
        shape = planes[0].shape
    else:
        raw = np.asarray(raw)
        if raw.ndim == 2:
            raw = raw[:, :, None]
        shape = raw.shape
        planes = [raw[:, :, c] for c in range(raw.shape[2])] if raw.ndim == 3 else []
    if len(shape) not in (2, 3) or shape[0] < 3 or shape[1] < 3:
        raise ImageReadError(f"image_qc: field of shape {shape}; expected (H, W) or (H, W, C) with H, W >= 3")
    return planes


def saturation_value(dtype: np.dtype) -> float:
    """Value counted as saturated: the dtype maximum for integers, 1.0 for floats."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


#: Noise sigmas above the background median that count a pixel as foreground (robust sigma = 1.4826 MAD).
_FG_SIGMAS = 5.0


def _order_statistic_median(cum: np.ndarray, n: int) -> float:
    """Median of ``n`` values from the cumulative counts ``cum`` of their integer values 0, 1, ...: the mean of
    order statistics (n - 1) // 2 and n // 2 (0-based), the smallest values whose count exceeds them."""
    low, high = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
    return (int(low) + int(high)) / 2


def _counted_stats(values: np.ndarray) -> tuple[int, int, int, float]:
    """Foreground and saturated pixel counts of 1-D integer camera counts (uint8/uint16), from one histogram.

    The median, the MAD (|v - median| is a multiple of 0.5: the median of ``|2v - 2 median|``, folded from
    the same histogram, halved), the threshold ``median + 5 * 1.4826 * max(MAD, 0.5)`` compared in
    float32 as the float path compares it, and the count at the dtype maximum: the numbers
    :func:`_float_stats` gives on the same pixels, without another pass over them.

    Returns
    -------
    (int, int, int, float)
        Pixels above the threshold, pixels at the saturation value, pixels, their median.
    """
    n = values.size
    hist = np.bincount(values)  # up to the largest value present (12-bit cameras: 4096 bins)
    med = _order_statistic_median(np.cumsum(hist), n)
    twice_med = round(2 * med)  # an integer: the sum of two order statistics
    distance = np.abs(2 * np.arange(hist.size, dtype=np.int64) - twice_med)
    folded = np.bincount(distance, weights=hist).astype(np.int64)
    mad = _order_statistic_median(np.cumsum(folded), n) / 2
    thr = np.float32(med + _FG_SIGMAS * 1.4826 * max(mad, 0.5))
    above = int(hist[int(np.floor(thr)) + 1 :].sum()) if thr < hist.size - 1 else 0
    top = int(np.iinfo(values.dtype).max)
    return above, int(hist[top]) if hist.size > top else 0, n, med


def _float_stats(sub: np.ndarray, sat: float, min_mad: float) -> tuple[int, int, int]:
    """:func:`_counted_stats` of 1-D float32 pixels (partition medians; the MAD at least ``min_mad``):
    foreground, saturated, pixels."""
    med = float(np.median(sub))
    mad = float(np.median(np.abs(sub - med)))
    thr = med + _FG_SIGMAS * 1.4826 * max(mad, min_mad)
    return int(np.count_nonzero(sub > thr)), int(np.count_nonzero(sub >= sat)), sub.size


#: The 4-neighbour Laplacian as a 3x3 kernel.
_LAPLACIAN = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.float32)


def _laplacian(x: np.ndarray, exact: bool) -> np.ndarray:
    """``4 x[i, j] - x[i-1, j] - x[i+1, j] - x[i, j-1] - x[i, j+1]`` of the interior of a float32 (H, W) plane.

    With ``exact`` (integer pixel values below 2**17: every sum is exact in float32) one OpenCV filter pass
    gives the same numbers as numpy's five-term expression, about a third of its time; else numpy's.
    """
    if exact:
        return cv2.filter2D(x, cv2.CV_32F, _LAPLACIAN)[1:-1, 1:-1]
    return 4.0 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]


def _variance(x: np.ndarray) -> float:
    """Variance of the values of a float32 (H, W) plane (row strides allowed) from one pass of float64
    sums (OpenCV's ``sumElems`` and squared L2 norm).

    Exact to about 1e-16 of the mean square for integer-valued planes, so they should be centred:
    :func:`image_qc` subtracts the median from the pixels (the mean square is then at most twice the
    variance), and their Laplacian's mean is its border terms, small next to its spread."""
    n = x.size
    mean = cv2.sumElems(x)[0] / n
    return max(cv2.norm(x, cv2.NORM_L2SQR) / n - mean * mean, 0.0)


def image_qc(raw: np.ndarray | Sequence[np.ndarray]) -> dict[str, float | bool]:
    """Cheap image-QC measures of one raw field.

    Parameters
    ----------
    raw : numpy.ndarray, shape (H, W, C) or (H, W), or a sequence of (H, W) planes
        Raw intensities in native dtype (uint8 / uint16 / float32), channels last (or one
        plane per channel, as :func:`mcnn_infer.images.read_planes` returns them: same numbers).

    Returns
    -------
    dict
        ``fg_fraction`` (0..1), ``sat_fraction`` (0..1), ``focus`` (>= 0, scale free),
        ``qc_empty`` (bool), ``qc_saturated`` (bool). Out-of-focus needs the plate context:
        see :func:`blurry_flags`.
    """
    planes = _planes(raw)
    dtype = planes[0].dtype
    sat = saturation_value(dtype)
    counted = dtype in (np.uint8, np.uint16)  # exact medians from histograms
    fg, sat_frac, focus = 0.0, 0.0, []
    for ch in planes:
        # one float32 copy per channel: the 2x subsample for focus; the statistics are on the 4x one
        # (every other pixel of it: ch[::4, ::4]), from its histogram for integer pixels
        if counted:
            fg_count, sat_count, n, median = _counted_stats(ch[::_STATS_STEP, ::_STATS_STEP].ravel())
            # focus does not change with an offset; the integer part of the median keeps the values
            # integers (exact in float32) and their float64 sums free of cancellation
            x = np.subtract(ch[::_FOCUS_STEP, ::_FOCUS_STEP], np.float32(int(median)), dtype=np.float32)
        else:
            x = ch[::_FOCUS_STEP, ::_FOCUS_STEP].astype(np.float32)
            fg_count, sat_count, n = _float_stats(
                x[:: _STATS_STEP // _FOCUS_STEP, :: _STATS_STEP // _FOCUS_STEP].ravel(),
                sat,
                1e-6 if dtype.kind == "f" else 0.5,
            )
        fg = max(fg, float(fg_count) / n)
        sat_frac = max(sat_frac, float(sat_count) / n)
        lap = _laplacian(x, exact=counted)
        if counted:  # one pass of float64 sums each instead of numpy's float32 passes and temporaries
            var, lap_var = _variance(x), _variance(lap)
        else:
            var, lap_var = float(x.var()), float(lap.var())
        focus.append(lap_var / var if var > 0 else 0.0)
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
