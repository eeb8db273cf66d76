"""Dose-response: 4-parameter logistic fits, EC50 with 95 % CI, trust flags and plots.

Model (x on a log scale, usually log10 concentration in µM):

    y(x) = bottom + (top - bottom) / (1 + 10 ** ((log_ec50 - x) * hill))

Fitted with :func:`scipy.optimize.curve_fit`; the 95 % CI of ``log_ec50`` is
``log_ec50 ± t(0.975, n - 4) * se`` with ``se`` from the covariance matrix.

Trust flags (a fit with any flag is not ``trusted``):

* ``too_few_points`` - fewer than 4 distinct doses or fewer than 5 points.
* ``fit_failed`` - the optimiser did not converge or the covariance is undefined.
* ``no_plateau`` - EC50 outside the tested dose range (neither plateau is sampled).
* ``no_response`` - |top - bottom| below ``min_span`` (flat curve).
* ``non_monotone`` - the per-dose medians reverse against their overall trend by more than
  ``MAX_REVERSAL`` (25 %) of their range (e.g. bell-shaped curves, or noise without a trend).
* ``ci_too_wide`` - the EC50 CI spans more than ``max_ci_log10`` log10 units (100-fold).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import optimize, stats

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.io import save_figure

MIN_DOSES = 4
MIN_POINTS = 5
MIN_SPAN = 0.1
MAX_CI_LOG10 = 2.0
MAX_REVERSAL = 0.25


def four_pl(x: np.ndarray, bottom: float, top: float, log_ec50: float, hill: float) -> np.ndarray:
    """4-parameter logistic at log-dose ``x`` (array, any shape); returns the same shape."""
    return bottom + (top - bottom) / (1.0 + np.power(10.0, (log_ec50 - x) * hill))


@dataclass
class PotencyFit:
    """Result of one 4PL fit. ``x`` units are those of the input (log10 µM, or dose index).

    ``hill`` >= 0; ``bottom`` is the low-dose plateau, ``top`` the high-dose plateau.
    """

    n_points: int
    n_doses: int
    bottom: float = float("nan")
    top: float = float("nan")
    log_ec50: float = float("nan")
    log_ec50_low: float = float("nan")
    log_ec50_high: float = float("nan")
    hill: float = float("nan")
    r2: float = float("nan")
    spearman_rho: float = float("nan")
    flags: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        """True when the fit has no trust flag."""
        return not self.flags


def fit_four_pl(
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_span: float = MIN_SPAN,
    max_ci_log10: float = MAX_CI_LOG10,
) -> PotencyFit:
    """Fit a 4PL to dose-response points.

    Parameters
    ----------
    x : array_like, shape (n,)
        Log-dose of each point (log10 µM, or a dose index on a log-spaced series).
    y : array_like, shape (n,)
        Response of each point (e.g. class probability in [0, 1], or a readout).
    min_span : float
        Smallest |top - bottom| counted as a response, in ``y`` units.
    max_ci_log10 : float
        Widest acceptable EC50 95 % CI, in log10 units of ``x``.

    Returns
    -------
    PotencyFit
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise AnalysisError(
            f"fit_four_pl: x shape {x.shape} and y shape {y.shape}; expected equal 1-D shapes"
        )
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    doses = np.unique(x)
    fit = PotencyFit(n_points=int(x.size), n_doses=int(doses.size))
    if doses.size < MIN_DOSES or x.size < MIN_POINTS:
        fit.flags.append("too_few_points")
        return fit
    medians = np.array([np.median(y[x == d]) for d in doses])
    fit.spearman_rho = float(stats.spearmanr(doses, medians).statistic)
    increasing = not fit.spearman_rho < 0
    lo, hi = float(doses.min()), float(doses.max())
    span_y = float(np.ptp(y)) or 1.0
    p0 = [
        medians[0],
        medians[-1],
        float(doses[np.argmin(np.abs(medians - (medians[0] + medians[-1]) / 2))]),
        1.0 if increasing else -1.0,
    ]
    width = hi - lo
    bounds = (
        [y.min() - span_y, y.min() - span_y, lo - width, -20.0],
        [y.max() + span_y, y.max() + span_y, hi + width, 20.0],
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, pcov = optimize.curve_fit(four_pl, x, y, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        fit.flags.append("fit_failed")
        return fit
    bottom, top, log_ec50, hill = (float(v) for v in popt)
    # The 4PL is unchanged by (bottom, top, hill) -> (top, bottom, -hill); report hill >= 0 so that
    # ``bottom`` is the low-dose plateau and ``top`` the high-dose plateau (top < bottom: falling).
    if hill < 0:
        bottom, top, hill = top, bottom, -hill
    fit.bottom, fit.top, fit.log_ec50, fit.hill = bottom, top, log_ec50, hill
    resid = y - four_pl(x, *popt)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    fit.r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    dof = x.size - 4
    se = float(np.sqrt(pcov[2, 2])) if np.all(np.isfinite(pcov)) and pcov[2, 2] >= 0 else float("nan")
    if not np.isfinite(se) or dof < 1:
        fit.flags.append("fit_failed")
    else:
        tcrit = float(stats.t.ppf(0.975, dof))
        fit.log_ec50_low, fit.log_ec50_high = log_ec50 - tcrit * se, log_ec50 + tcrit * se
        if fit.log_ec50_high - fit.log_ec50_low > max_ci_log10:
            fit.flags.append("ci_too_wide")
    if abs(fit.top - fit.bottom) < min_span:
        fit.flags.append("no_response")
    if not lo <= log_ec50 <= hi:
        fit.flags.append("no_plateau")
    if _reversal(medians, increasing) > MAX_REVERSAL:
        fit.flags.append("non_monotone")
    return fit


def _reversal(medians: np.ndarray, increasing: bool) -> float:
    """Largest step against the trend (from the running extreme), as a fraction of the range."""
    m = medians if increasing else -medians
    span = float(np.ptp(m))
    return float(np.max(np.maximum.accumulate(m) - m)) / span if span > 0 else 1.0


def potency_table(
    points: pd.DataFrame,
    *,
    group: str = "compound",
    x: str = "log10_concentration",
    y: str = "response",
    x_is_log10_conc: bool = True,
    progress: object | None = None,
) -> tuple[pd.DataFrame, dict[str, PotencyFit]]:
    """Fit a 4PL per group of dose-response points.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per well: ``group``, ``x`` (log dose), ``y`` (response) and optionally
        ``response_class`` (the class whose probability is ``y``).
    group, x, y : str
        Column names.
    x_is_log10_conc : bool
        True when ``x`` is log10 concentration in µM: EC50 and its CI are then reported in µM
        (``ec50_uM``); otherwise they are reported in ``x`` units (``ec50_x``).
    progress : callable, optional
        Called once per group (e.g. a rich progress ``advance``).

    Returns
    -------
    table : pandas.DataFrame
        One row per group: ``<group>, response_class, n_points, n_doses, bottom, top, hill,
        log_ec50, ec50_uM | ec50_x, ec50_low, ec50_high, r2, spearman_rho, trusted, flags``.
    fits : dict
        ``{group value: PotencyFit}``.
    """
    for col in (group, x, y):
        if col not in points.columns:
            raise AnalysisError(
                f"potency: column {col!r} missing from the dose-response points {list(points.columns)}"
            )
    rows, fits = [], {}
    for key, grp in points.groupby(group, sort=True):
        fit = fit_four_pl(grp[x].to_numpy(float), grp[y].to_numpy(float))
        fits[key] = fit
        d = asdict(fit)
        flags = d.pop("flags")
        row = {group: key}
        if "response_class" in grp.columns:
            row["response_class"] = grp["response_class"].iloc[0]
        row.update(d)
        conv = _from_log10 if x_is_log10_conc else (lambda v: v)
        name = "ec50_uM" if x_is_log10_conc else "ec50_x"
        row[name] = conv(fit.log_ec50)
        row["ec50_low"] = conv(fit.log_ec50_low)
        row["ec50_high"] = conv(fit.log_ec50_high)
        row["trusted"] = fit.trusted
        row["flags"] = ";".join(flags)
        rows.append(row)
        if progress is not None:
            progress()
    return pd.DataFrame(rows), fits


def _from_log10(value: float) -> float:
    """10**value in µM; an unbounded confidence limit becomes inf (or 0), never an overflow."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.power(10.0, value))


def plot_dose_response(
    xs: np.ndarray,
    ys: np.ndarray,
    fit: PotencyFit,
    path: str | Path,
    *,
    title: str,
    x_label: str = "log10 concentration (µM)",
    y_label: str = "response",
) -> Path:
    """Plot points, the fitted 4PL, the EC50 and its 95 % CI to a PNG.

    Parameters
    ----------
    xs, ys : array_like, shape (n,)
        Log dose and response of each point.
    fit : PotencyFit
    path : str or Path
        Output PNG (about 5x3.5 inches at 100 dpi).
    """
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    fig, ax = plt.subplots(figsize=(5.0, 3.5))
    ax.scatter(xs, ys, s=18, color="#1f77b4", alpha=0.8, label="wells")
    if np.isfinite(fit.log_ec50):
        grid = np.linspace(xs.min() - 0.25, xs.max() + 0.25, 200)
        ax.plot(
            grid, four_pl(grid, fit.bottom, fit.top, fit.log_ec50, fit.hill), color="#d62728", label="4PL fit"
        )
        ax.axvline(fit.log_ec50, color="#555555", linestyle="--", linewidth=1)
        if np.isfinite(fit.log_ec50_low):
            ax.axvspan(fit.log_ec50_low, fit.log_ec50_high, color="#999999", alpha=0.2, label="EC50 95% CI")
    status = "trusted" if fit.trusted else "flags: " + ", ".join(fit.flags)
    # the data set the x range: an unbounded EC50 or CI would otherwise squash the points
    ax.set_xlim(xs.min() - 0.3, xs.max() + 0.3)
    ax.set_title(f"{title}\n{status}", fontsize=9)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def fold_errors(table: pd.DataFrame, truth: pd.DataFrame, group: str = "compound") -> pd.DataFrame:
    """Compare fitted EC50s with true EC50s.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`potency_table` with ``ec50_uM``.
    truth : pandas.DataFrame
        ``compound, ec50_uM`` (as in ``truth_compounds.csv`` of ``hcs synth``).

    Returns
    -------
    pandas.DataFrame
        ``compound, ec50_uM, true_ec50_uM, fold_error, trusted`` where
        ``fold_error = 10 ** |log10(fit / true)|`` (1 = exact).
    """
    for col in (group, "ec50_uM"):
        if col not in truth.columns:
            raise AnalysisError(f"truth table: column {col!r} missing; expected compound, ec50_uM")
    merged = table[[group, "ec50_uM", "trusted"]].merge(
        truth[[group, "ec50_uM"]].rename(columns={"ec50_uM": "true_ec50_uM"}), on=group, how="inner"
    )
    merged["fold_error"] = 10.0 ** np.abs(np.log10(merged["ec50_uM"] / merged["true_ec50_uM"]))
    return merged
