"""mAP in the metric table: METRICS rows, run_evaluation's files and evaluation.json."""

import json

import pandas as pd
import pytest

from mcnn_infer.analysis import evaluate as ev
from mcnn_infer.analysis.evaluation import evaluate_results, run_evaluation
from mcnn_infer.analysis.mean_ap import MapSettings
from mcnn_infer.analysis.metrics import METRICS, EvaluationInputs, mean_average_precision
from mcnn_infer.analysis.profiles import PROFILE_ATTRS, normalize_profiles
from tests.mcnn_infer.analysis.map_synthetic import synthetic_profiles

FAST = MapSettings(null_size=1000, seed=0)
MAP_KEYS = [
    "map_activity_embeddings",
    "map_activity_probabilities",
    "map_consistency_embeddings",
    "map_consistency_probabilities",
]


def _prob_profiles(prof: pd.DataFrame) -> pd.DataFrame:
    """Two-class "probabilities" derived from the synthetic embeddings (treated wells look unlike DMSO)."""
    meta = prof[[c for c in prof.columns if c.startswith("Metadata_")]]
    x = prof["emb_000"].abs() + prof["emb_001"].abs()
    p = 1 / (1 + x / 3)
    return pd.concat([meta, pd.DataFrame({"prob_DMSO": p, "prob_other": 1 - p})], axis=1)


def test_metric_table_rows():
    rows = {m.key: m for m in METRICS}
    assert list(rows)[:3] == ["nsc", "nscb", "classifier"]
    for key in MAP_KEYS:
        assert rows[key].section == "map" and rows[key].score_name == "fraction_retrieved"
    assert rows["nsc"].section == "evaluation" and rows["nsc"].score_name == "accuracy"
    prof = synthetic_profiles()
    inputs = EvaluationInputs(ev.treatment_profiles(prof), prof, map_settings=FAST)
    assert mean_average_precision("activity", "probabilities")(inputs) is None  # no probability profiles
    out = mean_average_precision("activity", "embeddings")(inputs)
    assert out.score == pytest.approx(9 / 13) and out.n_queries == 13 and out.confusion is None
    assert out.record["kind"] == "activity" and out.record["normalization"] == "none"


def test_run_evaluation_writes_map_tables_plots_and_json(tmp_path):
    prof = normalize_profiles(synthetic_profiles(), "mad_robustize")
    probs = normalize_profiles(_prob_profiles(synthetic_profiles()), "mad_robustize")
    result = run_evaluation(prof, tmp_path, prob_profiles=probs, map_settings=FAST)
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved["normalization"]["name"] == "mad_robustize"
    assert saved["normalization"]["probabilities"]["n_features"] == 2
    assert saved["map_settings"] == {"null_size": 1000, "seed": 0, "threshold": 0.05}
    for key in MAP_KEYS:
        entry, files = saved[key], saved["files"][key]
        assert entry["n_queries"] == entry["n_groups"] and 0 <= entry["fraction_retrieved"] <= 1
        assert entry["normalization"] == "mad_robustize"
        assert "confusion_png" not in files
        for name in files.values():
            assert (tmp_path / name).stat().st_size > 0
        table = pd.read_csv(tmp_path / files["predictions"])
        assert {"mean_average_precision", "p_value", "corrected_p_value", "retrieved"} <= set(table.columns)
    assert saved["map_activity_embeddings"]["n_retrieved"] == 9
    assert saved["map_consistency_embeddings"]["fraction_retrieved"] == 1.0
    assert (tmp_path / "confusion_nsc.png").is_file() and result["nsc"]["accuracy"] == 1.0
    ap = pd.read_parquet(tmp_path / saved["files"]["map_activity_embeddings"]["ap_activity_embeddings"])
    assert {"average_precision", "n_pos_pairs", "Metadata_Plate"} <= set(ap.columns)
    # same input, same seed: identical tables
    again = tmp_path / "again"
    run_evaluation(prof, again, prob_profiles=probs, map_settings=FAST)
    for key in MAP_KEYS:
        name = saved["files"][key]["predictions"]
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes()


def test_evaluate_results_on_a_results_folder(fake_results_dir, tmp_path):
    out = tmp_path / "ev"
    result = evaluate_results(fake_results_dir, out_dir=out, normalize="dmso", map_settings=FAST)
    assert result["normalization"]["name"] == "mad_robustize"
    prof = pd.read_parquet(out / "profiles.parquet")
    probs = pd.read_parquet(out / "profiles_probabilities.parquet")
    assert prof.attrs[PROFILE_ATTRS]["normalization"] == "mad_robustize"
    assert probs.attrs[PROFILE_ATTRS]["features"] == "probabilities"
    assert list(probs.columns[-4:]) == ["prob_DMSO", "prob_Actin", "prob_Tubulin", "prob_DNA"]
    assert result["profiles"]["probabilities_from"] == "wells"  # the fixture's fields have no prob_
    act = pd.read_csv(out / "map_activity_embeddings.csv")
    # the labelled treatments (phenotype present) are the ones told apart from DMSO
    labelled = act[act["moa"].notna() & act["role"].eq("treated")]
    assert labelled["retrieved"].mean() > 0.7
    assert act.loc[act["compound"] == "pos-taxol", "retrieved"].all()
    for key in MAP_KEYS:
        assert key in result
    assert result["map_consistency_embeddings"]["fraction_retrieved"] == 1.0


def test_wells_the_model_trained_on_are_left_out_of_the_quality_figures(tmp_path):
    prof = synthetic_profiles()
    trained = prof["Metadata_Compound"].eq(prof["Metadata_Compound"].iloc[-1])
    flagged = prof.assign(Metadata_InTraining=trained)
    result = run_evaluation(flagged, tmp_path / "flagged", map_settings=FAST)
    held_out = run_evaluation(prof[~trained].reset_index(drop=True), tmp_path / "held", map_settings=FAST)
    assert result["n_wells_in_training_excluded"] == int(trained.sum()) > 0
    assert held_out["n_wells_in_training_excluded"] == 0
    for key in ("nsc", "map_activity_embeddings"):
        assert result[key]["n_queries"] == held_out[key]["n_queries"]
    assert result["n_treatments"] == held_out["n_treatments"]
