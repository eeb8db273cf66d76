"""Phenotypic activity mAP (copairs): treatments shifted from DMSO are retrieved, noise is not."""

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.mean_ap import MapSettings, phenotypic_activity
from tests.mcnn_infer.analysis.map_synthetic import synthetic_profiles

FAST = MapSettings(null_size=2000, seed=0)


def test_strong_treatments_retrieved_noise_not():
    prof = synthetic_profiles()
    res = phenotypic_activity(prof, FAST)
    g = res.groups.set_index("compound")
    strong = [c for c in g.index if c.startswith("s")]
    noise = [c for c in g.index if c.startswith("n")]
    assert len(g) == 13 and "DMSO" not in g.index
    assert g.loc[strong, "retrieved"].all()
    assert (g.loc[strong, "mean_average_precision"] == 1.0).all()
    assert not g.loc[noise, "retrieved"].any()
    assert (g.loc[noise, "corrected_p_value"] > 0.05).all()
    assert (g["n_profiles"] == 4).all()  # every well of a treatment is a query
    s = res.summary
    assert s["n_groups"] == 13 and s["n_retrieved"] == 9
    assert s["fraction_retrieved"] == pytest.approx(9 / 13)
    assert s["null_size"] == 2000 and s["seed"] == 0 and s["threshold"] == 0.05
    # the smallest p-value the null allows, BH-corrected over 13 treatments
    assert g.loc[strong, "p_value"].min() == pytest.approx(1 / 2001)
    # copairs' per-well table: each treated well has 3 positives and its plate's 8 DMSO wells
    treated = res.ap[res.ap["Metadata_Role"] == "treated"]
    assert (treated["n_pos_pairs"] == 3).all() and (treated["n_total_pairs"] == 11).all()
    assert res.ap.loc[res.ap["Metadata_Role"] == "negative", "average_precision"].isna().all()


def test_seeded_null_is_deterministic():
    prof = synthetic_profiles(seed=1)
    a = phenotypic_activity(prof, FAST).groups
    b = phenotypic_activity(prof, FAST).groups
    pd.testing.assert_frame_equal(a, b)
    c = phenotypic_activity(prof, MapSettings(null_size=2000, seed=7)).groups
    pd.testing.assert_series_equal(a["mean_average_precision"], c["mean_average_precision"])


def test_negatives_are_the_dmso_wells_of_the_same_plate():
    # Plate 2's DMSO wells are moved onto the treatment: against the DMSO of any plate the
    # treatment would still be retrieved (plate 1), against its own plate's DMSO it must not be.
    prof = synthetic_profiles(n_noise=0, n_moas=1, compounds_per_moa=1)
    feats = [c for c in prof.columns if c.startswith("emb_")]
    treated = prof["Metadata_Role"] == "treated"
    on2 = prof["Metadata_Plate"] == "Week2_1"
    target = prof.loc[treated & on2, feats].mean().to_numpy()
    rng = np.random.default_rng(0)
    prof.loc[~treated & on2, feats] = target + 0.01 * rng.normal(size=((~treated & on2).sum(), len(feats)))
    res = phenotypic_activity(prof, FAST)
    ap = res.ap[res.ap["Metadata_Role"] == "treated"].groupby("Metadata_Plate")["average_precision"].mean()
    assert ap["Week1_1"] == 1.0 and ap["Week2_1"] < 0.6


def test_exclusions_plate_without_dmso_and_single_wells():
    prof = synthetic_profiles(plates=("Week1_1", "Week2_1", "Week3_1"))
    prof = prof[~((prof["Metadata_Plate"] == "Week3_1") & (prof["Metadata_Role"] == "negative"))]
    # one treatment with a single well in all
    single = prof.index[prof["Metadata_Compound"] == "n3"][1:]
    prof = prof.drop(single).reset_index(drop=True)
    res = phenotypic_activity(prof, FAST)
    ex = res.summary["excluded"]
    assert ex["plates_without_negatives"] == ["Week3_1"]
    assert ex["wells_on_plates_without_negatives"] == 26 - 2  # 13 treatments x 2 wells, less n3's
    assert ex["treatments_with_one_well"] == 1
    assert "n3" not in set(res.groups["compound"])
    assert set(res.ap["Metadata_Plate"]) == {"Week1_1", "Week2_1"}


def test_no_negatives_or_no_replicates_give_an_empty_result_and_bad_input_errors():
    prof = synthetic_profiles()
    res = phenotypic_activity(prof[prof["Metadata_Role"] != "negative"], FAST)
    assert res.groups.empty and res.summary["n_groups"] == 0 and np.isnan(res.summary["fraction_retrieved"])
    one_each = prof.drop_duplicates(["Metadata_Compound"])
    res = phenotypic_activity(pd.concat([one_each, prof[prof["Metadata_Role"] == "negative"]]), FAST)
    assert res.groups.empty and "two wells" in res.summary["note"]
    with pytest.raises(AnalysisError, match="Metadata_Role"):
        phenotypic_activity(prof.drop(columns=["Metadata_Role"]), FAST)
    with pytest.raises(AnalysisError, match="null_size"):
        MapSettings(null_size=0)
