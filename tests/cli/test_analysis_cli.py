import json

import numpy as np
import pandas as pd
from click.testing import CliRunner
from hcs_cli.main import _group

from tests.conftest import SHARED_DATA
from tests.mcnn_infer.analysis import fake_results

SBS = str(SHARED_DATA / "sbs96")


def test_analyze_evaluate_report_on_fake_results(tmp_path):
    root = tmp_path / "results"
    fake_results.write_fake_results(root)
    runner = CliRunner()
    args = ["analyze", str(root), "--truth", str(root / "truth_compounds.csv"), "--max-hill", "4"]
    r = runner.invoke(_group, args)
    assert r.exit_code == 0, r.output
    s = json.loads((root / "analysis" / "summary.json").read_text())
    assert s["potency"]["truth"]["median_fold_error_trusted"] < 1.6
    # the Hill bound is recorded and applied; EC50s carry their qualifier and interval method
    pot = pd.read_csv(root / "analysis" / "potency.csv")
    assert s["potency"]["max_hill"] == 4.0 and (pot["max_hill"] == 4.0).all() and (pot["hill"] <= 4).all()
    assert set(pot["ec50_qualifier"]) <= {"=", ">", "<"} and set(pot["ci_method"]) <= {
        "profile",
        "profile+doses",
    }
    assert (pot["ec50_low"] <= pot["ec50_uM"]).all() and (pot["ec50_uM"] <= pot["ec50_high"]).all()
    assert runner.invoke(_group, ["analyze", str(root), "--max-hill", "0"]).exit_code != 0
    assert s["profiles"]["normalize"] == "none" and s["evaluation"]["map_activity_embeddings"]["n_groups"] > 0
    r = runner.invoke(_group, ["evaluate", str(root), "--normalize", "mad_robustize"])
    assert r.exit_code == 0 and "NSCB" in r.output and "treatments retrieved" in r.output
    r = runner.invoke(_group, ["report", str(root), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0 and (tmp_path / "r.html").stat().st_size > 10_000
    # the report shows the latest evaluation of analysis/evaluation (hcs evaluate rewrote it)
    html = (tmp_path / "r.html").read_text()
    assert "Image-based profiling: mAP" in html and "Profiles normalised: <b>mad_robustize</b>" in html
    assert "likelihood profile" in html and "|hill| &le; 4;" in html and "ec50_95ci" in html


def test_evaluate_normalize_writes_profiles_and_map(tmp_path):
    root = tmp_path / "results"
    fake_results.write_fake_results(root)
    runner = CliRunner()
    for name in ("mad_robustize", "mad_robustize+spherize"):
        out = tmp_path / name
        args = [
            "evaluate",
            str(root),
            "--normalize",
            name,
            "--null-size",
            "1000",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
        r = runner.invoke(_group, args)
        assert r.exit_code == 0, r.output
        assert f"profiles normalised: {name}" in r.output
        assert "mAP phenotypic activity (embeddings), treatments retrieved:" in r.output
        assert "mAP phenotypic consistency (probabilities), MoAs retrieved:" in r.output
        ev = json.loads((out / "evaluation.json").read_text())
        assert ev["normalization"]["name"] == name
        assert ev["map_settings"] == {"null_size": 1000, "seed": 3, "threshold": 0.05}
        assert pd.read_parquet(out / "profiles.parquet").attrs["hcs_profiles"]["normalization"] == name
        assert (out / "map_activity_embeddings.png").is_file()
        assert (out / "map_consistency_probabilities.csv").is_file()


def test_evaluate_too_few_dmso_wells_is_one_clear_error(hcs, tmp_path):
    root = tmp_path / "results"
    fake_results.write_fake_results(root)
    wells = pd.read_parquet(root / "wells.parquet")
    neg = wells.index[(wells["plate"] == "Week2_201") & (wells["role"] == "negative")]
    wells.loc[neg[1:], "role"] = "treated"
    wells.to_parquet(root / "wells.parquet", index=False)
    r = hcs("evaluate", root, "--normalize", "mad_robustize")
    assert r.exit_code == 2
    assert "plate 'Week2_201' has 1 negative-control (DMSO) well(s)" in r.stderr
    assert "needs at least 2 per plate" in r.stderr
    r = hcs("evaluate", root, "--normalize", "zscore")
    assert r.exit_code == 2 and "mad_robustize+spherize" in r.stderr


def test_translocation_readout_on_real_sbs96(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sbs"
    args = [
        "analyze",
        "--readout",
        "translocation",
        SBS,
        "--plate-map",
        f"{SBS}/1049_Metadata.csv",
        "--out",
        str(out),
    ]
    r = runner.invoke(_group, args)
    assert r.exit_code == 0, r.output
    qc = pd.read_csv(out / "analysis" / "qc_plates.csv")
    assert qc.loc[0, "z_prime"] > 0.5 and qc.loc[0, "n_neg"] == 16 and qc.loc[0, "n_pos"] == 8
    pot = pd.read_csv(out / "analysis" / "potency.csv")
    assert sorted(pot["row"]) == list("ABCDEFGH")
    assert pot["trusted"].all() and (pot["hill"] > 0).all() and (pot["top"] > 3 * pot["bottom"]).all()
    assert pot["ec50_x"].between(3, 7).all()
    assert runner.invoke(_group, ["report", str(out)]).exit_code == 0


def test_translocation_scales_on_real_sbs96(tmp_path):
    """Every scale is written; --score moves QC and potency to it; the ratio's EC50s lie later."""
    from mcnn_infer.analysis.potency import potency_table
    from mcnn_infer.analysis.translocation import SCALES

    out = tmp_path / "sbs"
    args = ["analyze", "--readout", "translocation", SBS, "--plate-map", f"{SBS}/1049_Metadata.csv"]
    r = CliRunner().invoke(_group, [*args, "--out", str(out), "--score", "log-ratio"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "analysis" / "summary.json").read_text())
    assert summary["score"] == "log-ratio" and summary["score_column"] == SCALES["log-ratio"]
    wells = pd.read_csv(out / "analysis" / "translocation_wells.csv", dtype={"group": str})
    # one field per well: the well's log-ratio is the log of its ratio
    assert (wells["n_fields"] == 1).all()
    ratio, log_ratio = wells[SCALES["ratio"]], wells[SCALES["log-ratio"]]
    pd.testing.assert_series_equal(np.log(ratio), log_ratio, check_names=False)
    assert wells[SCALES["nuclear-fraction"]].between(0, 1).all()
    pot = pd.read_csv(out / "analysis" / "potency.csv")
    treated = wells[wells["role"] == "treated"]
    on_ratio, _ = potency_table(treated, group="group", x="x", y=SCALES["ratio"], x_is_log10_conc=False)
    np.testing.assert_allclose(
        pot.sort_values("row")["ec50_x"].to_numpy(),
        potency_table(treated, group="group", x="x", y=SCALES["log-ratio"], x_is_log10_conc=False)[0][
            "ec50_x"
        ].to_numpy(),
    )
    # the ratio is convex in the amount translocated: on sbs96 its row EC50s are later, by ~0.4
    shift = float(np.median(on_ratio["ec50_x"].to_numpy() - pot.sort_values("row")["ec50_x"].to_numpy()))
    assert 0.2 < shift < 0.7
    qc = pd.read_csv(out / "analysis" / "qc_plates.csv")
    assert qc.loc[0, "z_prime"] > 0.5


def test_score_scale_is_for_the_translocation_readout_only(tmp_path, hcs):
    root = tmp_path / "results"
    fake_results.write_fake_results(root)
    r = hcs("analyze", root, "--score", "log-ratio")
    assert r.exit_code == 2 and "--score log-ratio" in r.stderr and "translocation" in r.stderr


def test_translocation_requires_plate_map(tmp_path):
    r = CliRunner().invoke(_group, ["analyze", "--readout", "translocation", SBS])
    assert r.exit_code != 0
