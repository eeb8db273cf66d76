import numpy as np
import pandas as pd
import pytest

from mcnn_infer.analysis.potency import fit_four_pl, fold_errors, four_pl, plot_dose_response, potency_table

X = np.repeat(np.log10([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30]), 3)


@pytest.mark.parametrize("ec50,hill", [(0.1, 1.0), (1.0, 1.5), (3.0, 0.8)])
def test_recovers_ec50_within_ci(ec50, hill):
    rng = np.random.default_rng(int(ec50 * 10))
    y = four_pl(X, 0.05, 0.9, np.log10(ec50), hill) + rng.normal(0, 0.03, X.size)
    fit = fit_four_pl(X, y)
    assert fit.trusted, fit.flags
    assert abs(fit.log_ec50 - np.log10(ec50)) < 0.2
    assert fit.log_ec50_low < fit.log_ec50 < fit.log_ec50_high
    assert fit.hill > 0 and fit.top > fit.bottom


def test_falling_curve_reports_high_dose_plateau_as_top():
    y = four_pl(X, 0.9, 0.1, 0.0, 1.0)
    fit = fit_four_pl(X, y)
    assert (
        fit.hill > 0
        and fit.top == pytest.approx(0.1, abs=0.02)
        and fit.bottom == pytest.approx(0.9, abs=0.02)
    )


def test_flags():
    assert fit_four_pl(X[:9], X[:9]).flags == ["too_few_points"]
    rng = np.random.default_rng(3)
    flat = fit_four_pl(X, rng.normal(0.1, 0.03, X.size))
    assert not flat.trusted and ("no_response" in flat.flags or "non_monotone" in flat.flags)
    bell = fit_four_pl(X, np.exp(-((X - 0.0) ** 2)) + rng.normal(0, 0.02, X.size))
    assert "non_monotone" in bell.flags
    shifted = fit_four_pl(X, four_pl(X, 0.05, 0.9, 2.0, 1.5) + rng.normal(0, 0.01, X.size))
    # EC50 above the highest dose: the top plateau is not pinned (an open CI, or no plateau / qualified)
    assert not shifted.trusted and {"no_plateau", "qualified", "ci_open"} & set(shifted.flags)


def test_table_plot_and_fold_errors(tmp_path):
    pts = pd.DataFrame({"compound": "c", "log10_concentration": X, "response": four_pl(X, 0, 1, -0.5, 1.0)})
    table, fits = potency_table(pts)
    assert table.loc[0, "ec50_uM"] == pytest.approx(10**-0.5, rel=0.05)
    fe = fold_errors(table, pd.DataFrame({"compound": ["c"], "ec50_uM": [10**-0.5 * 2]}))
    assert fe.loc[0, "fold_error"] == pytest.approx(2.0, rel=0.05)
    png = plot_dose_response(X, pts["response"], fits["c"], tmp_path / "c.png", title="c")
    assert png.read_bytes()[:4] == b"\x89PNG"
