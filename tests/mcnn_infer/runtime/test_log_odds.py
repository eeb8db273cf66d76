"""The log-odds readout computed from the logits."""

from __future__ import annotations

import numpy as np

from mcnn_infer.runtime import log_odds, softmax


def test_log_odds_is_log_p_over_one_minus_p_and_does_not_saturate():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (50, 4)).astype(np.float32)
    p = softmax(logits).astype(np.float64)
    np.testing.assert_allclose(log_odds(logits), np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
    # where float32 probabilities are exactly 0 or 1 the log-odds keep their order
    far = np.array([[40.0, 0.0], [60.0, 0.0], [0.0, 80.0]], np.float32)
    assert softmax(far)[0, 0] == softmax(far)[1, 0] == 1.0
    values = log_odds(far)
    assert values.dtype == np.float32 and np.isfinite(values).all()
    np.testing.assert_allclose(values[:, 0], [40.0, 60.0, -80.0])
    np.testing.assert_allclose(values[:, 1], -values[:, 0])
