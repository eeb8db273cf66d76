"""One way to open a model: explicit, read-back precision; BF16 only where the CPU has it; auto."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.card import load_card
from mcnn_infer.cpu import FLAGS_ENV, VENDOR_ENV, native_bf16
from mcnn_infer.errors import ConfigError
from mcnn_infer.formats import FORMATS
from mcnn_infer.runtime import ENGINES, open_engine, resolve_precision
from tests.fixtures.tiny_model import make_tiny_model

NO_BF16 = "avx2,avx512f,avx512_vnni"
NOTHING_NATIVE = "avx2"
needs_bf16 = pytest.mark.skipif(
    not native_bf16(), reason="this CPU has no native BF16 (avx512_bf16/amx_bf16)"
)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Tiny 3-channel model with ONNX, OpenVINO FP32 and a (fixture-)validated BF16 entry."""
    return make_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny", formats=("onnx", "openvino-fp32", "openvino-bf16")
    )


def _fields(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, 64, 80, 3), dtype=np.float32)


def test_every_runtime_of_the_format_table_has_an_engine():
    assert {f.runtime for f in FORMATS.values() if f.scorer_backend} == set(ENGINES)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_fp32_compiles_as_f32_on_every_cpu(model, backend):
    engine = open_engine(model, backend, "fp32", batch_size=4)
    assert engine.compiled_precision == "f32"
    assert engine.describe()["inference_precision_compiled"] == "f32"


def test_openvino_and_onnxruntime_fp32_agree_tightly(model):
    ov_logits, ov_emb = open_engine(model, "openvino", "fp32", batch_size=4).infer(_fields())
    ort_logits, ort_emb = open_engine(model, "onnxruntime", "fp32", batch_size=4).infer(_fields())
    np.testing.assert_allclose(ov_logits, ort_logits, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ov_emb, ort_emb, atol=1e-5, rtol=1e-5)


def test_infer_keeps_input_order_across_padded_batches(model):
    engine = open_engine(model, "openvino", "fp32", batch_size=4)
    x = _fields(7)
    whole = engine.infer(x)[0]
    one_by_one = np.concatenate([engine.infer(x[i : i + 1])[0] for i in range(7)])
    np.testing.assert_allclose(whole, one_by_one, atol=1e-6)


@needs_bf16
def test_bf16_compiles_as_bf16_and_agrees_with_fp32(model):
    engine = open_engine(model, "openvino", "bf16", batch_size=4)
    assert engine.compiled_precision == "bf16" and engine.fmt.name == "openvino-bf16"
    bf16 = engine.infer(_fields())[0]
    fp32 = open_engine(model, "openvino", "fp32", batch_size=4).infer(_fields())[0]
    assert not np.array_equal(bf16, fp32), "BF16 gave bit-identical logits: was it really compiled for BF16?"
    np.testing.assert_allclose(bf16, fp32, atol=0.05 * float(np.abs(fp32).max()) + 1e-3)


def test_bf16_on_a_cpu_without_it_is_refused_in_one_line(model, monkeypatch):
    monkeypatch.setenv(FLAGS_ENV, NO_BF16)
    with pytest.raises(ConfigError, match=r"needs a CPU with native BF16 .*avx512_bf16 or amx_bf16") as info:
        open_engine(model, "openvino", "bf16")
    assert "\n" not in str(info.value)


def test_bf16_needs_a_card_that_validated_it(tmp_path):
    plain = make_tiny_model(tmp_path / "plain")
    with pytest.raises(ConfigError, match=r"no openvino-bf16 export .*hcs export"):
        open_engine(plain, "openvino", "bf16")


def test_auto_takes_the_fastest_validated_native_precision(model, monkeypatch):
    card = load_card(model)
    monkeypatch.setenv(FLAGS_ENV, "avx2,avx512f,avx512_bf16,amx_bf16,avx512_vnni")
    precision, why = resolve_precision(card, "openvino", "auto")
    assert precision == "bf16" and "int8: not validated in the card" in why
    # AVX-512 BF16 without AMX: native on both vendors, faster than fp32 only on AMD (Zen 4)
    monkeypatch.setenv(FLAGS_ENV, "avx2,avx512f,avx512_bf16,avx512_vnni")
    monkeypatch.setenv(VENDOR_ENV, "GenuineIntel")
    precision, why = resolve_precision(card, "openvino", "auto")
    assert precision == "fp32" and "bf16: slower than fp32 on this CPU" in why
    monkeypatch.setenv(VENDOR_ENV, "AuthenticAMD")
    assert resolve_precision(card, "openvino", "auto")[0] == "bf16"
    monkeypatch.setenv(FLAGS_ENV, NOTHING_NATIVE)
    precision, why = resolve_precision(card, "openvino", "auto")
    assert precision == "fp32" and "bf16: no native support on this CPU" in why
    assert resolve_precision(card, "onnxruntime", "auto")[0] == "fp32"
    assert resolve_precision(card, "openvino", "fp32") == ("fp32", "requested")
    engine = open_engine(model, "openvino", "auto", batch_size=2)
    assert engine.fmt.name == "openvino-fp32" and engine.precision_reason.startswith("auto:")


def test_streams_and_batch_are_explicit_and_say_where_they_came_from(model):
    chosen = open_engine(model, "openvino", "fp32")
    assert chosen.describe()["settings_from"]["batch_size"].startswith("input size")
    assert chosen.describe()["settings_from"]["streams"] == "the runtime's THROUGHPUT hint"
    asked = open_engine(model, "openvino", "fp32", batch_size=3, streams=1)
    facts = asked.describe()
    assert facts["streams"] == 1 and facts["batch_size"] == 3 and facts["threads"] >= 1
    assert facts["settings_from"] == {"batch_size": "requested", "streams": "requested", "hint": "THROUGHPUT"}
    logits, _ = asked.infer(_fields(4))
    np.testing.assert_allclose(logits, chosen.infer(_fields(4))[0], rtol=1e-5, atol=1e-5)
