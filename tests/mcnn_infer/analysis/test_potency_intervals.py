"""Potency checked against truth: profile-likelihood intervals, bounded Hill slopes, qualified
EC50s and the trust rules on simulated 4PL curves (no model involved)."""

import numpy as np
import pytest

from mcnn_infer.analysis.potency import control_baseline, fit_four_pl, four_pl

#: A half-log dilution series 0.01-100 µM (9 doses), as in issue 23.
HALF_LOG = np.log10([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100])
SERIES = {
    "half-log 0.01-100 µM": HALF_LOG,
    "6 doses 0.01-30 µM (the demo)": np.log10(np.geomspace(0.01, 30, 6)),
    "full-log 0.001-100 µM": np.log10(np.geomspace(0.001, 100, 6)),
}
BOTTOM, TOP = -2.7, 2.8


def _simulate(n_curves: int, seed: int) -> list[dict]:
    """Random 4PL curves on the series above: Hill slopes log-uniform 0.5-20, rising or falling,
    2-4 replicate wells per dose, noise sd 0.05-0.5 (span 5.5); three in four with the EC50 inside
    the tested range (0.25 log10 from its ends), the rest 0.5-1.5 log10 beyond one end. 16 negative
    controls at the untreated plateau give the baseline."""
    rng = np.random.default_rng(seed)
    names = list(SERIES)
    curves = []
    for i in range(n_curves):
        doses = SERIES[names[i % len(names)]]
        lo, hi = doses[0], doses[-1]
        inside = i % 4 != 0
        if inside:
            log_ec50 = rng.uniform(lo + 0.25, hi - 0.25)
        else:
            log_ec50 = hi + rng.uniform(0.5, 1.5) if rng.random() < 0.5 else lo - rng.uniform(0.5, 1.5)
        hill = float(np.exp(rng.uniform(np.log(0.5), np.log(20.0))))
        rising = rng.random() < 0.7
        noise = rng.uniform(0.05, 0.5)
        x = np.repeat(doses, rng.integers(2, 5))
        y = four_pl(x, BOTTOM, TOP, log_ec50, hill if rising else -hill) + rng.normal(0, noise, x.size)
        controls = rng.normal(BOTTOM if rising else TOP, noise, 16)
        fit = fit_four_pl(x, y, baseline=control_baseline(controls))
        curves.append({"log_ec50": log_ec50, "hill": hill, "lo": lo, "hi": hi, "inside": inside, "fit": fit})
    return curves


@pytest.fixture(scope="module")
def simulated() -> list[dict]:
    return _simulate(360, seed=23)


def test_ci_covers_the_true_ec50_inside_the_range(simulated):
    inside = [c for c in simulated if c["inside"]]
    covered = [c["fit"].log_ec50_low - 1e-6 <= c["log_ec50"] <= c["fit"].log_ec50_high + 1e-6 for c in inside]
    assert len(inside) == 270
    assert np.mean(covered) >= 0.90
    # shallow and very steep curves alike
    for sel in (lambda c: c["hill"] < 1, lambda c: c["hill"] > 10):
        part = [cov for c, cov in zip(inside, covered, strict=True) if sel(c)]
        assert len(part) > 20 and np.mean(part) >= 0.85
    # trusted fits are close to the truth
    trusted = [c for c in inside if c["fit"].trusted]
    assert len(trusted) > 0.5 * len(inside)
    assert np.median([abs(c["fit"].log_ec50 - c["log_ec50"]) for c in trusted]) < 0.15


def test_ec50_outside_the_range_is_qualified_never_trusted(simulated):
    outside = [c for c in simulated if not c["inside"]]
    assert len(outside) == 90
    assert not any(c["fit"].trusted for c in outside)
    expected = [">" if c["log_ec50"] > c["hi"] else "<" for c in outside]
    qualifiers = [c["fit"].ec50_qualifier for c in outside]
    # never qualified in the wrong direction; the few left at "=" have an open CI or no plateau
    assert all(q in ("=", e) for q, e in zip(qualifiers, expected, strict=True))
    assert np.mean([q == e for q, e in zip(qualifiers, expected, strict=True)]) >= 0.8
    for c, q in zip(outside, qualifiers, strict=True):
        if q == "=":
            assert {"ci_open", "no_plateau"} & set(c["fit"].flags), c


