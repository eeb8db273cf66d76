"""Reduced precisions (INT8, BF16) against the FP32 IR on held-out fields of the calibration plate.

Both sides are compiled by :mod:`mcnn_infer.runtime` exactly as ``hcs score`` compiles them
(explicit inference precision, fixed batch), and fed the held-out fields preprocessed as the
scorer does. A format is refused when its top-1 agreement with FP32 is below
``--min-agreement``. The same pass times both sides (after one warm-up batch, one request of
:data:`CHECK_BATCH` fields at a time), so the check also records the format's speed-up over FP32
on the exporting CPU (``speed``), which ``hcs score`` quotes when it ran fp32 where ``--precision
auto`` would not (:mod:`mcnn_infer.scoring.precision_hint`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mcnn_infer.cpu import cpu_report
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
    got, speed = _timed_outputs(candidate, fields)
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
        "speed": {
            "speedup": speed / ctx.fp32_fields_per_second,
            "fields_per_second": speed,
            "reference_fields_per_second": ctx.fp32_fields_per_second,
            "how": f"held-out fields after one warm-up batch, one request of {CHECK_BATCH} fields at a time",
            "cpu": cpu_report(),
        },
    }


def fp32_holdout_outputs(ctx: ExportContext) -> tuple[np.ndarray, np.ndarray]:
    """The staged FP32 IR's ``(logits, embedding)`` on the held-out fields, computed once per export
    (the INT8 and BF16 checks compare with the same reference)."""
    if ctx.fp32_holdout is None:
        fields = ctx.plate_fields
        reference = open_engine(ctx.stage, "openvino", "fp32", batch_size=CHECK_BATCH, card=ctx.card)
        ctx.fp32_holdout, ctx.fp32_fields_per_second = _timed_outputs(reference, fields)
    return ctx.fp32_holdout


def _timed_outputs(engine, fields) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """``(logits, embedding)`` of ``engine`` on the held-out fields and its fields/s on them (the
    inference calls only, after the first batch once more as a warm-up)."""
    parts, seconds, count = [], 0.0, 0
    for k, batch in enumerate(fields.batches(fields.holdout, batch=CHECK_BATCH)):
        if k == 0:
            engine.infer(batch)
        start = time.perf_counter()
        parts.append(engine.infer(batch))
        seconds += time.perf_counter() - start
        count += len(batch)
    return _stack(parts), count / max(seconds, 1e-9)


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
