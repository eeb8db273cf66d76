"""Phenotypic consistency mAP (copairs): MoAs whose compounds share a phenotype are retrieved."""

import numpy as np

from mcnn_infer.analysis.mean_ap import MapSettings, phenotypic_consistency
from tests.mcnn_infer.analysis.map_synthetic import synthetic_profiles

FAST = MapSettings(null_size=2000, seed=0)


def test_moas_with_a_shared_phenotype_are_retrieved():
    prof = synthetic_profiles(n_moas=4, compounds_per_moa=3)
    res = phenotypic_consistency(prof, FAST)
    g = res.groups.set_index("moa")
    assert sorted(g.index) == ["MoA0", "MoA1", "MoA2", "MoA3"]
    assert g["retrieved"].all() and (g["mean_average_precision"] > 0.9).all()
    assert (g["n_compounds"] == 3).all() and (g["n_profiles"] == 3).all()  # one consensus per treatment
    # unlabelled (noise) treatments and DMSO are not queries
    assert set(res.ap["Metadata_Compound"]) == {f"s{m}{c}" for m in range(4) for c in range(3)}
    assert res.summary["n_treatments"] == 12 and res.summary["fraction_retrieved"] == 1.0


def test_shuffled_moa_labels_are_not_retrieved():
    prof = synthetic_profiles(n_moas=4, compounds_per_moa=3, seed=2)
    labelled = prof["Metadata_MoA"].notna()
    compounds = sorted(prof.loc[labelled, "Metadata_Compound"].unique())
    # labels that cut across the phenotypes: compound k of every MoA gets label k
    relabel = {c: f"Fake{int(c[2])}" for c in compounds}
    prof.loc[labelled, "Metadata_MoA"] = prof.loc[labelled, "Metadata_Compound"].map(relabel)
    res = phenotypic_consistency(prof, FAST)
    assert len(res.groups) == 3 and not res.groups["retrieved"].any()
    assert (res.groups["mean_average_precision"] < 0.5).all()


def test_moa_with_one_compound_is_excluded():
    prof = synthetic_profiles(n_moas=3, compounds_per_moa=2)
    prof = prof[~prof["Metadata_Compound"].eq("s21")]
    res = phenotypic_consistency(prof, FAST)
    assert res.summary["excluded"]["moas_with_one_compound"] == ["MoA2"]
    assert sorted(res.groups["moa"]) == ["MoA0", "MoA1"]
    single = phenotypic_consistency(
        prof[prof["Metadata_MoA"].isin(["MoA0"]) | prof["Metadata_MoA"].isna()], FAST
    )
    assert single.groups.empty and np.isnan(single.summary["mean_map"])
