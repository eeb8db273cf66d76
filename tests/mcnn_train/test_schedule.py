from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcnn_infer.errors import ConfigError
from mcnn_train.schedule import make_schedule, parse_schedule


def test_parse_pieces_and_trailing_epoch():
    s = parse_schedule("0.01;20;0.001;30;0.0001")
    assert s.rates == (0.01, 0.001, 0.0001)
    assert s.boundaries == (20.0, 30.0)
    assert [s.rate_at(e) for e in (0, 19.99, 20, 29, 30, 100)] == [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]
    assert parse_schedule("0.5;3").rates == (0.5,)
    assert parse_schedule("0.008;2;0.032;5").to_string() == "0.008;2;0.032"


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "expected 'lr;epoch"),
        ("0.1;x", "must be a number"),
        ("0;2;0.1", "must be > 0"),
        ("0.1;5;0.01;3;0.001", "greater than the previous"),
        ("0.1;;0.2", "expected 'lr;epoch"),
    ],
)
def test_bad_schedules_raise(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_schedule(text)


def test_linear_scaling_and_warmup():
    # 4 workers x batch 8 with rates written for batch 8: scale 4, warm-up over 2 epochs of 10 steps.
    sched = make_schedule(
        "0.01;5;0.001", steps_per_epoch=10, global_batch=32, reference_batch=8, warmup_epochs=2
    )
    assert sched.rate_at_step(0) == pytest.approx(0.01)
    assert sched.rate_at_step(10) == pytest.approx(0.01 * 2.5)
    assert sched.rate_at_step(20) == pytest.approx(0.04)
    assert sched.rate_at_step(49) == pytest.approx(0.04)
    assert sched.rate_at_step(50) == pytest.approx(0.004)
    no_warm = make_schedule("0.01", steps_per_epoch=10, global_batch=16, reference_batch=8, warmup_epochs=0)
    assert no_warm.rate_at_step(0) == pytest.approx(0.02)


@settings(max_examples=40, deadline=None)
@given(step=st.integers(0, 500), warm=st.floats(0, 6), scale=st.integers(1, 8))
def test_tf_schedule_matches_python(step, warm, scale):
    sched = make_schedule("0.02;3;0.005;7;0.001", 13, 8 * scale, 8, warm)
    assert float(sched(step)) == pytest.approx(sched.rate_at_step(step), rel=1e-5)