def test_reported_ec50_and_ci_never_leave_the_tested_range(simulated):
    for c in simulated:
        f = c["fit"]
        assert c["lo"] <= f.log_ec50_low <= f.log_ec50 <= f.log_ec50_high <= c["hi"], f
        assert f.hill <= f.max_hill + 1e-9
        if f.ec50_qualifier in (">", "<"):
            assert f.log_ec50 == (c["hi"] if f.ec50_qualifier == ">" else c["lo"])


def _issue_curve(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Issue 23's steep clean curve: flat at -2.7 up to 1 µM, -0.5 at 3 µM, +2.4 to +3.1 from 10 µM."""
    level = np.array([-2.7, -2.7, -2.7, -2.7, -2.7, -0.5, 2.4, 2.8, 3.1])
    x = np.repeat(HALF_LOG, 2)
    return x, np.repeat(level, 2) + np.random.default_rng(seed).normal(0, 0.1, x.size)


def test_issue_steep_curve_is_trusted_with_the_neighbouring_doses_as_interval():
    x, y = _issue_curve()
    fit = fit_four_pl(x, y)
    assert fit.trusted, fit.flags
    assert fit.ec50_qualifier == "=" and np.log10(3) < fit.log_ec50 < 1.0
    # the one dose in the transition is 3 µM: the interval spans its neighbours, 1 and 10 µM
    assert fit.ci_method == "profile+doses"
    assert fit.log_ec50_low == pytest.approx(0.0, abs=1e-9)
    assert fit.log_ec50_high == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("hill", [8.0, 20.0])
def test_simulated_steep_curve_with_one_dose_in_the_transition(hill):
    log_ec50 = np.log10(3.2)  # 3 µM lies in the transition, 1 and 10 µM on the plateaus
    x = np.repeat(HALF_LOG, 3)
    y = four_pl(x, BOTTOM, TOP, log_ec50, hill) + np.random.default_rng(1).normal(0, 0.1, x.size)
    fit = fit_four_pl(x, y)
    assert fit.trusted, fit.flags
    assert fit.steep and fit.hill == pytest.approx(5.0, rel=0.02)
    assert fit.log_ec50_low == pytest.approx(0.0, abs=1e-9) and fit.log_ec50_high == pytest.approx(
        1.0, abs=1e-9
    )
    assert fit.log_ec50_low < log_ec50 < fit.log_ec50_high


def test_max_hill_bounds_the_slope_and_steep_is_not_untrusted():
    x, y = _issue_curve()
    fit = fit_four_pl(x, y, max_hill=1.5)
    assert fit.hill == pytest.approx(1.5, rel=0.02) and fit.steep and fit.max_hill == 1.5
    assert "steep" not in fit.flags
    with pytest.raises(Exception, match="max_hill"):
        fit_four_pl(x, y, max_hill=0)


def test_flat_curves_are_qualified_by_the_negative_controls():
    rng = np.random.default_rng(5)
    x = np.repeat(HALF_LOG, 2)
    controls = control_baseline(rng.normal(BOTTOM, 0.2, 16))
    inactive = fit_four_pl(x, rng.normal(BOTTOM, 0.2, x.size), baseline=controls)
    assert inactive.ec50_qualifier == ">" and inactive.log_ec50 == HALF_LOG[-1]
    assert "no_response" in inactive.flags and not inactive.trusted
    active = fit_four_pl(x, rng.normal(TOP, 0.2, x.size), baseline=controls)
    assert active.ec50_qualifier == "<" and active.log_ec50 == HALF_LOG[0] and not active.trusted
    # without controls a flat curve cannot be told from a fully active one: reported as inactive
    assert fit_four_pl(x, rng.normal(TOP, 0.2, x.size)).ec50_qualifier == ">"
