"""The 4-parameter logistic, its least-squares profile over log EC50 and the fit.

Model (x on a log scale, usually log10 concentration in µM):

    y(x) = bottom + (top - bottom) / (1 + 10 ** ((log_ec50 - x) * hill))

``bottom`` and ``top`` enter linearly: for a given ``(log_ec50, hill)`` they are a box-bounded
linear least-squares problem with a closed-form solution, so the RSS over a whole grid of
``(log_ec50, hill)`` is one vectorised computation (:func:`profile_rss`). The profile
``RSS(log_ec50)`` (:func:`profile`) minimises it over ``|hill| <= max_hill``; the least-squares
fit (:func:`least_squares_fit`, :func:`scipy.optimize.curve_fit` with bounds) starts from the
grid's best point; :func:`profile_interval` finds where the profile crosses an F threshold
(:func:`scipy.optimize.brentq`). The rules built on them are in :mod:`mcnn_infer.analysis.potency`.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import optimize, special

#: Profile grid: hill magnitudes (log-spaced from MIN_GRID_HILL to the bound), then a finer grid
#: of FINE_HILL_POINTS around each log_ec50's best hill.
HILL_POINTS = 24
FINE_HILL_POINTS = 9
MIN_GRID_HILL = 0.1
LN10 = float(np.log(10.0))


def four_pl(x: np.ndarray, bottom: float, top: float, log_ec50: float, hill: float) -> np.ndarray:
    """4-parameter logistic at log-dose ``x`` (array, any shape); returns the same shape."""
    return bottom + (top - bottom) * special.expit(LN10 * (x - log_ec50) * hill)


def four_pl_jac(x: np.ndarray, bottom: float, top: float, log_ec50: float, hill: float) -> np.ndarray:
    """Jacobian of :func:`four_pl` with respect to ``(bottom, top, log_ec50, hill)``, shape (n, 4)."""
    f = special.expit(LN10 * (x - log_ec50) * hill)
    df = (top - bottom) * f * (1 - f) * LN10
    return np.stack([1 - f, f, -df * hill, df * (x - log_ec50)], axis=-1)


def plateau_bounds(y: np.ndarray) -> tuple[float, float]:
    """Bounds of ``bottom`` and ``top``: the response range widened by itself on both sides."""
    span = float(np.ptp(y)) or 1.0
    return float(y.min()) - span, float(y.max()) + span


def profile_rss(
    x: np.ndarray, y: np.ndarray, log_ec50: np.ndarray, hill: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residual sum of squares of the best 4PL at every ``(log_ec50, hill)`` of a grid.

    ``bottom`` and ``top`` enter the model linearly, ``y = bottom * (1 - f) + top * f``: for each
    grid point they are the least-squares solution within :func:`plateau_bounds` (a box-bounded
    linear problem of two unknowns: the unconstrained solution when it lies in the box, else the
    best of the four edges, each solved in closed form), so the whole grid is one vectorised
    computation.

    Parameters
    ----------
    x, y : numpy.ndarray, shape (n,)
        Log dose and response of each point.
    log_ec50 : numpy.ndarray, shape (C,)
    hill : numpy.ndarray, shape (H,) or (C, H)
        Hill values, the same for every ``log_ec50`` or one row per ``log_ec50``.

    Returns
    -------
    rss, bottom, top : numpy.ndarray, shape (C, H)
        RSS in ``y`` units squared and the plateaus that give it.
    """
    hill = np.broadcast_to(hill, (log_ec50.size, hill.shape[-1]))
    f = special.expit(LN10 * (x[None, None, :] - log_ec50[:, None, None]) * hill[:, :, None])
    lower, upper = plateau_bounds(y)
    s_f, s_ff, s_fy = f.sum(axis=-1), np.einsum("chn,chn->ch", f, f), f @ y
    s_gf, s_gg, s_gy = s_f - s_ff, x.size - 2 * s_f + s_ff, y.sum() - s_fy
    syy = float(y @ y)

    def rss_of(b: np.ndarray, t: np.ndarray) -> np.ndarray:
        return syy - 2 * b * s_gy - 2 * t * s_fy + b * b * s_gg + 2 * b * t * s_gf + t * t * s_ff

    with np.errstate(divide="ignore", invalid="ignore"):
        det = s_gg * s_ff - s_gf**2
        b0 = (s_gy * s_ff - s_fy * s_gf) / det
        t0 = (s_fy * s_gg - s_gy * s_gf) / det
        interior = (det > 1e-12 * x.size**2) & (b0 >= lower) & (b0 <= upper) & (t0 >= lower) & (t0 <= upper)
        candidates = [(np.where(interior, b0, lower), np.where(interior, t0, lower))]
        for edge in (lower, upper):
            t_edge = np.clip((s_fy - edge * s_gf) / np.where(s_ff > 0, s_ff, np.inf), lower, upper)
            b_edge = np.clip((s_gy - edge * s_gf) / np.where(s_gg > 0, s_gg, np.inf), lower, upper)
            candidates += [(np.full_like(t_edge, edge), t_edge), (b_edge, np.full_like(b_edge, edge))]
    rss = np.stack([rss_of(b, t) for b, t in candidates])
    pick = np.argmin(rss, axis=0)[None]
    bottom = np.take_along_axis(np.stack([b for b, _ in candidates]), pick, 0)[0]
    top = np.take_along_axis(np.stack([t for _, t in candidates]), pick, 0)[0]
    return np.maximum(np.take_along_axis(rss, pick, 0)[0], 0.0), bottom, top


