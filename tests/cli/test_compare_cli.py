"""``hcs compare``: the M-CNN readout beside the classical one, from the command line."""

import json

from tests.mcnn_infer.analysis.fake_translocation import write_comparison_inputs


def test_hcs_compare_runs_from_the_command_line(tmp_path, hcs):
    results, classical, sbs_map = write_comparison_inputs(tmp_path, model_ec50=4.5, classical_ec50=4.6)
    out = tmp_path / "cmp"
    r = hcs("compare", results, classical, "--plate-map", sbs_map, "--class", "nuclear", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert (
        "held-out Z' (12 control wells)" in r.stderr and "log-ratio" in r.stderr and "8/8 within" in r.stderr
    )
    assert json.loads((out / "readout_comparison.json").read_text())["all_model_ec50_within"]
    # without --out: under the results folder, where `hcs report` finds it
    r = hcs("compare", results, classical, "--plate-map", sbs_map, "--class", "nuclear")
    assert r.exit_code == 0 and (results / "analysis" / "comparison" / "readout_comparison.html").is_file()
    assert str(results / "analysis" / "comparison" / "readout_comparison.html") in r.stderr.replace("\n", "")
    r = hcs("compare", results, classical, "--plate-map", sbs_map, "--class", "apoptotic", "--out", out)
    assert r.exit_code == 2 and "no column 'prob_apoptotic'" in r.stderr
