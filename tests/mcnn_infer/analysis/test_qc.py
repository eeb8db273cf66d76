import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.qc import field_qc_summary, plate_qc, z_prime
from mcnn_infer.image_qc import blurry_flags, image_qc
from tests.conftest import SHARED_DATA

BBBC021_FIELD = str(
    SHARED_DATA / "bbbc021" / "Week1_150607_C02_s3_w1E54F0108-F44A-4F6E-9637-6A9DE80F0823.tif"
)


def test_z_prime_matches_formula():
    pos = np.array([9.0, 10.0, 11.0])
    neg = np.array([0.0, 1.0, 2.0])
    assert z_prime(pos, neg) == pytest.approx(1 - 3 * (1 + 1) / 9)
    assert np.isnan(z_prime([1.0], neg))


def test_plate_qc_flags_bad_plate():
    rng = np.random.default_rng(0)
    rows = []
    for plate, sd in (("good", 0.02), ("bad", 0.3)):
        rows += [{"plate": plate, "role": "positive", "s": 0.9 + rng.normal(0, sd)} for _ in range(8)]
        rows += [{"plate": plate, "role": "negative", "s": 0.1 + rng.normal(0, sd)} for _ in range(8)]
    qc = plate_qc(pd.DataFrame(rows), "s").set_index("plate")
    assert qc.loc["good", "passed"] and qc.loc["good", "z_prime"] > 0.5
    assert not qc.loc["bad", "passed"] and "below 0.5" in qc.loc["bad", "flag"]
    with pytest.raises(AnalysisError, match="role"):
        plate_qc(pd.DataFrame({"plate": ["p"], "s": [1.0]}), "s")


def test_image_qc_real_field_is_clean_and_empty_saturated_are_flagged():
    real = tifffile.imread(BBBC021_FIELD)
    q = image_qc(real)
    assert not q["qc_empty"] and not q["qc_saturated"] and q["fg_fraction"] > 0.05
    rng = np.random.default_rng(1)
    empty = rng.normal(300, 5, (128, 160, 3)).astype(np.uint16)
    assert image_qc(empty)["qc_empty"]
    sat = real[:256, :256].copy()
    sat[:64] = np.iinfo(np.uint16).max
    assert image_qc(sat)["qc_saturated"]


def test_blurry_flag_relative_to_plate_median():
    real = tifffile.imread(BBBC021_FIELD)[:256, :256].astype(np.float32)
    sharp = image_qc(real)["focus"]
    blurred = image_qc(ndi.gaussian_filter(real, 4))["focus"]
    focus = pd.Series([sharp, sharp * 1.05, sharp * 0.95, blurred])
    flags = blurry_flags(focus, pd.Series(["p"] * 4))
    assert flags.tolist() == [False, False, False, True]


def test_field_qc_summary_lists_flagged_only():
    fields = pd.DataFrame(
        {
            "plate": ["p", "p"],
            "well": ["A01", "A02"],
            "site": [1, 1],
            "timepoint": [1, 1],
            "qc_empty": [True, False],
            "qc_saturated": [False, False],
            "qc_blurry": [False, False],
        }
    )
    out = field_qc_summary(fields)
    assert out["well"].tolist() == ["A01"]


def test_plate_qc_uses_only_controls_the_model_did_not_train_on():
    rng = np.random.default_rng(0)
    wells = pd.DataFrame(
        {
            "plate": "P1",
            "well": [f"A{i:02d}" for i in range(1, 17)],
            "role": ["negative"] * 8 + ["positive"] * 8,
            # the trained-on controls are perfectly separated, the held-out ones are noisy
            "score": np.r_[np.zeros(4), rng.normal(0.2, 0.1, 4), np.ones(4), rng.normal(0.8, 0.1, 4)],
            "in_training": [True] * 4 + [False] * 4 + [True] * 4 + [False] * 4,
        }
    )
    row = plate_qc(wells, "score").iloc[0]
    held = wells[~wells["in_training"]]
    expected = z_prime(held.loc[held.role == "positive", "score"], held.loc[held.role == "negative", "score"])
    assert row["z_prime"] == pytest.approx(expected)
    assert (row["n_neg"], row["n_pos"], row["n_trained_excluded"]) == (4, 4, 8)
    assert row["controls"] == "held out"
    # every control trained on: no Z' at all (an in-sample Z' is not QC)
    trained = plate_qc(wells.assign(in_training=True), "score").iloc[0]
    assert np.isnan(trained["z_prime"]) and not trained["passed"]
    assert "the model trained on 16 of this plate's control wells" in trained["flag"]
    # results without the flag (a model trained on other plates): all controls
    untouched = plate_qc(wells.drop(columns="in_training"), "score").iloc[0]
    assert untouched["n_neg"] == 8 and untouched["controls"].startswith("all")
