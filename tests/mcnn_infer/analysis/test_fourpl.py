"""The 4PL's vectorised RSS profile agrees with scipy's least-squares fit."""

import numpy as np
from scipy import optimize

from mcnn_infer.analysis.fourpl import four_pl, least_squares_fit, plateau_bounds, profile, profile_rss

X = np.repeat(np.log10([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30]), 3)


def test_grid_rss_is_the_least_squares_rss_of_its_plateaus():
    rng = np.random.default_rng(0)
    y = four_pl(X, 0.1, 0.9, -0.5, 1.3) + rng.normal(0, 0.03, X.size)
    c, h = np.array([-1.0, -0.5, 0.2]), np.array([-2.0, 0.7, 1.3, 4.0])
    rss, bottom, top = profile_rss(X, y, c, h)
    assert rss.shape == bottom.shape == (3, 4)
    lower, upper = plateau_bounds(y)
    assert (bottom >= lower).all() and (top <= upper).all()
    for i, ci in enumerate(c):
        for j, hj in enumerate(h):
            resid = y - four_pl(X, bottom[i, j], top[i, j], ci, hj)
            np.testing.assert_allclose(rss[i, j], resid @ resid, rtol=1e-9)
            # and no better plateaus exist within the bounds (scipy's bounded linear least squares)
            design = np.stack([1 - four_pl(X, 0, 1, ci, hj), four_pl(X, 0, 1, ci, hj)], axis=1)
            best = optimize.lsq_linear(design, y, bounds=(lower, upper)).fun
            np.testing.assert_allclose(rss[i, j], best @ best, rtol=1e-6, atol=1e-12)


def test_profile_minimum_matches_the_bounded_fit():
    rng = np.random.default_rng(1)
    y = four_pl(X, 0.9, 0.1, 0.3, 1.0) + rng.normal(0, 0.03, X.size)  # falling
    grid = np.linspace(-2, 1.5, 71)
    prof, start = profile(X, y, grid, 5.0)
    bottom, top, log_ec50, hill = least_squares_fit(X, y, start, 5.0)
    assert hill > 0 and top < bottom and abs(log_ec50 - 0.3) < 0.1
    resid = y - four_pl(X, bottom, top, log_ec50, hill)
    assert resid @ resid <= prof.min() + 1e-9
    assert grid[np.argmin(prof)] == grid[np.argmin(np.abs(grid - log_ec50))]