@functools.lru_cache(maxsize=8)
def _hill_grids(max_hill: float) -> tuple[np.ndarray, np.ndarray]:
    """Hill values of the profile grid, log-spaced magnitudes of both signs, shape
    (2 * HILL_POINTS,), and the factors of the finer grid around a best value, shape (FINE_HILL_POINTS,)."""
    mags = np.geomspace(min(MIN_GRID_HILL, max_hill / 10), max_hill, HILL_POINTS)
    ratio = mags[-1] / mags[-2]
    return np.concatenate([-mags[::-1], mags]), np.geomspace(1 / ratio, ratio, FINE_HILL_POINTS)


def profile(
    x: np.ndarray, y: np.ndarray, log_ec50: np.ndarray, max_hill: float
) -> tuple[np.ndarray, np.ndarray]:
    """The RSS profile: for every ``log_ec50`` the smallest RSS over bottom, top and
    ``|hill| <= max_hill`` (a log-spaced hill grid, then a finer one around its best point).

    Parameters
    ----------
    x, y : numpy.ndarray, shape (n,)
    log_ec50 : numpy.ndarray, shape (C,)
    max_hill : float

    Returns
    -------
    rss : numpy.ndarray, shape (C,)
    start : numpy.ndarray, shape (4,)
        ``(bottom, top, log_ec50, hill)`` of the smallest RSS.
    """
    coarse, factors = _hill_grids(float(max_hill))
    rss, _, _ = profile_rss(x, y, log_ec50, coarse)
    fine = np.clip(coarse[np.argmin(rss, axis=1)][:, None] * factors, -max_hill, max_hill)
    rss, bottom, top = profile_rss(x, y, log_ec50, fine)
    c, h = np.unravel_index(int(np.argmin(rss)), rss.shape)
    return rss.min(axis=1), np.array([bottom[c, h], top[c, h], log_ec50[c], fine[c, h]])


def profile_interval(
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    prof: np.ndarray,
    thr: float,
    c_hat: float,
    max_hill: float,
) -> tuple[float, float, bool, bool] | None:
    """The log_ec50 interval of the tested range ``grid[0]..grid[-1]`` where the profile ``prof``
    (on ``grid``) is at or below ``thr``, and whether it is open at the low / high end; None when
    it is empty.

    The grid brackets the ends (the hull of the grid points below ``thr``, with the estimate
    ``c_hat`` when it lies in the range); :func:`scipy.optimize.brentq` finds the crossings.
    """

    def excess(c: float) -> float:
        return float(profile(x, y, np.array([c]), max_hill)[0][0]) - thr

    inside = list(grid[prof <= thr])
    if grid[0] <= c_hat <= grid[-1] and excess(c_hat) <= 0:
        inside.append(c_hat)
    if not inside:
        return None
    low, high = min(inside), max(inside)
    ends = []
    for end, outside in ((low, grid[grid < low]), (high, grid[grid > high])):
        if outside.size == 0:
            ends.append(end)
            continue
        out = outside.max() if end == low else outside.min()
        if excess(out) <= 0:  # the grid's value was above the threshold by rounding only
            ends.append(float(out))
            continue
        ends.append(float(optimize.brentq(excess, out, end, xtol=2e-3)))
    return ends[0], ends[1], low == grid[0], high == grid[-1]


def least_squares_fit(
    x: np.ndarray, y: np.ndarray, start: np.ndarray, max_hill: float
) -> tuple[float, float, float, float] | None:
    """Bounded least-squares 4PL fit from ``start`` (the grid's best point).

    Parameters
    ----------
    x, y : numpy.ndarray, shape (n,)
    start : numpy.ndarray, shape (4,)
        ``(bottom, top, log_ec50, hill)``.
    max_hill : float
        Bound of |hill|; the plateaus are bounded by :func:`plateau_bounds`, log_ec50 by the dose
        range widened by itself.

    Returns
    -------
    tuple or None
        ``(bottom, top, log_ec50, hill)`` with ``hill >= 0`` (``bottom`` the low-dose plateau,
        ``top`` the high-dose one); None when the optimiser fails.
    """
    lo, hi = float(x.min()), float(x.max())
    width = hi - lo
    lower, upper = plateau_bounds(y)
    bounds = ([lower, lower, lo - width, -max_hill], [upper, upper, hi + width, max_hill])
    p0 = np.clip(np.asarray(start, float), bounds[0], bounds[1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = optimize.curve_fit(four_pl, x, y, p0=p0, bounds=bounds, jac=four_pl_jac, max_nfev=2000)
    except (RuntimeError, ValueError):
        return None
    bottom, top, log_ec50, hill = (float(v) for v in popt)
    # The 4PL is unchanged by (bottom, top, hill) -> (top, bottom, -hill); report hill >= 0 so that
    # ``bottom`` is the low-dose plateau and ``top`` the high-dose plateau (top < bottom: falling).
    if hill < 0:
        bottom, top, hill = top, bottom, -hill
    return bottom, top, log_ec50, hill
