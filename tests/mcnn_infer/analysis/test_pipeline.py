import json

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.evaluation import evaluate_results
from mcnn_infer.analysis.pipeline import analyze


def ev_files(ev: dict, key: str) -> str:
    return ev["files"][key]["png"]


def test_analyze_fake_results_recovers_truth(fake_results_dir):
    res = analyze(fake_results_dir, truth=fake_results_dir / "truth_compounds.csv")
    out = res.out_dir
    s = json.loads((out / "summary.json").read_text())
    assert s["qc"]["score"] == "prob_Tubulin"
    assert all(p["z_prime"] > 0.5 for p in s["qc"]["plates"])
    pot = pd.read_csv(out / "potency.csv")
    truth = pd.read_csv(fake_results_dir / "truth_compounds.csv").set_index("compound")
    assert pot.set_index("compound")["response_class"].to_dict() == truth["moa"].to_dict()
    assert s["potency"]["truth"]["median_fold_error_trusted"] < 1.6
    assert s["potency"]["n_trusted"] >= 5
    for item in s["heatmaps"]:
        assert (out / item["path"]).is_file()
    for rel in s["potency"]["plots"].values():
        assert (out / rel).is_file()
    prof = pd.read_parquet(out / "profiles.parquet")
    assert prof.columns[0] == "Metadata_Plate" and len(prof) == s["n_wells"]
    probs = pd.read_parquet(out / s["profiles"]["probabilities_table"])
    assert len(probs) == s["n_wells"] and probs.attrs["hcs_profiles"]["normalization"] == "none"
    ev = s["evaluation"]
    assert ev["nsc"]["accuracy"] > 0.7 and ev["nscb"]["accuracy"] > 0.7
    assert (out / "evaluation" / "confusion_nsc.png").is_file()
    assert ev["map_activity_embeddings"]["fraction_retrieved"] > 0.5
    assert (out / "evaluation" / ev_files(ev, "map_activity_embeddings")).is_file()
    assert pd.read_csv(out / "qc_fields.csv")["well"].tolist() == ["A01"]
    assert np.isfinite(s["classifier"]["accuracy"])


def test_evaluate_results_and_errors(fake_results_dir, tmp_path):
    ev = evaluate_results(fake_results_dir, normalize="dmso")
    assert set(ev) >= {"nsc", "nscb", "classifier"}
    with pytest.raises(AnalysisError, match="wells.parquet"):
        analyze(tmp_path)
    with pytest.raises(AnalysisError, match="not a model class"):
        analyze(fake_results_dir, qc_class="nope")
    (fake_results_dir / "embeddings.parquet").unlink()
    with pytest.raises(AnalysisError, match="embeddings"):
        evaluate_results(fake_results_dir)
