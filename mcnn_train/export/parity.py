"""Parity: the same preprocessed fields through TensorFlow and every exported format.

For each format the report gives the max absolute difference of the logits and of the
embedding from TensorFlow's, and the top-1 agreement (fraction of fields whose arg-max
class is the same). FP32 formats must satisfy ``max |dlogit| <= FP32_ATOL + FP32_RTOL *
max |logit_tf|``, and must report ``f32`` as their compiled precision (OpenVINO would compute
in BF16 by itself on CPUs with native BF16). Reduced-precision formats (FP16 weights, BF16,
INT8) are reported but not failed here (BF16 and INT8 have their agreement check,
:mod:`mcnn_train.export.agreement`). Every format is compiled by :func:`mcnn_infer.runtime.open_engine`,
exactly as the scorer compiles it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mcnn_infer.formats import FORMATS
from mcnn_infer.runtime import open_engine
from mcnn_train.export.context import ExportContext
from mcnn_train.export.errors import ParityError

#: Absolute and relative (to the largest TensorFlow logit) tolerance of FP32 formats.
FP32_ATOL = 1e-3
FP32_RTOL = 1e-3
#: Number of fields compared, and fields per inference call.
DEFAULT_FIELDS = 16
BATCH = 4
RANDOM_SEED = 0

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def compare(
    reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """Differences between two ``(logits (N, K), embedding (N, E))`` results.

    Returns
    -------
    dict
        ``max_abs_logit_diff``, ``max_abs_embedding_diff``, ``top1_agreement`` (in [0, 1]), ``n_fields``.
    """
    ref_logits, ref_emb = reference
    logits, emb = other
    if ref_logits.shape != logits.shape or ref_emb.shape != emb.shape:
        raise ParityError(
            f"output shapes differ: logits {logits.shape} vs {ref_logits.shape}, "
            f"embedding {emb.shape} vs {ref_emb.shape} (expected equal)"
        )
    return {
        "max_abs_logit_diff": float(np.max(np.abs(logits.astype(np.float64) - ref_logits))),
        "max_abs_embedding_diff": float(np.max(np.abs(emb.astype(np.float64) - ref_emb))),
        "top1_agreement": float(np.mean(np.argmax(logits, axis=1) == np.argmax(ref_logits, axis=1))),
        "n_fields": int(ref_logits.shape[0]),
    }


def run_batches(runner: Runner, inputs: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Run ``inputs`` (N, H, W, C) through ``runner`` ``batch`` fields at a time; concatenate the outputs."""
    outs = [runner(inputs[i : i + batch]) for i in range(0, len(inputs), batch)]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def fp32_tolerance(reference_logits: np.ndarray) -> float:
    """Largest accepted max |dlogit| of an FP32 format given TensorFlow's logits."""
    return FP32_ATOL + FP32_RTOL * float(np.max(np.abs(reference_logits)))


def parity_inputs(ctx: ExportContext, n: int = DEFAULT_FIELDS) -> tuple[np.ndarray, dict[str, Any]]:
    """Preprocessed fields for the parity check and a description of where they came from.

    Held-out fields of the calibration plate when one was given, else seeded uniform noise in
    [0, 1] (the range of preprocessed fields). Returns float32 (n, H, W, C) and the description.
    """
    h, w, c = ctx.tf_model.input_shape
    if ctx.plate_fields is not None:
        rows = ctx.plate_fields.holdout.iloc[:n]
        return ctx.plate_fields.load(rows), {
            "source": f"held-out fields of plate {ctx.plate_fields.plate}",
            "n_fields": len(rows),
            "shape": [h, w, c],
        }
    rng = np.random.default_rng(RANDOM_SEED)
    return rng.random((n, h, w, c), dtype=np.float32), {
        "source": f"uniform random fields in [0, 1], seed {RANDOM_SEED} (no plate given)",
        "n_fields": n,
        "shape": [h, w, c],
    }


def check_parity(ctx: ExportContext, n_fields: int = DEFAULT_FIELDS) -> dict[str, Any]:
    """Compare every scorer format recorded in ``ctx.card`` (loaded from the staging folder) with TensorFlow.

    The staging folder must already hold ``card.json`` with the formats' checksums: each format
    is compiled by :func:`mcnn_infer.runtime.open_engine`, exactly as the scorer compiles it.

    Returns
    -------
    dict
        The parity report stored in the card.

    Raises
    ------
    ParityError
        If an FP32 format exceeds the tolerance (the message names the format and the numbers).
    """
    inputs, source = parity_inputs(ctx, n_fields)
    reference = run_batches(ctx.tf_model.infer, inputs)
    tolerance = fp32_tolerance(reference[0])
    formats: dict[str, Any] = {}
    failures = []
    for name in ctx.card.formats:
        fmt = FORMATS[name]
        if not fmt.scorer_backend:
            continue
        engine = open_engine(ctx.stage, fmt.runtime, fmt.precision, batch_size=BATCH, card=ctx.card)
        result = compare(reference, engine.infer(inputs))
        checked = fmt.precision == "fp32"
        result["compiled_precision"] = engine.compiled_precision
        result["checked"] = checked
        result["passed"] = (
            result["max_abs_logit_diff"] <= tolerance and engine.compiled_precision == "f32" if checked else None
        )
        formats[name] = result
        if checked and engine.compiled_precision != "f32":
            failures.append(f"{name}: compiled for {engine.compiled_precision} (expected f32)")
        elif checked and not result["passed"]:
            failures.append(f"{name}: max |dlogit| {result['max_abs_logit_diff']:.3g} > {tolerance:.3g}")
    if failures:
        raise ParityError(
            f"exported model of {ctx.run.path} disagrees with TensorFlow on {source['source']}: "
            + "; ".join(failures)
            + f" (expected FP32 formats within {FP32_ATOL} + {FP32_RTOL} x max |logit|)"
        )
    return {
        "reference": "tensorflow SavedModel serving_default",
        "inputs": source,
        "max_abs_reference_logit": float(np.max(np.abs(reference[0]))),
        "fp32_tolerance": {"atol": FP32_ATOL, "rtol": FP32_RTOL, "max_abs_logit_diff": tolerance},
        "formats": formats,
    }
