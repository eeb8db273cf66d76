"""BF16 (Keras ``mixed_bfloat16``) training model: dtypes, loss scaling, weight decay, policy reset."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize(
    ("flags", "vendor", "expected", "phrase"),
    [
        ("avx2,avx512f,avx512_bf16,amx_bf16", "GenuineIntel", "bf16", "computes BF16 fast (avx512_bf16, amx_bf16)"),
        ("avx2,avx512f,avx512_bf16", "AuthenticAMD", "bf16", "computes BF16 fast (avx512_bf16)"),
        ("avx2,avx512f,avx512_bf16", "GenuineIntel", "fp32", "native but slower than FP32"),
        ("avx2", "GenuineIntel", "fp32", "no native BF16"),
    ],
)
def test_auto_precision_takes_bf16_only_where_it_is_fast(monkeypatch, flags, vendor, expected, phrase):
    from mcnn_train.training_precision import resolve_training_precision

    monkeypatch.setenv("HCS_CPU_FLAGS", flags)
    monkeypatch.setenv("HCS_CPU_VENDOR", vendor)
    precision, reason = resolve_training_precision("auto")
    assert precision == expected and reason.startswith("auto: ") and phrase in reason
    assert resolve_training_precision("fp32") == ("fp32", resolve_training_precision("fp32")[1])
    assert resolve_training_precision("fp32")[1].startswith("--precision fp32 as requested")


def test_auto_precision_run_records_its_choice(mini_screen, tmp_path, monkeypatch):
    from mcnn_infer.card import load_card
    from mcnn_train.config import TrainConfig
    from mcnn_train.trainer import train

    monkeypatch.setenv("HCS_CPU_FLAGS", "avx2")  # a CPU without native BF16: auto trains in fp32
    out = train(
        TrainConfig(
            out=tmp_path / "auto", data_root=mini_screen, model="mcnn-small", size=(128, 128), batch_size=8,
            epochs=1, lr_schedule="0.01", warmup_epochs=0, precision="auto",
        )
    )
    training = load_card(out).training
    assert training["precision"] == "fp32" and training["keras_policy"] == "float32"
    assert "no native BF16" in training["precision_reason"]
    assert json.loads((out / "config.json").read_text())["precision"] == "fp32"  # resolved, kept on resume


@pytest.mark.slow
@needs_bf16
def test_bf16_tiled_run_exports_with_float32_parity(mini_screen, tmp_path):
    """A bf16 run trained on tiles (the demo's recipe) passes the export's FP32 parity check: its
    SavedModel, the check's reference, is the float32 model, so ONNX and OpenVINO FP32 match it to
    float32 rounding (its tiling layers once took the run's ``mixed_bfloat16`` policy and rounded
    every field to bfloat16: max |dlogit| 0.013 > 0.008 on the demo, 2e-4 here)."""
    import tensorflow as tf
    from rich.console import Console

    from mcnn_infer.card import load_card
    from mcnn_train.config import TrainConfig
    from mcnn_train.export import export_run
    from mcnn_train.trainer import train

    run = train(
        TrainConfig(
            out=tmp_path / "bf16", data_root=mini_screen, model="mcnn-small", size=(256, 256), tile=(128, 128),
            batch_size=4, epochs=1, lr_schedule="0.01", warmup_epochs=0, precision="bf16",
        )
    )
    assert load_card(run).training["precision"] == "bf16"
    keras_model = tf.keras.models.load_model(run / "model.keras", safe_mode=True, compile=False)
    assert {layer.dtype_policy.name for layer in keras_model.layers} == {"float32"}  # crops, means, M-CNN
    model_dir = export_run(run, tmp_path / "model", ["onnx", "openvino-fp32"], console=Console(quiet=True))
    parity = load_card(model_dir).parity
    scale = parity["max_abs_reference_logit"]
    assert scale > 0.1  # trained logits, not zeros
    for name in ("onnx", "openvino-fp32"):
        result = parity["formats"][name]
        assert result["passed"] and result["compiled_precision"] == "f32", (name, result)
        # float32 against float32; bfloat16-rounded fields gave 4e-4 x max |logit| here
        assert result["max_abs_logit_diff"] < 2e-5 * scale, (name, result, scale)
