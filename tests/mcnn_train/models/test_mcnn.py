from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_train.models import build_model, forward_gflop, get_model_spec, model_names


def test_registry_lists_both_variants():
    assert model_names() == ["mcnn", "mcnn-small"]
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*mcnn, mcnn-small"):
        get_model_spec("resnet")


def test_full_mcnn_structure_and_parameter_count():
    model = build_model("mcnn", 1024, 1280, 3, 13)
    assert model.count_params() == 42_577_261  # about 42.6 M
    assert model.input.name == "image"
    assert model.input_shape == (None, 1024, 1280, 3)
    assert model.output_names == ["logits", "embedding"]
    assert model.output_shape == [(None, 13), (None, 512)]
    filters = (16, 16, 16, 32, 32, 32, 64)
    for k, f in enumerate(filters):
        assert [model.get_layer(f"col{k}_conv{j}").filters for j in (1, 2, 3)] == [f, f, f]
        assert model.get_layer(f"col{k}_conv1").kernel_size == (5, 5)
        assert model.get_layer(f"col{k}_pool").output_shape == (None, 16, 20, f)
        if k:  # chained: 2x2 pools of the previous column's down-sampled image
            assert model.get_layer(f"col{k}_downsample").pool_size == (2, 2)
            assert model.get_layer(f"col{k}_downsample").output_shape == (None, 1024 >> k, 1280 >> k, 3)
    assert model.get_layer("concat").output_shape == (None, 16, 20, 208)
    assert model.get_layer("fusion_conv").output_shape == (None, 16, 20, 1024)
    assert model.get_layer("fusion_pool").output_shape == (None, 8, 10, 1024)
    assert model.get_layer("flatten").output_shape == (None, 81920)
    assert model.get_layer("embedding").activation.__name__ == "relu"
    assert model.get_layer("logits").activation.__name__ == "linear"
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)
    assert forward_gflop(1024, 1280, 3, 13, get_model_spec("mcnn").widths) == pytest.approx(51.4, abs=0.1)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_each_column_sees_the_image_max_pooled_by_2_to_the_k_to_the_bit(policy):
    import tensorflow as tf

    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model("mcnn-small", 128, 256, 2, 3)
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
    # distinct values with ties in some windows, as camera counts have
    image = np.random.default_rng(1).integers(0, 50, (2, 128, 256, 2)).astype(np.float32) / 49.0
    names = [f"col{k}_downsample" for k in range(1, 7)]
    scaled = tf.keras.Model(model.input, [model.get_layer(n).output for n in names])(image)
    for k, got in enumerate(scaled, start=1):
        direct = tf.nn.max_pool2d(tf.cast(image, got.dtype), 2**k, 2**k, "VALID")
        assert got.shape == (2, 128 >> k, 256 >> k, 2)
        np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(direct, np.float32))


@pytest.mark.parametrize("size", [(1000, 1280), (1024, 1300), (64, 128), (0, 128)])
def test_sizes_that_are_not_multiples_of_128_are_rejected(size):
    with pytest.raises(ConfigError, match="multiple of 128"):
        build_model("mcnn-small", size[0], size[1], 3, 4)


def test_small_variant_runs_and_embedding_is_after_relu():
    model = build_model("mcnn-small", 128, 256, 2, 5, weight_decay=5e-5)
    x = np.random.default_rng(0).random((2, 128, 256, 2), dtype=np.float32)
    logits, embedding = model(x, training=False)
    assert logits.shape == (2, 5)
    assert embedding.shape == (2, get_model_spec("mcnn-small").widths.embedding_units)
    assert float(np.min(embedding)) >= 0.0
    # L2 weight decay wd/2 * sum(w^2) on kernels only (7 columns x 3 convs + fusion + 2 dense).
    assert len(model.losses) == 7 * 3 + 3
    assert model.count_params() < 2_000_000


def test_saved_keras_model_loads_in_safe_mode(tmp_path):
    import tensorflow as tf

    model = build_model("mcnn-small", 128, 128, 3, 4, weight_decay=5e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = tf.keras.models.load_model(path, safe_mode=True, compile=False)
    x = np.random.default_rng(1).random((1, 128, 128, 3), dtype=np.float32)
    np.testing.assert_allclose(loaded(x)[0], model(x)[0], rtol=1e-6)
