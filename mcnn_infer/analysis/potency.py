"""Dose-response: 4-parameter logistic fits, qualified EC50s with profile-likelihood 95 % CIs,
trust rules and plots.

Model (x on a log scale, usually log10 concentration in µM):

    y(x) = bottom + (top - bottom) / (1 + 10 ** ((log_ec50 - x) * hill))

Fit (:mod:`mcnn_infer.analysis.fourpl`)
    Least squares (:func:`scipy.optimize.curve_fit`, bounded) with ``|hill| <= max_hill``
    (default :data:`MAX_HILL` = 5; ``hcs analyze --max-hill``), started from the best point of a
    grid over ``(log_ec50, hill)`` on which ``bottom`` and ``top`` are solved in closed form (they
    enter the model linearly), so a steep curve does not end in a local minimum. Nothing in the
    data bounds the slope of a curve whose transition falls between two tested doses; the bound
    keeps it finite. A fit at the bound (``|hill| >= 0.98 max_hill``) is marked ``steep``, which by
    itself does not make it untrusted.

95 % confidence interval of the EC50 (``ci_method``)
    ``profile``: the residual sum of squares RSS(log_ec50) is profiled over the tested range with
    bottom, top and hill re-fitted at every log_ec50; the interval holds the log_ec50 with
    ``RSS <= RSS_min * (1 + F(0.95; 1, n - 4) / (n - 4))`` (the F test of nonlinear regression;
    Bates & Watts 1988, ch. 6). It is bounded by the tested range: when the profile is still
    below the threshold at the lowest or highest dose, the interval ends there and the fit is
    flagged ``ci_open`` (the data do not rule out an EC50 outside the range).
    ``profile+doses`` (the transition is not measured): when the fit is steep, or fewer than
    :data:`MIN_TRANSITION_DOSES` (2) tested doses lie inside the fitted transition (fraction of
    it between 0.1 and 0.9), the shape of the curve between the doses is the model's assumption,
    not data (any steeper curve fits as well). The interval is then widened to reach the
    highest tested dose below the EC50 still on the low-dose plateau (fraction <= 0.1) and the
    lowest dose above it on the high-dose plateau (fraction >= 0.9): a steep curve with one
    dose in the transition gets the interval between that dose's neighbours, not infinity.

Qualified EC50 (``ec50_qualifier``)
    ``=`` when the fitted EC50 lies in the tested range. ``>`` (reported at the highest dose): no
    transition within the tested range - the fitted EC50 lies above it, or the curve is flat
    (``no_response``), or no dose is a hit against the negative controls. ``<`` (reported at the
    lowest dose): already at the top at the lowest dose - the fitted EC50 lies below it, or every
    dose is a hit. A dose is a hit when its median lies beyond :data:`HIT_SD` (3) standard
    deviations of the negative controls (``baseline``, known to ``hcs analyze``, the translocation
    readout and ``hcs compare``; without it a flat curve is reported ``>``). The interval of a
    qualified EC50 reaches its bound. Reported EC50s and CIs never leave the tested range.

Trusted (the data pin the EC50): a fit is ``trusted`` when it has none of these flags:

* ``too_few_points`` - fewer than :data:`MIN_DOSES` (4) distinct doses or :data:`MIN_POINTS` (5) points.
* ``fit_failed`` - the optimiser failed.
* ``no_response`` - no transition: |top - bottom| below ``min_span``, or the 4PL is not better
  than a flat line (F test, p >= 0.05).
* ``non_monotone`` - the per-dose medians reverse against their overall trend by more than
  :data:`MAX_REVERSAL` (25 %) of their range (e.g. bell-shaped curves, or noise without a trend).
* ``no_plateau`` - a plateau is not seen: the fitted curve has covered less than
  :data:`PLATEAU_FRACTION` (80 %) of its transition at the highest dose, or more than 20 % at
  the lowest.
* ``qualified`` - the EC50 is ``>`` or ``<`` (outside the tested range).
* ``ci_open`` - the 95 % CI reaches the end of the tested range.
* ``ci_too_wide`` - the 95 % CI spans more than ``max_ci_log10`` log10 units (100-fold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special, stats

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.fourpl import LN10, four_pl, least_squares_fit, profile, profile_interval
from mcnn_infer.analysis.io import save_figure

MIN_DOSES = 4
MIN_POINTS = 5
MIN_SPAN = 0.1
MAX_CI_LOG10 = 2.0
MAX_REVERSAL = 0.25
#: Default bound of |hill| (``hcs analyze --max-hill``).
MAX_HILL = 5.0
#: A fit with |hill| at or above this fraction of the bound is ``steep``.
STEEP_FRACTION = 0.98
#: Fraction of its transition the fitted curve must have covered at the highest dose (and at most
#: ``1 -`` this at the lowest) for both plateaus to count as seen.
PLATEAU_FRACTION = 0.8
#: Fraction of the transition below which (and above ``1 -`` which) a dose is on a plateau.
TRANSITION = 0.1
#: Doses inside the transition needed for its shape to be measured; with fewer (or a steep fit)
#: the interval reaches the doses around the transition.
MIN_TRANSITION_DOSES = 2
#: A dose whose median lies beyond this many standard deviations of the negative controls is a hit.
HIT_SD = 3.0
CI_LEVEL = 0.95
#: P value of the F test (4PL against a flat line) below which a curve has a response.
RESPONSE_P = 0.05
CI_PROFILE = "profile"
CI_STEEP = "profile+doses"
#: The trust flags, in the order they are reported (module docstring).
FLAGS = (
    "too_few_points",
    "fit_failed",
    "no_response",
    "non_monotone",
    "no_plateau",
    "qualified",
    "ci_open",
    "ci_too_wide",
)
#: Profile grid of log_ec50: points across the tested range, and (coarser) up to one range beyond.
PROFILE_POINTS = 61
OUTER_POINTS = 12


@dataclass
class PotencyFit:
    """Result of one 4PL fit. ``x`` units are those of the input (log10 µM, or dose index).

    ``hill`` >= 0; ``bottom`` is the low-dose plateau, ``top`` the high-dose plateau.
    ``log_ec50`` is the reported EC50: the fitted one when ``ec50_qualifier`` is ``=``, else the
    bound of the tested range it lies beyond; ``log_ec50_fit`` is the curve's own parameter (may
    lie outside the range; :meth:`curve` uses it). ``log_ec50_low`` / ``log_ec50_high`` bound the
    95 % CI within the tested range (method ``ci_method``).
    """

    n_points: int
    n_doses: int
    bottom: float = float("nan")
    top: float = float("nan")
    hill: float = float("nan")
    log_ec50: float = float("nan")
    ec50_qualifier: str = ""
    log_ec50_low: float = float("nan")
    log_ec50_high: float = float("nan")
    ci_method: str = ""
    steep: bool = False
    max_hill: float = MAX_HILL
    log_ec50_fit: float = float("nan")
    r2: float = float("nan")
    spearman_rho: float = float("nan")
    flags: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        """True when the fit has no trust flag (see the module docstring)."""
        return not self.flags

    def curve(self, x: np.ndarray) -> np.ndarray:
        """The fitted curve at log-dose ``x`` (any shape); NaN when there is no fit."""
        return four_pl(np.asarray(x, float), self.bottom, self.top, self.log_ec50_fit, self.hill)


def _reversal(medians: np.ndarray, increasing: bool) -> float:
    """Largest step against the trend (from the running extreme), as a fraction of the range."""
    m = medians if increasing else -medians
    span = float(np.ptp(m))
    return float(np.max(np.maximum.accumulate(m) - m)) / span if span > 0 else 1.0


def _transition_doses(doses: np.ndarray, fit: PotencyFit) -> tuple[float | None, float | None, int]:
    """The doses around the fitted transition: the highest below the EC50 still on the low-dose
    plateau (fraction <= :data:`TRANSITION`), the lowest above it on the high-dose plateau (None
    where there is none), and how many doses lie in the transition between them."""
    frac = special.expit(LN10 * (doses - fit.log_ec50_fit) * fit.hill)
    below = doses[(doses < fit.log_ec50_fit) & (frac <= TRANSITION)]
    above = doses[(doses > fit.log_ec50_fit) & (frac >= 1 - TRANSITION)]
    n_in = int(((frac > TRANSITION) & (frac < 1 - TRANSITION)).sum())
    return (float(below.max()) if below.size else None, float(above.min()) if above.size else None, n_in)


def _hits(medians: np.ndarray, baseline: tuple[float, float] | None) -> np.ndarray | None:
    """Per dose: is its median a hit, beyond :data:`HIT_SD` standard deviations of the negative
    controls (on either side)? None without a usable baseline."""
    if baseline is None or not (np.isfinite(baseline[0]) and np.isfinite(baseline[1]) and baseline[1] > 0):
        return None
    return np.abs(medians - baseline[0]) > HIT_SD * baseline[1]


def fit_four_pl(
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_span: float = MIN_SPAN,
    max_ci_log10: float = MAX_CI_LOG10,
    max_hill: float = MAX_HILL,
    baseline: tuple[float, float] | None = None,
) -> PotencyFit:
    """Fit a 4PL to dose-response points; EC50 with qualifier, 95 % CI and trust flags.

    Parameters
    ----------
    x : array_like, shape (n,)
        Log-dose of each point (log10 µM, or a dose index on a log-spaced series).
    y : array_like, shape (n,)
        Response of each point (e.g. class log-odds or probability, or a readout).
    min_span : float
        Smallest |top - bottom| counted as a response, in ``y`` units.
    max_ci_log10 : float
        Widest acceptable EC50 95 % CI, in log10 units of ``x``.
    max_hill : float
        Bound of |hill| (> 0).
    baseline : (float, float), optional
        Mean and standard deviation of the response of the negative controls (untreated wells),
        in ``y`` units (:func:`control_baseline`): they tell a flat curve that is active at every
        dose (``<``) from an inactive one (``>``).

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
    if not max_hill > 0:
        raise AnalysisError(f"fit_four_pl: max_hill {max_hill!r}; expected a number > 0")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    doses = np.unique(x)
    fit = PotencyFit(n_points=int(x.size), n_doses=int(doses.size), max_hill=float(max_hill))
    if doses.size < MIN_DOSES or x.size < MIN_POINTS:
        fit.flags.append("too_few_points")
        return fit
    medians = np.array([np.median(y[x == d]) for d in doses])
    fit.spearman_rho = float(stats.spearmanr(doses, medians).statistic)
    lo, hi = float(doses[0]), float(doses[-1])
    beyond = np.linspace(0, hi - lo, OUTER_POINTS + 1)[1:]
    grid = np.concatenate([lo - beyond[::-1], np.linspace(lo, hi, PROFILE_POINTS), hi + beyond])
    rss, start = profile(x, y, grid, max_hill)
    params = least_squares_fit(x, y, start, max_hill)
    if params is None:
        fit.flags.append("fit_failed")
        return fit
    fit.bottom, fit.top, fit.log_ec50_fit, fit.hill = params
    fit.steep = bool(fit.hill >= STEEP_FRACTION * max_hill)
    resid = y - fit.curve(x)
    syy = float(((y - y.mean()) ** 2).sum())
    fit.r2 = 1.0 - float(resid @ resid) / syy if syy > 0 else float("nan")
    rss_min, dof = min(float(resid @ resid), float(rss.min())), x.size - 4
    # no response: the 4PL is no better than a flat line (F test), or its span is negligible
    flat = syy <= 0 or (
        rss_min > 0 and stats.f.sf(((syy - rss_min) / 3) / (rss_min / dof), 3, dof) >= RESPONSE_P
    )
    if flat or abs(fit.top - fit.bottom) < min_span:
        fit.flags.append("no_response")
    tested = slice(OUTER_POINTS, OUTER_POINTS + PROFILE_POINTS)
    thr = rss_min * (1 + stats.f.ppf(CI_LEVEL, 1, dof) / dof) + 1e-12 * syy
    interval = profile_interval(x, y, grid[tested], rss[tested], thr, fit.log_ec50_fit, max_hill)
    hits = _hits(medians, baseline)
    _set_interval(fit, doses, interval, _qualifier(fit, lo, hi, hits))
    _trust_flags(fit, medians, hits, (lo, hi), max_ci_log10)
    return fit


