"""Per-well profiles: pycytominer normalisation to the DMSO wells and files the next tools read."""

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.profiles import (
    NORMALIZATION_CHOICES,
    NORMALIZATIONS,
    PROFILE_ATTRS,
    feature_columns,
    meta_columns,
    normalize_profiles,
    profile_info,
    resolve_normalization,
    well_profiles,
    write_profiles,
)


def _plates(seed=0, n_neg=8, n_treated=6, n_feat=4, plates=("Week1_1", "Week2_1")) -> pd.DataFrame:
    """Well profiles of plates with different offsets and scales; feature f3 is silent in DMSO."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, plate in enumerate(plates):
        offset, scale = 3.0 * k, 1.0 + k
        for i in range(n_neg + n_treated):
            neg = i < n_neg
            v = offset + scale * rng.normal(0, 1, n_feat)
            v[3] = 0.0 if neg else rng.uniform(1, 2)
            rows.append(
                {
                    "Metadata_Plate": plate,
                    "Metadata_Well": f"A{i + 1:02d}",
                    "Metadata_Compound": "DMSO" if neg else f"c{i % 3}",
                    "Metadata_Role": "negative" if neg else "treated",
                    **{f"f{j}": float(x) for j, x in enumerate(v)},
                }
            )
    return pd.DataFrame(rows)


def test_normalization_table_and_alias():
    assert NORMALIZATION_CHOICES[0] == "none"
    assert {"none", "mad_robustize", "mad_robustize+spherize", "dmso"} <= set(NORMALIZATION_CHOICES)
    assert resolve_normalization("dmso") is NORMALIZATIONS["mad_robustize"]
    assert NORMALIZATIONS["mad_robustize+spherize"].steps == ("mad_robustize", "spherize")
    with pytest.raises(AnalysisError, match="expected one of"):
        resolve_normalization("zscore")


def test_mad_robustize_equals_hand_computation_per_plate():
    prof = _plates()
    out = normalize_profiles(prof, "dmso")
    info = profile_info(out)
    assert info["normalization"] == "mad_robustize"
    assert info["dropped_features"]["mad_robustize"] == ["f3"]  # zero MAD over the DMSO wells
    assert feature_columns(out) == ["f0", "f1", "f2"] and meta_columns(out) == meta_columns(prof)
    assert out.index.equals(prof.index) and out["Metadata_Well"].equals(prof["Metadata_Well"])
    for _, grp in prof.groupby("Metadata_Plate"):
        neg = grp[grp["Metadata_Role"] == "negative"][["f0", "f1", "f2"]].to_numpy()
        med = np.median(neg, axis=0)
        mad = 1.4826 * np.median(np.abs(neg - med), axis=0)
        expect = (grp[["f0", "f1", "f2"]].to_numpy() - med) / mad
        got = out.loc[grp.index, ["f0", "f1", "f2"]].to_numpy()
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
        # the plate's DMSO wells are centred at 0 with robust spread 1
        neg_out = got[: len(neg)]
        np.testing.assert_allclose(np.median(neg_out, axis=0), 0, atol=1e-6)
    assert out["f0"].dtype == np.float32


def test_too_few_dmso_wells_names_plate_count_and_need():
    prof = _plates()
    few = prof.drop(
        prof.index[(prof["Metadata_Plate"] == "Week2_1") & (prof["Metadata_Role"] == "negative")][1:]
    )
    with pytest.raises(AnalysisError, match=r"plate 'Week2_1' has 1 negative-control .*at least 2 per plate"):
        normalize_profiles(few, "mad_robustize+spherize")
    with pytest.raises(AnalysisError, match="role column"):
        normalize_profiles(prof.drop(columns=["Metadata_Role"]), "mad_robustize")
    assert normalize_profiles(prof.drop(columns=["Metadata_Role"]), "none")["f0"].notna().all()


def test_spherize_makes_dmso_covariance_identity():
    # more DMSO wells than features, correlated features: sphering fitted on the DMSO wells
    rng = np.random.default_rng(3)
    mix = rng.normal(0, 1, (5, 5))
    rows = []
    for plate in ("P1", "P2", "P3"):
        for i in range(40):
            neg = i < 30
            v = rng.normal(0, 1, 5) @ mix + (0 if neg else 2.0)
            rows.append(
                {"Metadata_Plate": plate, "Metadata_Role": "negative" if neg else "treated"}
                | {f"f{j}": float(x) for j, x in enumerate(v)}
            )
    prof = pd.DataFrame(rows)
    before = normalize_profiles(prof, "mad_robustize")
    neg_before = before[before["Metadata_Role"] == "negative"][feature_columns(before)].to_numpy(float)
    assert np.abs(np.corrcoef(neg_before.T) - np.eye(5)).max() > 0.3  # correlated before
    out = normalize_profiles(prof, "mad_robustize+spherize")
    assert profile_info(out)["spherize"]["spherize_method"] == "ZCA-cor"
    neg = out[out["Metadata_Role"] == "negative"][feature_columns(out)].to_numpy(float)
    np.testing.assert_allclose(np.cov(neg.T), np.eye(5), atol=1e-3)
    treated = out[out["Metadata_Role"] == "treated"][feature_columns(out)].to_numpy(float)
    assert np.linalg.norm(treated.mean(axis=0)) > 1.0  # the treatment shift survives


def test_spherize_drops_exactly_dependent_features():
    # class probabilities (float32, as in the profiles) sum to 1: one is a linear combination of
    # the others; after each plate's own mad_robustize only nearly so over the pooled DMSO wells
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4), size=120).astype(np.float32)
    prof = pd.DataFrame(p, columns=[f"prob_{c}" for c in "abcd"])
    prof.insert(0, "Metadata_Role", (["negative"] * 20 + ["treated"] * 10) * 4)
    prof.insert(0, "Metadata_Plate", np.repeat(["P1", "P2", "P3", "P4"], 30))
    out = normalize_profiles(prof, "mad_robustize+spherize")
    dropped = profile_info(out)["dropped_features"]["spherize"]
    assert len(dropped) == 1 and len(feature_columns(out)) == 3
    assert np.isfinite(out[feature_columns(out)].to_numpy()).all()


def test_well_profiles_of_probabilities_skip_failed_fields():
    fields = pd.DataFrame(
        {
            "plate": "Week1_1",
            "well": ["A01", "A01", "A01", "A02", "A02"],
            "status": ["ok", "ok", "skipped", "ok", "skipped"],
            "prob_A": [0.2, 0.4, np.nan, 0.9, np.nan],
            "prob_B": [0.8, 0.6, np.nan, 0.1, np.nan],
        }
    )
    prof = well_profiles(fields, features=["prob_A", "prob_B"])
    assert prof["prob_A"].tolist() == pytest.approx([0.3, 0.9])
    assert feature_columns(prof) == ["prob_A", "prob_B"]
    assert profile_info(prof)["normalization"] == "none"
    with pytest.raises(AnalysisError, match="lacks column"):
        well_profiles(fields, features=["prob_C"])


def test_profile_file_reads_back_in_pycytominer_and_copairs(tmp_path):
    from copairs.map import average_precision
    from pycytominer import aggregate, normalize

    prof = normalize_profiles(_plates(), "mad_robustize")
    path = write_profiles(prof, tmp_path / "profiles.parquet", features="embeddings")
    back = pd.read_parquet(path)
    assert back.attrs[PROFILE_ATTRS]["normalization"] == "mad_robustize"
    assert back.attrs[PROFILE_ATTRS]["features"] == "embeddings"
    pd.testing.assert_frame_equal(back, prof, check_like=False)
    feats = [c for c in back.columns if not c.startswith("Metadata_")]
    # pycytominer: the file path as it is, metadata inferred from the Metadata_ prefix
    again = normalize(
        str(path),
        features=feats,
        meta_features="infer",
        samples="Metadata_Role == 'negative'",
        method="standardize",
    )
    assert list(again.columns) == list(back.columns) and len(again) == len(back)
    consensus = aggregate(back, strata=["Metadata_Plate", "Metadata_Compound"], features=feats)
    assert len(consensus) == back.groupby(["Metadata_Plate", "Metadata_Compound"]).ngroups
    # copairs: metadata = the Metadata_ columns, features = the rest
    ap = average_precision(
        back[[c for c in back.columns if c.startswith("Metadata_")]],
        back[feats].to_numpy(),
        pos_sameby=["Metadata_Compound"],
        pos_diffby=[],
        neg_sameby=[],
        neg_diffby=["Metadata_Compound"],
        progress_bar=False,
    )
    assert ap["average_precision"].notna().any()
