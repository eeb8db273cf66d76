"""The M-CNN readout judged side by side with the classical one, on held-out controls."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.potency import four_pl
from mcnn_infer.analysis.readout_comparison import compare_readouts
from mcnn_infer.analysis.translocation import SCORE


def _sbs_map(path):
    rows = []
    for r in "ABCDEFGH":
        for c in range(1, 13):
            control = -1 if c <= 2 else (1 if c == 12 else 0)
            rows.append(
                {
                    "ImageNumber": len(rows) + 1,
                    "Column": f"{c:02d}",
                    "Row": r,
                    "SBS_Doses": 0 if control else c - 2,
                    "SBS_Controls": control,
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return pd.DataFrame(rows)


def _write(tmp_path, model_ec50, classical_ec50, trained_rows="ABCD"):
    sbs = _sbs_map(tmp_path / "map.csv")
    rng = np.random.default_rng(0)
    wells = [f"{r}{int(c):02d}" for r, c in zip(sbs["Row"], sbs["Column"], strict=True)]
    dose = sbs["SBS_Doses"].to_numpy(float)
    control = sbs["SBS_Controls"].to_numpy()
    level = np.where(control == -1, 0.0, np.where(control == 1, 1.0, 0.0))
    treated = control == 0
    model_level, classical_level = level.copy(), level.copy()
    model_level[treated] = four_pl(dose[treated], 0, 1, model_ec50, 2.0)
    classical_level[treated] = four_pl(dose[treated], 0, 1, classical_ec50, 2.0)
    logodds = -3 + 6 * model_level + rng.normal(0, 0.1, len(wells))
    results = tmp_path / "results"
    results.mkdir()
    pd.DataFrame(
        {
            "plate": "sbs96",
            "well": wells,
            "prob_nuclear": 1 / (1 + np.exp(-logodds)),
            "logodds_nuclear": logodds,
            "in_training": (control != 0) & sbs["Row"].isin(list(trained_rows)).to_numpy(),
        }
    ).to_parquet(results / "wells.parquet")
    classical = tmp_path / "classical" / "analysis"
    classical.mkdir(parents=True)
    pd.DataFrame({"well": wells, SCORE: 1 + 3 * classical_level + rng.normal(0, 0.05, len(wells))}).to_csv(
        classical / "translocation_wells.csv", index=False
    )
    return results, tmp_path / "classical", tmp_path / "map.csv"


def test_comparison_judges_both_readouts_on_the_held_out_controls(tmp_path):
    results, classical, sbs_map = _write(tmp_path, model_ec50=4.5, classical_ec50=4.6)
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
    assert (
        json.loads((tmp_path / "out" / "readout_comparison.json").read_text())["model_readout"]
        == "logodds_nuclear"
    )
    page = (tmp_path / "out" / "readout_comparison.html").read_text()
    assert "data:image/png;base64," in page and "M-CNN" in page


def test_a_shifted_model_readout_is_reported_outside_the_range(tmp_path):
    results, classical, sbs_map = _write(tmp_path, model_ec50=3.0, classical_ec50=4.6)
    summary = compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")
    assert not summary["all_model_ec50_within"]


def test_a_model_trained_on_every_control_cannot_be_judged(tmp_path):
    results, classical, sbs_map = _write(tmp_path, 4.5, 4.6, trained_rows="ABCDEFGH")
    with pytest.raises(AnalysisError, match="trained on every control well"):
        compare_readouts(results, classical, sbs_map, tmp_path / "out", "nuclear")
