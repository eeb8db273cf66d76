"""``openvino-bf16``: the FP32 IR validated for BF16 compute on CPUs with native BF16.

No file is written: BF16 is how the CPU computes the FP32 IR (OpenVINO
``INFERENCE_PRECISION_HINT = bf16``). The export compiles it that way, compares it with FP32
on the held-out fields of the calibration plate (:mod:`mcnn_train.export.agreement`), and the
card lists ``openvino-bf16`` with the FP32 files' checksums and the check only when it passed;
``hcs score --precision bf16`` (or ``auto``) needs that entry.
"""

from __future__ import annotations

from typing import Any

from mcnn_infer.cpu import cpu_report
from mcnn_train.export.agreement import held_out_agreement
from mcnn_train.export.context import ExportContext
from mcnn_train.export.exporters import exporter


@exporter("openvino-bf16")
def export_openvino_bf16(ctx: ExportContext) -> dict[str, Any]:
    """Check BF16 compute of the staged FP32 IR against FP32; return its card facts.

    Raises
    ------
    ConfigError
        On a CPU without native BF16 (one line naming the CPU's flags).
    AgreementError
        If the held-out top-1 agreement is below ``--min-agreement``.
    """
    check = held_out_agreement(ctx, "openvino-bf16")  # compile_engine refuses BF16 on a CPU without it
    return {
        "sha256": dict(ctx.card.formats["openvino-fp32"]["sha256"]),
        "inference_precision": "bf16",
        "accuracy_check": {**check, "cpu": cpu_report()},
    }
