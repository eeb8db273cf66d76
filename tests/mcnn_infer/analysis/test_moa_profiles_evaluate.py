import pandas as pd
import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.evaluate import (
    accuracy_of,
    confusion_matrix,
    nearest_neighbour_moa,
    treatment_profiles,
)
from mcnn_infer.analysis.moa import call_moa, classifier_accuracy
from mcnn_infer.analysis.profiles import week_batch, well_profiles


def test_call_moa_means_and_agreement():
    wells = pd.DataFrame(
        {
            "compound": ["x", "x", "x"],
            "concentration": [1.0, 1.0, 1.0],
            "role": "treated",
            "moa": "A",
            "predicted_class": ["A", "A", "B"],
            "prob_A": [0.9, 0.8, 0.4],
            "prob_B": [0.1, 0.2, 0.6],
        }
    )
    calls = call_moa(wells, ["A", "B"])
    assert calls.loc[0, "predicted_moa"] == "A"
    assert calls.loc[0, "confidence"] == pytest.approx(0.7)
    assert calls.loc[0, "well_agreement"] == pytest.approx(2 / 3)
    assert classifier_accuracy(calls) == {"n": 1, "accuracy": 1.0}
    with pytest.raises(AnalysisError, match="prob_C"):
        call_moa(wells, ["A", "C"])


def test_week_batch():
    assert week_batch("Week3_25681") == "Week3"
    assert week_batch("plate7") == "plate7"


def test_well_profiles_median_and_dmso_normalisation():
    emb = pd.DataFrame(
        {
            "plate": "Week1_1",
            "well": ["A01", "A01", "A02", "A03"],
            "emb_000": [1.0, 3.0, 4.0, 10.0],
            "emb_001": [0.0, 0, 2, 2],
        }
    )
    wells = pd.DataFrame(
        {
            "plate": "Week1_1",
            "well": ["A01", "A02", "A03"],
            "role": ["negative", "negative", "treated"],
            "compound": ["DMSO", "DMSO", "x"],
            "concentration": [0, 0, 1.0],
            "moa": [None, None, "A"],
        }
    )
    prof = well_profiles(emb, wells)
    assert list(prof.columns[:3]) == ["Metadata_Plate", "Metadata_Well", "Metadata_Batch"]
    assert prof["emb_000"].tolist() == [2.0, 4.0, 10.0]
    norm = well_profiles(emb, wells, normalize="dmso")
    # negatives 2 and 4: median 3, MAD 1 -> scale 1.4826
    assert norm["emb_000"].iloc[2] == pytest.approx((10 - 3) / 1.4826, rel=1e-5)
    with pytest.raises(AnalysisError, match="negative-control"):
        well_profiles(emb, wells.assign(role="treated"), normalize="dmso")


def _profiles(rows):
    return pd.DataFrame(
        [
            {
                "Metadata_Plate": p,
                "Metadata_Well": w,
                "Metadata_Batch": week_batch(p),
                "Metadata_Compound": c,
                "Metadata_Concentration": 1.0,
                "Metadata_MoA": m,
                "Metadata_Role": r,
                "emb_000": v[0],
                "emb_001": v[1],
            }
            for p, w, c, m, r, v in rows
        ]
    )


def test_nsc_excludes_same_compound_and_nscb_same_batch():
    prof = _profiles(
        [
            ("Week1_1", "A01", "a1", "A", "treated", (1.0, 0.0)),
            ("Week1_1", "A02", "a1b", "B", "treated", (1.0, 0.05)),  # same batch, wrong MoA, closest
            ("Week2_1", "A01", "a2", "A", "treated", (1.0, 0.2)),  # other batch, right MoA
            ("Week2_1", "A02", "b2", "B", "treated", (0.0, 1.0)),
            ("Week1_1", "A03", "DMSO", None, "negative", (1.0, 0.0)),
        ]
    )
    tp = treatment_profiles(prof)
    nsc = nearest_neighbour_moa(tp, "nsc").set_index("compound")
    nscb = nearest_neighbour_moa(tp, "nscb").set_index("compound")
    assert "DMSO" not in nsc.index
    assert nsc.loc["a1", "neighbour_compound"] == "a1b" and not nsc.loc["a1", "correct"]
    assert nscb.loc["a1", "neighbour_compound"] == "a2" and nscb.loc["a1", "correct"]
    acc = accuracy_of(nsc.reset_index(), "nsc")
    assert acc.n_queries == 4
    cm = confusion_matrix(nsc["moa"], nsc["predicted_moa"])
    assert cm.to_numpy().sum() == 4


def test_nscb_with_replicates_in_several_batches_uses_one_profile_per_batch():
    from mcnn_infer.analysis.metrics import EvaluationInputs, nearest_neighbour

    # every treatment has one replicate in each week, as in the synthetic screens
    rows = []
    for plate in ("Week1_1", "Week2_1"):
        rows += [
            (plate, "A01", "a1", "A", "treated", (1.0, 0.0)),
            (plate, "A02", "a2", "A", "treated", (1.0, 0.1)),
            (plate, "A03", "b1", "B", "treated", (0.0, 1.0)),
            (plate, "A04", "b2", "B", "treated", (0.1, 1.0)),
        ]
    prof = _profiles(rows)
    pooled = treatment_profiles(prof)
    assert (pooled["Metadata_Batches"] == "Week1;Week2").all()
    # pooled profiles: every reference shares a batch, so no query could be answered
    assert accuracy_of(nearest_neighbour_moa(pooled, "nscb"), "nscb").n_no_reference == 4
    outcome = nearest_neighbour("nscb")(EvaluationInputs(pooled, prof))
    nscb = outcome.predictions
    assert outcome.n_queries == 8 and outcome.record["n_no_reference"] == 0 and outcome.score == 1.0
    for row in nscb.itertuples():
        assert row.neighbour_compound != row.compound