def _qualifier(fit: PotencyFit, lo: float, hi: float, hits: np.ndarray | None) -> str:
    """``=``, ``>`` or ``<`` (module docstring): from the fitted EC50's side of the tested range
    ``lo..hi``, or, for a flat curve or one inactive / active at every dose, from the ``hits``."""
    if "no_response" in fit.flags:
        return "<" if hits is not None and hits.all() else ">"
    if lo <= fit.log_ec50_fit <= hi:
        return "="
    if hits is not None and not hits.any():  # the tail of a curve, but inactive at every dose
        return ">"
    if hits is not None and hits.all():
        return "<"
    return ">" if fit.log_ec50_fit > hi else "<"


def _set_interval(
    fit: PotencyFit,
    doses: np.ndarray,
    interval: tuple[float, float, bool, bool] | None,
    qualifier: str,
) -> None:
    """Store the reported EC50, its qualifier and 95 % CI (``ci_method``) in ``fit``; add
    ``ci_open`` when the interval reaches an end of the tested range that the data do not close."""
    lo, hi, c_hat = float(doses[0]), float(doses[-1]), fit.log_ec50_fit
    if interval is None:  # the profile excludes the whole tested range: the EC50 lies beyond it
        bound = hi if c_hat > hi else lo
        interval = (bound, bound, bound == lo, bound == hi)
    low, high, open_low, open_high = interval
    fit.ci_method = CI_PROFILE
    below, above, n_transition = _transition_doses(doses, fit)
    if fit.steep or n_transition < MIN_TRANSITION_DOSES:
        fit.ci_method = CI_STEEP
        low = min(low, below if below is not None else lo)
        high = max(high, above if above is not None else hi)
        open_low, open_high = open_low or below is None, open_high or above is None
    # a qualified EC50 is reported at its bound; its interval is the part of the profile's next to it
    if qualifier == ">":
        low, high = (low if open_high else hi), hi
    elif qualifier == "<":
        low, high = lo, (high if open_low else lo)
    fit.ec50_qualifier = qualifier
    fit.log_ec50 = {"=": float(np.clip(c_hat, lo, hi)), ">": hi, "<": lo}[qualifier]
    fit.log_ec50_low, fit.log_ec50_high = low, high
    if open_low or open_high:
        fit.flags.append("ci_open")


