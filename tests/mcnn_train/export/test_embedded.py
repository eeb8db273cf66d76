"""The card embedded in the ONNX metadata and the OpenVINO runtime info."""

from __future__ import annotations

import onnx
import pytest

from mcnn_infer.card import load_card
from mcnn_infer.errors import ModelCardError
from mcnn_train.export.embedded import read_onnx_card, read_openvino_card


def test_onnx_and_ir_carry_the_card(exported):
    card = load_card(exported)
    for embedded in (
        read_onnx_card(exported / "model.onnx"),
        read_openvino_card(exported / "openvino" / "model.xml"),
        read_openvino_card(exported / "openvino-fp16" / "model.xml"),
        read_openvino_card(exported / "openvino-int8" / "model.xml"),
    ):
        assert embedded.class_names == card.class_names
        assert embedded.input == card.input
        assert embedded.normalization == card.normalization
        assert embedded.formats == {}


def test_onnx_input_has_dynamic_batch(exported):
    model = onnx.load(str(exported / "model.onnx"))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert model.graph.input[0].name == "image"
    assert not dims[0].HasField("dim_value") and [d.dim_value for d in dims[1:]] == [128, 128, 3]
    assert sorted(o.name for o in model.graph.output) == ["embedding", "logits"]
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 15


def test_onnx_without_card_is_reported(tmp_path, exported):
    model = onnx.load(str(exported / "model.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelCardError, match=r"bare\.onnx has no 'hcs.model_card'"):
        read_onnx_card(tmp_path / "bare.onnx")
