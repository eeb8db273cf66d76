"""Class activation maps: an exact decomposition of each logit over the feature-map cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.activation import ActivationHead, field_maps, load_head, many_field_maps, tile_maps
from mcnn_infer.card import load_card, save_card
from mcnn_infer.errors import ModelCardError
from mcnn_infer.results import THUMBNAILS_FILE
from mcnn_infer.runtime import open_engine
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names


@pytest.fixture(scope="module")
def spatial_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("cam") / "tiny-fm", feature_map=True, filters=6)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_maps_plus_bias_are_the_logits(spatial_model, backend):
    card = load_card(spatial_model)
    head = load_head(card, spatial_model)
    engine = open_engine(spatial_model, backend, "fp32", 3, 1, card)
    fields = np.random.default_rng(1).random((5, 64, 80, 3), dtype=np.float32)
    engine.submit(fields[:3], 0)
    engine.submit(fields[3:], 3)
    finished = sorted(engine.drain(), key=lambda r: r[0])
    logits = np.concatenate([r[1] for r in finished])
    maps = np.concatenate([r[3] for r in finished])
    assert maps.shape == (5, 1, 8, 10, 6)
    for k in range(5):
        cam, bias = field_maps(head, maps[k])
        assert cam.shape == (3, 8, 10)
        np.testing.assert_allclose(cam.sum(axis=(1, 2)) + bias, logits[k], rtol=1e-4, atol=1e-4)
        assert np.ptp(cam) > 0
    # all five in one pass over the head's kernel: the same maps as field by field, to float32
    # rounding (BLAS blocks a 5-row product differently from a 1-row one, CPU by CPU)
    for (cam, bias), k in zip(many_field_maps(head, maps), range(5), strict=True):
        want_cam, want_bias = field_maps(head, maps[k])
        np.testing.assert_allclose(cam, want_cam, rtol=1e-5, atol=1e-6 * np.abs(want_cam).max())
        np.testing.assert_allclose(bias, want_bias, rtol=1e-12)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_only_the_asked_rows_feature_maps_come_back(spatial_model, backend):
    engine = open_engine(spatial_model, backend, "fp32", 3, 1)
    fields = np.random.default_rng(2).random((3, 64, 80, 3), dtype=np.float32)
    engine.submit(fields, "all")
    ((_, _, _, every),) = engine.drain()
    engine.submit(fields, "some", [2, 0])
    engine.submit(fields, "none", [])
    got = {tag: maps for tag, _, _, maps in engine.drain()}
    assert got["none"] is None and got["some"].shape == (2, *every.shape[1:])
    np.testing.assert_array_equal(got["some"], every[[2, 0]])


def test_tiles_are_placed_at_their_offsets_and_overlaps_are_averaged():
    rng = np.random.default_rng(0)
    # a 32x48 field in two 32x32 tiles at x = 0 and 16, one 2x2 grid of 16-px cells each
    head = ActivationHead(
        w1=rng.normal(size=(2 * 2 * 3, 5)),
        b1=rng.normal(size=5),
        w2=rng.normal(size=(5, 2)),
        b2=rng.normal(size=2),
        field=(32, 48),
        tile=(32, 32),
        offsets=[(0, 0), (0, 16)],
        cell=16,
    )
    assert head.grid == (2, 3)
    tiles = rng.random((2, 2, 2, 3))
    per_tile, tile_bias = tile_maps(head, tiles)
    for f, tile_map, b in zip(tiles, per_tile, tile_bias, strict=True):  # each tile exactly
        logit = np.maximum(f.reshape(-1) @ head.w1 + head.b1, 0) @ head.w2 + head.b2
        np.testing.assert_allclose(tile_map.sum(axis=(1, 2)) + b, logit, rtol=1e-6)
    cam, bias = field_maps(head, tiles)
    np.testing.assert_allclose(bias, tile_bias.mean(axis=0))
    half = per_tile / 2  # each tile's share of the averaged logit
    np.testing.assert_allclose(cam[:, :, 0], half[0, :, :, 0], rtol=1e-5)  # only tile 0 covers x < 16
    np.testing.assert_allclose(cam[:, :, 2], half[1, :, :, 1], rtol=1e-5)  # only tile 1 covers x >= 32
    np.testing.assert_allclose(cam[:, :, 1], (half[0, :, :, 1] + half[1, :, :, 0]) / 2, rtol=1e-5)


def test_scoring_stores_the_maps_of_the_thumbnailed_fields(spatial_model, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(4), sites=2)
    score_plates([plate], tmp_path / "out", spatial_model, ScoreOptions(batch_size=4))
    thumbs = pd.read_parquet(tmp_path / "out" / THUMBNAILS_FILE)
    assert (thumbs["cam_height"] == 8).all() and (thumbs["cam_width"] == 10).all()
    assert all(len(c) == 3 * 8 * 10 for c in thumbs["cam"])


def test_a_changed_head_file_is_refused(spatial_model, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(spatial_model, copy)
    card = load_card(copy)
    with open(copy / card.activation["file"], "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ModelCardError, match="activation_head.npz has sha256"):
        load_head(card, copy)
    card.activation = {}
    save_card(card, copy)
    assert load_head(load_card(copy), copy) is None
