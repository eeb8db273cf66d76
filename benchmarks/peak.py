"""Matmul peak GFLOP/s of this machine per precision, measured with OpenVINO itself.

A large MatMul (``rows x k`` per image times a constant ``k x n`` weight) is built with
``openvino.opset13`` ops (``openvino.runtime`` is gone in OpenVINO 2026), saved as IR with a small model card, and compiled by
:func:`mcnn_infer.runtime.compile_engine` as the formats of :data:`mcnn_infer.formats.FORMATS`:
``openvino-fp32`` (``INFERENCE_PRECISION_HINT`` f32), ``openvino-bf16`` (bf16) and
``openvino-int8`` (the same MatMul between FakeQuantize ops, which the CPU plugin runs as an
INT8 matmul; the rest of the graph in f32). So the peak runs through the very engine code, hint,
streams and requests of the model it is compared with.

Usage::

    .venv/bin/python benchmarks/peak.py            # prints the peaks of this CPU

As a module: :func:`measure_peaks` returns ``{precision: {...}}`` for the benchmarks.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mcnn_infer.card import InputSpec, ModelCard  # noqa: E402
from mcnn_infer.cpu import native_bf16  # noqa: E402
from mcnn_infer.formats import FORMATS  # noqa: E402
from mcnn_infer.preprocess import Normalization  # noqa: E402
from mcnn_infer.runtime import Engine, compile_engine  # noqa: E402

#: Benchmark precision -> the format whose compile settings the peak uses.
PEAK_FORMATS = {"fp32": "openvino-fp32", "bf16": "openvino-bf16", "int8": "openvino-int8"}
#: Default matmul: per image (ROWS x K) @ (K x N) = 2 * ROWS * K * N FLOP (8.6 GFLOP).
ROWS, K, N = 1024, 2048, 2048


def _matmul_model(rows: int, k: int, n: int, int8: bool, seed: int = 0):
    """``image [B, rows, k, 1] -> reshape [B*rows, k] @ W [k, n]``; outputs ``embedding`` = max over rows
    ([B, n]) and ``logits`` = its first two columns (the engine contract; negligible FLOP)."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(seed)
    image = ops.parameter([-1, rows, k, 1], ov.Type.f32, name="image")
    flat = ops.reshape(image, ops.constant(np.array([-1, k], np.int64)), special_zero=False)
    weight = ops.constant(rng.uniform(-1, 1, (k, n)).astype(np.float32))
    if int8:  # activations u8 on [0, 1], weights i8 symmetric: LPT turns this into an INT8 matmul
        lo, hi = ops.constant(np.float32(0.0)), ops.constant(np.float32(1.0))
        flat = ops.fake_quantize(flat, lo, hi, lo, hi, 256)
        wl, wh = ops.constant(np.float32(-1.0)), ops.constant(np.float32(1.0))
        weight = ops.fake_quantize(weight, wl, wh, wl, wh, 255)
    product = ops.matmul(flat, weight, False, False)
    per_image = ops.reshape(product, ops.constant(np.array([-1, rows, n], np.int64)), special_zero=False)
    embedding = ops.reduce_max(per_image, ops.constant(np.array([1], np.int64)), keep_dims=False)
    embedding.output(0).get_tensor().set_names({"embedding"})
    logits = ops.slice(
        embedding,
        ops.constant(np.array([0], np.int64)),
        ops.constant(np.array([2], np.int64)),
        ops.constant(np.array([1], np.int64)),
        ops.constant(np.array([1], np.int64)),
    )
    logits.output(0).get_tensor().set_names({"logits"})
    return ov.Model([ops.result(logits), ops.result(embedding)], [image], "matmul_peak")


def _card(rows: int, k: int, n: int) -> ModelCard:
    return ModelCard(
        model_name=f"matmul-peak-{rows}x{k}x{n}",
        architecture="matmul",
        input=InputSpec(height=rows, width=k, channels=["x"]),
        normalization=Normalization(low=(0.0,), high=(1.0,), method="fixed"),
        class_names=["a", "b"],
        embedding_size=n,
    )


