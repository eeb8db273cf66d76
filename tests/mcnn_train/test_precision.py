"""BF16 (Keras ``mixed_bfloat16``) training model: dtypes, loss scaling, weight decay, policy reset."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.cpu import native_bf16

needs_bf16 = pytest.mark.skipif(
    not native_bf16(), reason="this CPU has no native BF16 (avx512_bf16 / amx_bf16): bf16 training is refused"
)


def _compiled(policy: str):
    from mcnn_train import distributed
    from mcnn_train.models import get_model_spec
    from mcnn_train.recipe import compile_for_training
    from mcnn_train.trainer import keras_policy

    distributed.init()
    with keras_policy(policy):
        model = get_model_spec("mcnn-small").build(128, 128, 3, 4, weight_decay=5e-4)
        train_model, optimizer = compile_for_training(model, 0.01)
    return model, train_model, optimizer


@needs_bf16
def test_bf16_model_computes_in_bfloat16_with_float32_logits_loss_and_decay():
    import tensorflow as tf

    model, train_model, _ = _compiled("mixed_bfloat16")
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # reset after the block
    conv = model.get_layer("col0_conv1")
    assert (conv.compute_dtype, conv.variable_dtype) == ("bfloat16", "float32")
    assert [o.dtype for o in model.outputs] == [tf.float32, tf.bfloat16]  # logits, embedding
    assert not isinstance(train_model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    decay = [loss.dtype for loss in model.losses]
    assert len(decay) == 24 and set(decay) == {tf.float32}  # L2 on the 24 kernels, in float32
    assert float(tf.add_n(model.losses)) > 0

    rng = np.random.default_rng(0)
    x = rng.random((4, 128, 128, 3), dtype=np.float32)
    y = tf.one_hot([0, 1, 2, 3], 4)
    before = model.get_layer("logits").kernel.numpy().copy()
    logs = train_model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert model.get_layer("logits").kernel.dtype == tf.float32
    assert not np.array_equal(before, model.get_layer("logits").kernel.numpy())


def test_mixed_float16_would_need_loss_scaling():
    """The check above can fail: Keras does wrap the optimizer for float16."""
    import tensorflow as tf

    _, train_model, _ = _compiled("mixed_float16")
    assert isinstance(train_model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)


def test_policy_is_float32_again_after_an_error():
    import tensorflow as tf

    from mcnn_train.trainer import keras_policy

    with pytest.raises(RuntimeError), keras_policy("mixed_bfloat16"):
        assert tf.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        raise RuntimeError("stop")
    assert tf.keras.mixed_precision.global_policy().name == "float32"
