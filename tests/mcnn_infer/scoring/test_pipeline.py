"""End-to-end scoring in-process: outputs, bad fields, resume, shards + merge, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.errors import ChannelMismatchError, ConfigError, HcsError, PlateError
from mcnn_infer.images import read_field
from mcnn_infer.preprocess import preprocess_field
from mcnn_infer.runtime import log_odds, open_engine, softmax
from mcnn_infer.scoring.merge import merge_results
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from mcnn_infer.scoring.shard import Shard
from mcnn_infer.scoring.store import PARTS_DIR
from tests.fixtures.tiny_plate import make_tiny_plate, well_names
from tests.mcnn_infer.scoring.conftest import plate_map

TABLES = ("fields", "wells")


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def _assert_same(a: Path, b: Path, names=TABLES) -> None:
    for name in names:
        pd.testing.assert_frame_equal(_read(a, name), _read(b, name), check_exact=True)
        assert (a / f"{name}.csv").read_bytes() == (b / f"{name}.csv").read_bytes()
    # the thumbnails too: resumed and merged runs keep the same fields' composites
    pd.testing.assert_frame_equal(_read(a, "thumbnails"), _read(b, "thumbnails"), check_exact=True)


def test_scores_match_the_model_and_aggregate(tiny_model, plate_24, tmp_path):
    meta = plate_map(tmp_path / "map.csv", "P1", well_names(24))
    out = tmp_path / "out"
    summary = score_plates(
        [plate_24],
        out,
        tiny_model,
        ScoreOptions(metadata=[str(meta)], embeddings=True, batch_size=5, flush_every=7),
    )
    fields = _read(out, "fields")
    assert summary.counts["ok"] == 48 and summary.counts["skipped"] == 0
    assert list(fields.columns[:5]) == ["plate", "well", "site", "timepoint", "plane"]
    assert {"path_w1", "path_w2", "path_w4", "qc_empty", "qc_saturated", "qc_blurry"} <= set(fields.columns)
    # the probabilities are the model's, field by field (synchronous reference through runtime.open_engine)
    model = open_engine(tiny_model, "openvino", batch_size=1)
    rows = fields.iloc[[0, 13, 47]]
    batch = np.stack(
        [
            preprocess_field(
                read_field([r.path_w1, r.path_w2, r.path_w4]), model.card.normalization, (64, 80)
            )
            for r in rows.itertuples()
        ]
    )
    expected = softmax(model.infer(batch)[0])
    probs = rows[[f"prob_{c}" for c in model.card.class_names]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-5)
    assert (rows["predicted_class"].to_numpy() == np.array(model.card.class_names)[expected.argmax(1)]).all()
    # the log-odds readout, from the same logits
    logodds = rows[[f"logodds_{c}" for c in model.card.class_names]].to_numpy()
    np.testing.assert_allclose(logodds, log_odds(model.infer(batch)[0]), rtol=1e-4, atol=1e-4)
    # wells: mean of the two sites
    wells = _read(out, "wells")
    assert len(wells) == 24 and (wells["n_fields"] == 2).all()
    b02 = fields[fields["well"] == "B02"]["prob_DMSO"].mean()
    assert wells.set_index("well").loc["B02", "prob_DMSO"] == pytest.approx(b02, rel=1e-6)
    assert wells.set_index("well").loc["A01", "compound"] == "DMSO"
    b02_logodds = fields[fields["well"] == "B02"]["logodds_DMSO"].mean()
    assert wells.set_index("well").loc["B02", "logodds_DMSO"] == pytest.approx(b02_logodds, rel=1e-5)
    assert not wells["in_training"].any()  # the tiny model's card names no training wells
    # treatments: mean over wells of (compound, concentration)
    treatments = _read(out, "treatments")
    dmso = treatments[treatments["compound"] == "DMSO"].iloc[0]
    assert dmso["n_wells"] == 2  # A01, B01
    assert dmso["prob_DMSO"] == pytest.approx(
        wells[wells["compound"] == "DMSO"]["prob_DMSO"].mean(), rel=1e-6
    )
    assert set(treatments.columns[:7]) == {
        "compound",
        "concentration",
        "moa",
        "role",
        "predicted_moa",
        "confidence",
        "n_wells",
    }
    emb = pd.read_parquet(out / "embeddings.parquet")
    assert emb.shape == (48, 5 + 16) and emb.columns[-1] == "emb_015"
    np.testing.assert_allclose(
        emb.iloc[[0, 13, 47]].iloc[:, 5:].to_numpy(), model.infer(batch)[1], rtol=1e-4, atol=1e-5
    )


def test_bad_fields_are_recorded_not_lost(tiny_model, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=("B02", "B03", "B04"), sites=2)
    files = sorted(plate.glob("P1_B03_s1_w2*.tif"))
    files[0].write_bytes(b"II*\x00garbage")  # truncated TIFF
    next(plate.glob("P1_B04_s2_w4*.tif")).unlink()  # incomplete field -> scan problem
    out = tmp_path / "out"
    summary = score_plates([plate], out, tiny_model)
    fields = _read(out, "fields")
    assert summary.counts == {"fields": 6, "ok": 4, "skipped": 2, "wells": 3, "treatments": 0}
    bad = fields[fields["status"] == "skipped"].set_index("well")
    assert files[0].name in bad.loc["B03", "reason"]
    assert "missing channel w4" in bad.loc["B04", "reason"]
    assert pd.isna(bad.loc["B03", "predicted_class"]) and np.isnan(bad.loc["B03", "prob_DMSO"])
    wells = _read(out, "wells").set_index("well")
    assert wells.loc["B03", "n_fields"] == 1 and wells.loc["B02", "n_fields"] == 2
    with pytest.raises(HcsError, match=files[0].name):
        score_plates([plate], tmp_path / "out2", tiny_model, ScoreOptions(on_error="fail"))


@pytest.mark.parametrize("model_fixture", ["tiny_model", "plate_model"])
def test_resume_after_lost_parts_gives_identical_outputs(model_fixture, plate_24, tmp_path, request):
    tiny_model = request.getfixturevalue(model_fixture)
    options = ScoreOptions(batch_size=4, flush_every=4)
    full = tmp_path / "full"
    score_plates([plate_24], full, tiny_model, options)
    parts = sorted((full / PARTS_DIR).glob("part-*.parquet"))
    assert len(parts) == 12
    partial = tmp_path / "partial"
    shutil.copytree(full / PARTS_DIR, partial / PARTS_DIR)
    for part in parts[3::2]:  # as if the run had died with these batches unwritten
        (partial / PARTS_DIR / part.name).unlink()
    summary = score_plates([plate_24], partial, tiny_model, ScoreOptions(batch_size=4, flush_every=9))
    assert summary.scored_now == 20
    _assert_same(full, partial)
    again = score_plates([plate_24], partial, tiny_model, options)  # finished: nothing left to score
    assert again.scored_now == 0
    _assert_same(full, partial)


def test_different_model_or_options_refuse_to_resume(tiny_model, plate_24, tmp_path):
    out = tmp_path / "out"
    score_plates([plate_24], out, tiny_model)
    with pytest.raises(ConfigError, match="embeddings.*--overwrite"):
        score_plates([plate_24], out, tiny_model, ScoreOptions(embeddings=True))
    score_plates([plate_24], out, tiny_model, ScoreOptions(embeddings=True, overwrite=True))
    assert (out / "embeddings.parquet").is_file()


@pytest.mark.parametrize("model_fixture", ["tiny_model", "plate_model"])
def test_shards_merged_equal_unsharded_run(model_fixture, tmp_path, request):
    tiny_model = request.getfixturevalue(model_fixture)
    plates = [
        make_tiny_plate(tmp_path / "p", plate=name, wells=well_names(10), sites=2, seed=k)
        for k, name in enumerate(("P1", "P2"))
    ]
    (sorted(plates[1].glob("P2_A03_s1_w1*.tif"))[0]).write_bytes(b"not a tiff")
    meta = tmp_path / "map.csv"
    plate_map(meta, "P1", well_names(10))
    extra = plate_map(tmp_path / "map2.csv", "P2", well_names(10))
    options = dict(metadata=[str(meta), str(extra)], embeddings=True, batch_size=3)
    whole = tmp_path / "whole"
    score_plates(plates, whole, tiny_model, ScoreOptions(**options))
    shards = []
    for i in range(3):
        shards.append(tmp_path / f"shard{i}")
        score_plates(plates, shards[-1], tiny_model, ScoreOptions(**options), shard=Shard(i, 3))
    sizes = [len(_read(s, "fields")) for s in shards]
    assert sum(sizes) == 40 and min(sizes) > 0
    merged = tmp_path / "merged"
    merge_results(shards, merged)
    _assert_same(whole, merged, ("fields", "wells", "treatments"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(whole / "embeddings.parquet"), pd.read_parquet(merged / "embeddings.parquet")
    )
    with pytest.raises(ConfigError, match="1/3 are missing"):
        merge_results([shards[0], shards[2]], tmp_path / "m2")
    with pytest.raises(ConfigError, match="twice"):
        merge_results([shards[0], shards[0], shards[1]], tmp_path / "m3")


def test_per_plate_normalisation_scores_a_stain_shifted_plate_alike(plate_model, tiny_model, tmp_path):
    from tests.mcnn_infer.test_plate_normalization import shifted_copy

    first = make_tiny_plate(tmp_path / "p", plate="P1", wells=well_names(12), sites=2, seed=5)
    second = shifted_copy(first, tmp_path / "p", "P2", gain=0.5, offset=900.0)
    results = {}
    for name, model in (("plate", plate_model), ("fixed", tiny_model)):
        score_plates([first, second], tmp_path / name, model)
        wells = _read(tmp_path / name, "wells").set_index(["plate", "well"])
        probs = wells[[c for c in wells.columns if c.startswith("prob_")]]
        results[name] = np.abs(probs.loc["P1"].to_numpy() - probs.loc["P2"].to_numpy()).max()
    assert results["plate"] < 1e-3 < 0.05 < results["fixed"]
    record = json.loads((tmp_path / "plate" / "run.json").read_text())["normalization"]
    assert record["method"] == "plate" and sorted(record["plates"]) == ["P1", "P2"]
    assert record["plates"]["P2"]["low"][0] > record["plates"]["P1"]["low"][0] + 800


def test_rerun_of_a_finished_per_plate_run_reads_no_image_to_normalise(plate_model, tmp_path, monkeypatch):
    from mcnn_infer import plate_normalization

    plate = make_tiny_plate(tmp_path / "p", plate="P1", wells=well_names(6), sites=2, seed=2)
    out = tmp_path / "out"
    score_plates([plate], out, plate_model)
    first = json.loads((out / "run.json").read_text())["normalization"]
    assert sorted(first["plates"]) == ["P1"]
    reads = []
    real = plate_normalization.read_field
    monkeypatch.setattr(plate_normalization, "read_field", lambda paths: reads.append(paths) or real(paths))
    again = score_plates([plate], out, plate_model)
    assert again.scored_now == 0 and reads == []
    assert json.loads((out / "run.json").read_text())["normalization"] == first
    # a record that is not a per-plate one is ignored, never trusted
    assert plate_normalization.from_record({"method": "plate", "plates": {"P1": {"low": "x"}}}) == {}
    assert plate_normalization.from_record({"method": "fixed", "plates": first["plates"]}) == {}
    assert plate_normalization.from_record(None) == {}
    # --overwrite refits
    score_plates([plate], out, plate_model, ScoreOptions(overwrite=True))
    assert len(reads) == 12


def test_onnxruntime_backend_agrees_with_openvino(tiny_model, plate_24, tmp_path):
    score_plates([plate_24], tmp_path / "ov", tiny_model)
    score_plates([plate_24], tmp_path / "ort", tiny_model, ScoreOptions(backend="onnxruntime"))
    ov, ort = _read(tmp_path / "ov", "fields"), _read(tmp_path / "ort", "fields")
    probs = [c for c in ov.columns if c.startswith("prob_")]
    np.testing.assert_allclose(ov[probs].to_numpy(), ort[probs].to_numpy(), atol=1e-4)


def test_plate_that_does_not_fit_the_card_is_refused(tiny_model, tmp_path):
    two = make_tiny_plate(tmp_path / "two", channels=2, wells=("B02",))
    with pytest.raises(ChannelMismatchError, match=r"\['w1', 'w2'\].*w4"):
        score_plates([two], tmp_path / "o1", tiny_model)
    eight = make_tiny_plate(tmp_path / "eight", wells=("B02",), dtype=np.uint8)
    with pytest.raises(PlateError, match="8-bit.*16-bit.*--allow-bit-depth-mismatch"):
        score_plates([eight], tmp_path / "o2", tiny_model)
    done = score_plates([eight], tmp_path / "o3", tiny_model, ScoreOptions(allow_bit_depth_mismatch=True))
    assert done.counts["ok"] == 1


def test_channel_map_renames_plate_channels(tiny_model, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", layout="harmony", wells=("B02", "C03"))
    options = ScoreOptions(channel_map={"w1": "ch1", "w2": "ch2", "w4": "ch3"})
    summary = score_plates([plate], tmp_path / "o", tiny_model, options)
    assert summary.counts["ok"] == 2
    with pytest.raises(ConfigError, match="DNA"):
        score_plates([plate], tmp_path / "o2", tiny_model, ScoreOptions(channel_map={"DNA": "ch1"}))


def test_wells_the_model_trained_on_are_flagged(tiny_model, plate_24, tmp_path):
    import json
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model, model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    card.setdefault("training", {})["wells"] = {"train": ["P1/A01", "P1/B02"], "validation": ["P1/B03"]}
    (model_dir / "card.json").write_text(json.dumps(card))
    meta = plate_map(tmp_path / "map.csv", "P1", well_names(24))
    out = tmp_path / "out"
    score_plates([plate_24], out, model_dir, ScoreOptions(metadata=[str(meta)]))
    wells = _read(out, "wells")
    assert sorted(wells.loc[wells["in_training"], "well"]) == ["A01", "B02", "B03"]
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["training_wells"] == ["P1/A01", "P1/B02", "P1/B03"]