def _trust_flags(
    fit: PotencyFit,
    medians: np.ndarray,
    hits: np.ndarray | None,
    tested: tuple[float, float],
    max_ci_log10: float,
) -> None:
    """Add the flags ``non_monotone``, ``no_plateau``, ``qualified`` and ``ci_too_wide`` (module
    docstring) and put the flags in the documented order."""
    if _reversal(medians, not fit.spearman_rho < 0) > MAX_REVERSAL:
        fit.flags.append("non_monotone")
    frac = special.expit(LN10 * (np.asarray(tested) - fit.log_ec50_fit) * fit.hill)
    low_missing = frac[0] > 1 - PLATEAU_FRACTION or (hits is not None and bool(hits[0]))
    if "no_response" not in fit.flags and (low_missing or frac[1] < PLATEAU_FRACTION):
        fit.flags.append("no_plateau")
    if fit.ec50_qualifier != "=":
        fit.flags.append("qualified")
    if fit.log_ec50_high - fit.log_ec50_low > max_ci_log10 + 1e-9:
        fit.flags.append("ci_too_wide")
    fit.flags.sort(key=FLAGS.index)


def control_baseline(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (ddof 1) of the finite negative-control responses, shape (n,);
    NaNs when fewer than 2 are finite. The ``baseline`` of :func:`fit_four_pl`."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1))


#: Columns of :func:`potency_table`'s points holding each group's negative-control baseline (optional).
BASELINE_COLUMNS = ("baseline_mean", "baseline_sd")


def baseline_columns(negative_values: np.ndarray) -> dict[str, float]:
    """``{baseline_mean, baseline_sd}`` of the negative controls' responses (:func:`control_baseline`),
    to add to the dose-response points of :func:`potency_table`."""
    return dict(zip(BASELINE_COLUMNS, control_baseline(negative_values), strict=True))


def potency_table(
    points: pd.DataFrame,
    *,
    group: str = "compound",
    x: str = "log10_concentration",
    y: str = "response",
    x_is_log10_conc: bool = True,
    max_hill: float = MAX_HILL,
    progress: object | None = None,
) -> tuple[pd.DataFrame, dict[str, PotencyFit]]:
    """Fit a 4PL per group of dose-response points.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per well: ``group``, ``x`` (log dose), ``y`` (response) and optionally
        ``response_class`` (the class whose readout is ``y``) and :data:`BASELINE_COLUMNS`
        (the group's negative-control mean and standard deviation, see :func:`control_baseline`).
    group, x, y : str
        Column names.
    x_is_log10_conc : bool
        True when ``x`` is log10 concentration in µM: EC50 and its CI are then reported in µM
        (``ec50_uM``); otherwise they are reported in ``x`` units (``ec50_x``).
    max_hill : float
        Bound of |hill| (see :func:`fit_four_pl`).
    progress : callable, optional
        Called once per group (e.g. a rich progress ``advance``).

    Returns
    -------
    table : pandas.DataFrame
        One row per group: ``<group>, response_class, n_points, n_doses, bottom, top, hill,
        log_ec50, ec50_qualifier, ec50_uM | ec50_x, ec50_low, ec50_high, ci_method, steep,
        max_hill, log_ec50_fit, r2, spearman_rho, trusted, flags``; the EC50 and its CI lie in
        the tested range (``ec50_qualifier`` ``>`` / ``<``: the value is the range's bound).
    fits : dict
        ``{group value: PotencyFit}``.
    """
    for col in (group, x, y):
        if col not in points.columns:
            raise AnalysisError(
                f"potency: column {col!r} missing from the dose-response points {list(points.columns)}"
            )
    rows, fits = [], {}
    conv = _from_log10 if x_is_log10_conc else (lambda v: v)
    name = "ec50_uM" if x_is_log10_conc else "ec50_x"
    for key, grp in points.groupby(group, sort=True):
        baseline = None
        if all(c in grp.columns for c in BASELINE_COLUMNS):
            baseline = (float(grp[BASELINE_COLUMNS[0]].iloc[0]), float(grp[BASELINE_COLUMNS[1]].iloc[0]))
        fit = fit_four_pl(
            grp[x].to_numpy(float), grp[y].to_numpy(float), max_hill=max_hill, baseline=baseline
        )
        fits[key] = fit
        d = asdict(fit)
        flags = d.pop("flags")
        low, high = d.pop("log_ec50_low"), d.pop("log_ec50_high")
        row = {group: key}
        if "response_class" in grp.columns:
            row["response_class"] = grp["response_class"].iloc[0]
        for k, v in d.items():
            row[k] = v
            if k == "ec50_qualifier":
                row[name] = conv(fit.log_ec50)
                row["ec50_low"] = conv(low)
                row["ec50_high"] = conv(high)
        row["trusted"] = fit.trusted
        row["flags"] = ";".join(flags)
        rows.append(row)
        if progress is not None:
            progress()
    return pd.DataFrame(rows), fits


def potency_summary(table: pd.DataFrame, max_hill: float = MAX_HILL) -> dict[str, Any]:
    """The fit settings and counts of a :func:`potency_table` for ``summary.json``."""
    count = (lambda col, value: int((table[col] == value).sum())) if len(table) else (lambda *_: 0)
    return {
        "max_hill": float(max_hill),
        "ci_level": CI_LEVEL,
        "ci_methods": {
            CI_PROFILE: "likelihood profile: RSS profiled over log EC50 with bottom, top and hill re-fitted, "
            "F threshold, bounded by the tested range",
            CI_STEEP: "transition not measured (a steep fit, or fewer than 2 doses inside it): the profile "
            "interval widened to the doses on the plateaus around the transition",
        },
        "n_trusted": count("trusted", True),
        "n_steep": count("steep", True),
        "n_qualified": {q: count("ec50_qualifier", q) for q in (">", "<")},
    }


def _from_log10(value: float) -> float:
    """10**value in µM (NaN stays NaN)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.power(10.0, value))


def ec50_text(fit: PotencyFit, *, log10_conc: bool = True) -> str:
    """``EC50 = 3.1 µM [1 - 10]`` (``>`` / ``<`` for qualified EC50s), in µM or ``x`` units."""
    if not np.isfinite(fit.log_ec50):
        return "no EC50"
    conv = _from_log10 if log10_conc else (lambda v: v)
    unit = " µM" if log10_conc else ""
    q = fit.ec50_qualifier
    text = f"EC50 {q} {conv(fit.log_ec50):.3g}{unit}"
    if q == "=":
        text += f" [{conv(fit.log_ec50_low):.3g} - {conv(fit.log_ec50_high):.3g}]"
    return text


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
        ax.plot(grid, fit.curve(grid), color="#d62728", label=f"4PL fit (hill {fit.hill:.2g})")
        ax.axvline(
            fit.log_ec50, color="#555555", linestyle="--" if fit.ec50_qualifier == "=" else ":", linewidth=1
        )
        if np.isfinite(fit.log_ec50_low) and fit.log_ec50_high > fit.log_ec50_low:
            ax.axvspan(
                fit.log_ec50_low,
                fit.log_ec50_high,
                color="#999999",
                alpha=0.2,
                label=f"EC50 95% CI ({fit.ci_method})",
            )
    status = "trusted" if fit.trusted else "flags: " + ", ".join(fit.flags)
    if fit.steep:
        status += f"; steep (hill at the bound {fit.max_hill:g})"
    log10_conc = "concentration" in x_label
    ax.set_xlim(xs.min() - 0.3, xs.max() + 0.3)
    ax.set_title(f"{title}\n{ec50_text(fit, log10_conc=log10_conc)}; {status}", fontsize=8)
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
        ``compound, ec50_qualifier, ec50_uM, true_ec50_uM, fold_error, trusted`` where
        ``fold_error = 10 ** |log10(fit / true)|`` (1 = exact; for a qualified EC50 against the
        range bound it is reported at).
    """
    for col in (group, "ec50_uM"):
        if col not in truth.columns:
            raise AnalysisError(f"truth table: column {col!r} missing; expected compound, ec50_uM")
    cols = [group, *(["ec50_qualifier"] if "ec50_qualifier" in table.columns else []), "ec50_uM", "trusted"]
    merged = table[cols].merge(
        truth[[group, "ec50_uM"]].rename(columns={"ec50_uM": "true_ec50_uM"}), on=group, how="inner"
    )
    merged["fold_error"] = 10.0 ** np.abs(np.log10(merged["ec50_uM"] / merged["true_ec50_uM"]))
    return merged
