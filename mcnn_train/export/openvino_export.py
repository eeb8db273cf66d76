"""``model.onnx`` -> OpenVINO IR (``model.xml`` + ``model.bin``), FP32 or FP16 weights, card in rt_info."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcnn_infer.activation import FEATURE_MAP
from mcnn_infer.formats import FORMATS
from mcnn_train.export.context import ExportContext
from mcnn_train.export.embedded import OPENVINO_CARD_PATH
from mcnn_train.export.errors import ExportError
from mcnn_train.export.exporters import exporter
from mcnn_train.export.tf_model import INPUT_NAME, OUTPUT_NAMES


def convert_onnx(ctx: ExportContext):
    """Read the staged ``model.onnx`` as an ``openvino.Model`` carrying the card in its runtime info."""
    import openvino as ov

    model = ov.convert_model(str(ctx.stage / FORMATS["onnx"].path))
    check_names(model, ctx.stage / FORMATS["onnx"].path)
    model.set_rt_info(ctx.embedded_card, list(OPENVINO_CARD_PATH))
    return model


def save_ir(model, ctx: ExportContext, name: str, compress_to_fp16: bool) -> dict[str, Any]:
    """Save ``model`` as format ``name`` in the staging folder; return its card facts."""
    import openvino as ov

    path = ctx.stage / FORMATS[name].path
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path), compress_to_fp16=compress_to_fp16)
    return {
        "converter": f"openvino {ov.__version__}",
        "inputs": {INPUT_NAME: _shape(model.input(INPUT_NAME))},
        "outputs": {
            name_: _shape(model.output(name_))
            for name_ in (*OUTPUT_NAMES, *([FEATURE_MAP] if FEATURE_MAP in ctx.card.outputs else []))
        },
    }


@exporter("openvino-fp32")
def export_openvino_fp32(ctx: ExportContext) -> dict[str, Any]:
    """Write ``openvino/model.xml`` + ``.bin`` with FP32 weights."""
    return save_ir(convert_onnx(ctx), ctx, "openvino-fp32", compress_to_fp16=False)


@exporter("openvino-fp16")
def export_openvino_fp16(ctx: ExportContext) -> dict[str, Any]:
    """Write ``openvino-fp16/model.xml`` + ``.bin`` with weights stored as FP16 (computed in FP32 on CPU)."""
    return save_ir(convert_onnx(ctx), ctx, "openvino-fp16", compress_to_fp16=True)


def check_names(model, source: Path) -> None:
    """Raise ExportError unless the IR has the input ``image`` (dynamic batch) and both outputs."""
    names = {n for out in model.outputs for n in out.get_names()}
    inputs = {n for inp in model.inputs for n in inp.get_names()}
    if INPUT_NAME not in inputs or not set(OUTPUT_NAMES) <= names:
        raise ExportError(
            f"OpenVINO model from {source} has inputs {sorted(inputs)} and outputs {sorted(names)} "
            f"(expected {INPUT_NAME!r} and {list(OUTPUT_NAMES)})"
        )
    if not model.input(INPUT_NAME).get_partial_shape()[0].is_dynamic:
        raise ExportError(f"OpenVINO model from {source} has a fixed batch size (expected a dynamic batch)")


def _shape(port) -> list[int | None]:
    return [None if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
