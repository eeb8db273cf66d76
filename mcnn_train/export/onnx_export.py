"""SavedModel -> ``model.onnx`` with tf2onnx: dynamic batch, opset >= 15, card in ``metadata_props``."""

from __future__ import annotations

from typing import Any

from mcnn_infer.activation import FEATURE_MAP
from mcnn_infer.formats import FORMATS
from mcnn_train.export.context import MIN_OPSET, ExportContext
from mcnn_train.export.embedded import ONNX_CARD_KEY
from mcnn_train.export.errors import ExportError
from mcnn_train.export.exporters import exporter
from mcnn_train.export.tf_model import INPUT_NAME, OUTPUT_NAMES


@exporter("onnx")
def export_onnx(ctx: ExportContext) -> dict[str, Any]:
    """Write ``ctx.stage/model.onnx``; return the facts recorded in the card.

    The graph input is ``image`` float32 ``[N, H, W, C]`` (N dynamic) and the outputs are
    exactly ``logits`` and ``embedding``.

    Raises
    ------
    ExportError
        If the opset is below 15 or the converted graph lacks the contract's names.
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    if ctx.opset < MIN_OPSET:
        raise ExportError(f"ONNX opset {ctx.opset} is too old (expected >= {MIN_OPSET})")
    serve = ctx.tf_model.serving_function()
    spec = [tf.TensorSpec([None, *ctx.tf_model.input_shape], tf.float32, name=INPUT_NAME)]
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=ctx.opset)
    _check_names(proto)
    onnx.helper.set_model_props(proto, {ONNX_CARD_KEY: ctx.embedded_card})
    proto.producer_name = "hcs export (tf2onnx)"
    onnx.checker.check_model(proto)
    path = ctx.stage / FORMATS["onnx"].path
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return {
        "opset": ctx.opset,
        "converter": f"tf2onnx {tf2onnx.__version__}",
        "inputs": {v.name: _dims(v) for v in proto.graph.input},
        "outputs": {v.name: _dims(v) for v in proto.graph.output},
    }


def _check_names(proto) -> None:
    inputs = [v.name for v in proto.graph.input]
    outputs = sorted(v.name for v in proto.graph.output if v.name != FEATURE_MAP)
    if inputs != [INPUT_NAME] or outputs != sorted(OUTPUT_NAMES):
        raise ExportError(
            f"tf2onnx produced inputs {inputs} and outputs {outputs} "
            f"(expected [{INPUT_NAME!r}] and {sorted(OUTPUT_NAMES)})"
        )


def _dims(value_info) -> list[int | None]:
    """Shape of an ONNX graph input/output; None for a dynamic dimension."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]
