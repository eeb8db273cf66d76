"""The M-CNN readout judged side by side with the classical one, on held-out controls."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.readout_comparison import compare_readouts
from mcnn_infer.analysis.translocation import SCALES, SCORE
from tests.mcnn_infer.analysis.fake_translocation import write_comparison_inputs


def test_comparison_judges_both_readouts_on_the_held_out_controls(tmp_path):
    results, classical, sbs_map = write_comparison_inputs(tmp_path, model_ec50=4.5, classical_ec50=4.6)
    summary = compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")
    held = summary["held_out_controls"]
    assert (held["n_negative"], held["n_positive"]) == (8, 4)
    assert all(w[0] in "EFGH" for w in held["wells"]) and len(summary["trained_control_wells"]) == 12
    assert (
        summary["z_prime_held_out"]["model_logodds"] > 0.8 and summary["z_prime_held_out"]["classical"] > 0.8
    )
    assert summary["all_model_ec50_within"]
    table = pd.read_csv(tmp_path / "out" / "readout_comparison.csv")
    assert list(table["group"]) == list("ABCDEFGH")
    np.testing.assert_allclose(table["ec50_x_model"], 4.5, atol=0.1)
    # both readouts' fits follow hcs analyze's rules: qualified EC50s, trusted fits, the Hill bound
    assert (table[["ec50_qualifier_model", "ec50_qualifier_classical"]] == "=").all().all()
    assert table["trusted_model"].all() and table["trusted_classical"].all() and summary["max_hill"] == 5.0
    assert (
        json.loads((tmp_path / "out" / "readout_comparison.json").read_text())["model_readout"]
        == "logodds_nuclear"
    )
    assert not (tmp_path / "out" / "readout_comparison.html").exists()  # the report renders the page


def test_a_shifted_model_readout_is_reported_outside_the_range(tmp_path):
    results, classical, sbs_map = write_comparison_inputs(tmp_path, model_ec50=3.0, classical_ec50=4.6)
    summary = compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")
    assert not summary["all_model_ec50_within"]


def test_a_model_trained_on_every_control_cannot_be_judged(tmp_path):
    results, classical, sbs_map = write_comparison_inputs(tmp_path, 4.5, 4.6, trained_rows="ABCDEFGH")
    with pytest.raises(AnalysisError, match="trained on every control well"):
        compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")


def test_every_classical_scale_is_judged_and_the_ratio_lies_later(tmp_path):
    results, classical, sbs_map = write_comparison_inputs(tmp_path, model_ec50=4.5, classical_ec50=4.5)
    summary = compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")
    assert summary["classical_scale"] == "log-ratio" and summary["classical_readout"] == SCALES["log-ratio"]
    scales = summary["classical_scales"]
    assert list(scales) == list(SCALES)
    assert abs(scales["log-ratio"]["ec50_shift_model_minus_classical"]) < 0.1
    # exp() of a 4PL reaches its half-way point later: the same measurement, a later EC50
    assert scales["ratio"]["ec50_shift_model_minus_classical"] < -0.2
    assert (
        summary["ec50_shift_model_minus_classical"] == scales["log-ratio"]["ec50_shift_model_minus_classical"]
    )
    # the model's log-odds is linear in the classical log-ratio here (both 4PLs of the same level)
    assert scales["log-ratio"]["pearson_r_treated_wells"] > 0.99
    assert scales["ratio"]["pearson_r_treated_wells"] < scales["log-ratio"]["pearson_r_treated_wells"]
    table = pd.read_csv(tmp_path / "out" / "readout_comparison_scales.csv")
    assert list(table["scale"]) == list(SCALES) and (table["n_groups"] == 8).all()
    on_ratio = compare_readouts(
        results, classical, sbs_map, tmp_path / "ratio", "nuclear", classical_scale="ratio"
    )
    assert on_ratio["classical_readout"] == SCORE
    assert on_ratio["classical_ec50_range"] == scales["ratio"]["classical_ec50_range"]


def test_a_ratio_only_classical_table_names_the_missing_scale(tmp_path):
    results, classical, sbs_map = write_comparison_inputs(tmp_path, 4.5, 4.6, scales=("ratio",))
    with pytest.raises(
        AnalysisError, match="translocation_log_ratio.*rerun `hcs analyze --readout translocation`"
    ):
        compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")
    summary = compare_readouts(
        results, classical, sbs_map, tmp_path / "out", "nuclear", classical_scale="ratio"
    )
    assert list(summary["classical_scales"]) == ["ratio"]
    with pytest.raises(AnalysisError, match="classical scale 'odds'"):
        compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear", classical_scale="odds")
