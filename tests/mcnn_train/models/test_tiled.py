"""The whole-field model made of a tile model: the mean over the grid of tiles, exported like any model."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mcnn_infer.preprocess import tile_offsets  # noqa: E402
from mcnn_train.models import build_model  # noqa: E402
from mcnn_train.models.tiled import build_tiled_model  # noqa: E402


def test_field_output_is_the_mean_over_the_tile_grid(tmp_path):
    tf.keras.utils.set_random_seed(0)
    tile_model = build_model("mcnn-small", 128, 128, 2, 3)
    field_model = build_tiled_model(tile_model, (256, 320))
    field = np.random.default_rng(0).random((2, 256, 320, 2), dtype=np.float32)
    logits, embedding = (t.numpy() for t in field_model(field, training=False))
    offsets = tile_offsets((256, 320), (128, 128))
    assert offsets == [(0, 0), (0, 96), (0, 192), (128, 0), (128, 96), (128, 192)]
    tiles = [tile_model(field[:, y : y + 128, x : x + 128], training=False) for y, x in offsets]
    np.testing.assert_allclose(logits, np.mean([t[0].numpy() for t in tiles], axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        embedding, np.mean([t[1].numpy() for t in tiles], axis=0), rtol=1e-5, atol=1e-6
    )
    assert field_model.count_params() == tile_model.count_params()
    # built from Keras's own layers: model.keras loads in safe mode with the same outputs
    field_model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(loaded(field, training=False)[0].numpy(), logits, rtol=1e-5, atol=1e-6)


def test_a_tile_as_large_as_the_field_is_the_tile_model():
    tile_model = build_model("mcnn-small", 128, 128, 1, 2)
    field_model = build_tiled_model(tile_model, (128, 128))
    field = np.random.default_rng(1).random((1, 128, 128, 1), dtype=np.float32)
    np.testing.assert_array_equal(field_model(field)[0].numpy(), tile_model(field)[0].numpy())


def test_the_wrapper_computes_in_float32_under_the_bf16_policy():
    """``hcs train --precision bf16`` builds the wrapper under ``mixed_bfloat16`` around a float32 copy
    of the tile model: the crops, the feature-map stack and the means stay float32, so the saved model
    is the float32 model (a bfloat16 crop rounded every field to 8 mantissa bits: the FP32 parity
    check of the export then failed by ~1e-2 on the demo)."""
    from mcnn_train.trainer import keras_policy

    tf.keras.utils.set_random_seed(0)
    tile_model = build_model("mcnn-small", 128, 128, 2, 3)
    with_map = tf.keras.Model(
        tile_model.inputs, [*tile_model.outputs, tile_model.get_layer("fusion_pool").output]
    )
    with keras_policy("mixed_bfloat16"):
        field_model = build_tiled_model(with_map, (256, 256))
    wrapper = [layer for layer in field_model.layers if layer is not with_map]
    assert {type(layer).__name__ for layer in wrapper} >= {"Cropping2D", "Reshape", "Concatenate", "Average"}
    assert {layer.dtype_policy.name for layer in wrapper} == {"float32"}
    field = np.random.default_rng(2).random((2, 256, 256, 2), dtype=np.float32) * 10
    outputs = [t.numpy() for t in field_model(field, training=False)]
    assert [o.dtype for o in outputs] == [np.float32] * 3
    tiles = [
        with_map(field[:, y : y + 128, x : x + 128], training=False)
        for y, x in [(0, 0), (0, 128), (128, 0), (128, 128)]
    ]
    np.testing.assert_allclose(
        outputs[0], np.mean([t[0].numpy() for t in tiles], axis=0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(outputs[2][:, 3], tiles[3][2].numpy())
