"""Per-layer profiling is a narrow opt-in of the OpenVINO engine: off by default (scoring unchanged)."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.runtime import open_engine
from tests.fixtures.tiny_model import make_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", formats=("onnx", "openvino-fp32"))


def test_openvino_is_compiled_without_profiling_by_default(model):
    engine = open_engine(model, "openvino", "fp32", batch_size=2)
    assert engine.compiled.get_property("PERF_COUNT") == "NO"
    with pytest.raises(ConfigError, match="without profile=True"):
        engine.take_profiles()


def test_profiled_openvino_keeps_every_finished_requests_layer_times(model):
    engine = open_engine(model, "openvino", "fp32", batch_size=2, profile=True)
    assert engine.compiled.get_property("PERF_COUNT") == "YES"
    inputs = np.random.default_rng(0).random((5, *engine.input_shape), dtype=np.float32)
    logits, _ = engine.infer(inputs)
    plain, _ = open_engine(model, "openvino", "fp32", batch_size=2).infer(inputs)
    np.testing.assert_array_equal(logits, plain)  # profiling does not change the numbers
    profiles = engine.take_profiles()
    assert len(profiles) == 3  # 5 fields in batches of 2
    for request in profiles:
        kinds = {layer.node_type for layer in request}
        assert "Convolution" in kinds and all(layer.seconds >= 0 for layer in request)
    assert engine.take_profiles() == []  # taken once


def test_onnxruntime_refuses_profiling(model):
    with pytest.raises(ConfigError, match="OpenVINO formats only"):
        open_engine(model, "onnxruntime", "fp32", profile=True)
