"""Reduced precisions (INT8, BF16) against the FP32 IR on held-out fields of the calibration plate.

Both sides are compiled by :mod:`mcnn_infer.runtime` exactly as ``hcs score`` compiles them
(explicit inference precision, fixed batch), and fed the held-out fields preprocessed as the
scorer does. A format is refused when its top-1 agreement with FP32 is below
``--min-agreement``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mcnn_infer.formats import FORMATS
from mcnn_infer.runtime import compile_engine, open_engine
from mcnn_train.export.context import ExportContext
from mcnn_train.export.errors import AgreementError, ExportError
from mcnn_train.export.parity import compare

#: Fields per inference request in the check (the scorer's batch size does not change the numbers:
#: every batch is padded to the compiled size).
CHECK_BATCH = 8


def held_out_agreement(ctx: ExportContext, name: str) -> dict[str, Any]:
    """Compare format ``name`` (its file already in the staging folder) with the staged FP32 IR.

    Returns
    -------
    dict
        :func:`~mcnn_train.export.parity.compare` facts, plus ``reference``, ``min_top1_agreement``
        and the precision each side compiled for.

    Raises
    ------
    ExportError
        Without a calibration plate.
    AgreementError
        If the top-1 agreement is below ``ctx.int8.min_agreement``.
    """
    fields = ctx.plate_fields
    if fields is None or ctx.int8 is None:
        raise ExportError(f"the {name} export needs held-out plate fields (--calibrate PLATE_DIR)")
    fmt = FORMATS[name]
    candidate = compile_engine(ctx.card, fmt, ctx.stage / fmt.path, ctx.stage, batch_size=CHECK_BATCH)
    got = _stack([candidate.infer(batch) for batch in fields.batches(fields.holdout, batch=CHECK_BATCH)])
    check = compare(fp32_holdout_outputs(ctx), got)
    threshold = ctx.int8.min_agreement
    if check["top1_agreement"] < threshold:
        raise AgreementError(
            f"{name} model of {ctx.run.path} agrees with FP32 on {check['top1_agreement']:.1%} of "
            f"{check['n_fields']} held-out fields of {fields.plate} (expected at least {threshold:.1%}); "
            "calibrate on a plate like the ones you will score, or ship FP32 instead"
        )
    return {
        **check,
        "reference": f"openvino-fp32 computed in {FORMATS['openvino-fp32'].inference_precision}",
        "compiled_precision": candidate.compiled_precision,
        "min_top1_agreement": threshold,
    }


def fp32_holdout_outputs(ctx: ExportContext) -> tuple[np.ndarray, np.ndarray]:
    """The staged FP32 IR's ``(logits, embedding)`` on the held-out fields, computed once per export
    (the INT8 and BF16 checks compare with the same reference)."""
    if ctx.fp32_holdout is None:
        fields = ctx.plate_fields
        reference = open_engine(ctx.stage, "openvino", "fp32", batch_size=CHECK_BATCH, card=ctx.card)
        ctx.fp32_holdout = _stack(
            [reference.infer(b) for b in fields.batches(fields.holdout, batch=CHECK_BATCH)]
        )
    return ctx.fp32_holdout


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
