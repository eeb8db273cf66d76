"""OpenVINO INT8 by NNCF post-training quantization, calibrated on real plate fields.

Calibration fields and held-out fields come from disjoint wells of the ``--calibrate`` plate
(:mod:`mcnn_train.export.calibration`) and are preprocessed by
:func:`mcnn_infer.preprocess.preprocess_field` with the card's normalisation, exactly as the
scorer does. INT8 and FP32 are then compiled as the scorer compiles them and compared on the
held-out fields (:mod:`mcnn_train.export.agreement`); the export is refused when the top-1
agreement is below ``min_agreement``
(default :data:`mcnn_train.export.context.DEFAULT_MIN_AGREEMENT`, 0.95: at most 1 field in 20 may
change class).
"""

from __future__ import annotations

from typing import Any

from mcnn_infer.formats import FORMATS
from mcnn_train.export.agreement import held_out_agreement
from mcnn_train.export.context import ExportContext
from mcnn_train.export.embedded import OPENVINO_CARD_PATH
from mcnn_train.export.errors import AgreementError, ExportError, QuantizationError
from mcnn_train.export.exporters import exporter
from mcnn_train.export.openvino_export import save_ir

PRESET = "mixed"  # symmetric weights, asymmetric activations (ReLU outputs are non-negative)
#: Activation ranges are the global min / max over all calibration fields. NNCF's default
#: (mean over fields of each field's min / max) clips the brightest wells of a plate: on the
#: default model it dropped held-out agreement from 100 % to 87.5 %.
RANGE_ESTIMATOR = "MINMAX"


def quantize(ctx: ExportContext):
    """Quantize the staged FP32 IR with NNCF on the calibration fields; return the INT8 ``openvino.Model``."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    fields = ctx.plate_fields
    if fields is None or ctx.int8 is None:
        raise ExportError("INT8 export needs a calibration plate (--calibrate PLATE_DIR)")
    fp32 = ov.Core().read_model(str(ctx.stage / FORMATS["openvino-fp32"].path))
    rows = [row for _, row in fields.calibration.iterrows()]
    dataset = nncf.Dataset(rows, lambda row: fields.field(row)[None])
    model = nncf.quantize(
        fp32,
        dataset,
        preset=nncf.QuantizationPreset(PRESET),
        subset_size=len(rows),
        advanced_parameters=AdvancedQuantizationParameters(
            activations_range_estimator_params=getattr(RangeEstimatorParametersSet, RANGE_ESTIMATOR)
        ),
    )
    model.set_rt_info(ctx.embedded_card, list(OPENVINO_CARD_PATH))
    return model


@exporter("openvino-int8")
def export_openvino_int8(ctx: ExportContext) -> dict[str, Any]:
    """Quantize, check the agreement with FP32, then write ``openvino-int8/model.xml`` + ``.bin``.

    Raises
    ------
    QuantizationError
        If the held-out top-1 agreement is below ``ctx.int8.min_agreement`` (the staging folder,
        and so the INT8 files, are removed by :func:`~mcnn_train.export.pipeline.export_run`).
    """
    facts = save_ir(quantize(ctx), ctx, "openvino-int8", compress_to_fp16=False)
    try:
        check = held_out_agreement(ctx, "openvino-int8")
    except AgreementError as exc:
        raise QuantizationError(str(exc)) from None
    facts["calibration"] = {
        "plate": str(ctx.plate_fields.plate),
        "n_fields": len(ctx.plate_fields.calibration),
        "method": f"nncf.quantize, preset {PRESET}, activation ranges {RANGE_ESTIMATOR}",
    }
    facts["accuracy_check"] = check
    return facts