def layer_precisions(
    engine: Engine, types: tuple[str, ...] = ("Convolution", "FullyConnected", "MatMul")
) -> str:
    """Runtime precision and kernel of the heavy layers of a compiled OpenVINO engine, e.g.
    ``Convolution bf16 x21 (brgconv_avx512_bf16)``.

    Read from the executable graph (``runtimePrecision`` and ``primitiveType`` of each node); ``-`` for
    other runtimes. The kernel tells which library computes a layer: on AMD Zen 4 the FP32
    FullyConnected of the matmul peak runs as ``gemm_mlas_f32`` (MLAS), the convolutions as oneDNN
    ``brgconv_avx512_f32``.
    """
    compiled = getattr(engine, "compiled", None)
    if compiled is None:
        return "-"
    counts: Counter[tuple[str, str]] = Counter()
    kernels: dict[tuple[str, str], set[str]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if layer in types:
            precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
            counts[(layer, precision.lower())] += 1
            if "primitiveType" in info:
                kernels.setdefault((layer, precision.lower()), set()).add(info["primitiveType"].astype(str))
    return (
        ", ".join(
            f"{layer} {precision} x{n} ({'/'.join(sorted(kernels.get((layer, precision), {'?'})))})"
            for (layer, precision), n in sorted(counts.items())
        )
        or "-"
    )


class PeakBench:
    """One precision's matmul engine and its inputs; :meth:`time_once` keeps the best time per image."""

    def __init__(self, precision: str, engine: Engine | None, gflop: float, images: int, skipped: str | None):
        self.precision, self.engine, self.gflop, self.skipped = precision, engine, gflop, skipped
        self.best = float("inf")
        self.samples: list[float] = []
        self.inputs = None
        if engine is not None:
            count = max(images, engine.batch_size * engine.jobs)
            count -= count % engine.batch_size
            h, w, c = engine.input_shape
            self.inputs = np.random.default_rng(1).random((count, h, w, c), dtype=np.float32)
            engine.infer(self.inputs[: engine.batch_size * engine.jobs])  # warm-up

    def time_once(self) -> float | None:
        """GFLOP/s of one pass over the inputs (None when skipped)."""
        if self.engine is None:
            return None
        start = time.perf_counter()
        self.engine.infer(self.inputs)
        per_image = (time.perf_counter() - start) / len(self.inputs)
        self.best = min(self.best, per_image)
        self.samples.append(self.gflop / per_image)
        return self.gflop / per_image

    @property
    def gflops(self) -> float | None:
        """Best GFLOP/s so far (None when skipped or not timed)."""
        return None if self.engine is None or self.best == float("inf") else self.gflop / self.best

    def result(self) -> dict[str, Any]:
        if self.engine is None:
            return {"skipped": self.skipped}
        e = self.engine
        return {
            "gflops": self.gflops,
            "samples_gflops": [round(v, 1) for v in self.samples],
            "gflop_per_image": self.gflop,
            "format": e.fmt.name,
            "compiled_precision": e.compiled_precision,
            "layers": layer_precisions(e, ("FullyConnected", "MatMul")),
            "batch": e.batch_size,
            "requests": e.jobs,
        }


def open_peaks(
    work: Path,
    precisions: tuple[str, ...] | None = None,
    images: int = 16,
    rows: int = ROWS,
    k: int = K,
    n: int = N,
    threads: int | None = None,
) -> dict[str, PeakBench]:
    """Compile the matmul model per precision into ``work`` (keep it until the engines are gone).

    BF16 is skipped (with the reason) on a CPU without native BF16.
    """
    import openvino as ov

    card = _card(rows, k, n)
    gflop = 2.0 * rows * k * n / 1e9
    out: dict[str, PeakBench] = {}
    for precision in precisions or tuple(PEAK_FORMATS):
        if precision == "bf16" and not native_bf16():
            reason = "no native BF16 on this CPU (flag avx512_bf16 or amx_bf16)"
            out[precision] = PeakBench(precision, None, gflop, images, reason)
            continue
        fmt = FORMATS[PEAK_FORMATS[precision]]
        folder = work / f"matmul-{precision}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "model.xml"
        ov.save_model(_matmul_model(rows, k, n, int8=precision == "int8"), str(path), compress_to_fp16=False)
        engine = compile_engine(card, fmt, path, folder, threads=threads)
        out[precision] = PeakBench(precision, engine, gflop, images, None)
    return out


def measure_peaks(
    precisions: tuple[str, ...] | None = None,
    images: int = 16,
    repeats: int = 3,
    rows: int = ROWS,
    k: int = K,
    n: int = N,
    threads: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Peak GFLOP/s per precision: best of ``repeats`` round-robin passes of ``images`` matmuls.

    Returns
    -------
    dict
        ``{precision: PeakBench.result()}``: ``gflops``, ``compiled_precision``, ``layers`` (runtime
        precision of the matmul), ``format``, ``batch``, ``requests``; or ``{'skipped': reason}``.
    """
    with tempfile.TemporaryDirectory(prefix="hcs-peak-") as tmp:
        peaks = open_peaks(Path(tmp), precisions, images, rows, k, n, threads)
        for _ in range(repeats):  # round-robin: the precisions share the machine's noise
            for bench in peaks.values():
                bench.time_once()
        return {p: bench.result() for p, bench in peaks.items()}


def format_peaks(peaks: dict[str, dict[str, Any]], shape: tuple[int, int, int] = (ROWS, K, N)) -> list[str]:
    """Printable lines, one per precision."""
    lines = [
        f"matmul peak with OpenVINO ({shape[0]}x{shape[1]} @ {shape[1]}x{shape[2]} per image, "
        f"compiled by mcnn_infer.runtime as the format of each precision):"
    ]
    base = peaks.get("fp32", {}).get("gflops")
    for p, r in peaks.items():
        if "skipped" in r:
            lines.append(f"  {p:5s} skipped: {r['skipped']}")
            continue
        ratio = f"{r['gflops'] / base:.2f}x fp32" if base else ""
        lines.append(
            f"  {p:5s} {r['gflops']:8.1f} GFLOP/s  {ratio:>10}  as {r['format']} (engine reports "
            f"{r['compiled_precision']}; executed: {r['layers']}; batch {r['batch']}, {r['requests']} "
            f"requests; passes {r['samples_gflops']} GFLOP/s)"
        )
    return lines


if __name__ == "__main__":
    from mcnn_infer.cpu import cpu_report

    print(cpu_report())
    print("\n".join(format_peaks(measure_peaks())))
