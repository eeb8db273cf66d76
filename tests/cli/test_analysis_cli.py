import json

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
    r = runner.invoke(_group, ["analyze", str(root), "--truth", str(root / "truth_compounds.csv")])
    assert r.exit_code == 0, r.output
    s = json.loads((root / "analysis" / "summary.json").read_text())
    assert s["potency"]["truth"]["median_fold_error_trusted"] < 1.6
    r = runner.invoke(_group, ["evaluate", str(root)])
    assert r.exit_code == 0 and "NSCB" in r.output
    r = runner.invoke(_group, ["report", str(root), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0 and (tmp_path / "r.html").stat().st_size > 10_000


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


def test_translocation_requires_plate_map(tmp_path):
    r = CliRunner().invoke(_group, ["analyze", "--readout", "translocation", SBS])
    assert r.exit_code != 0
