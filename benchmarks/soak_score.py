"""Soak: score the same synthetic plate again and again for a bounded time; watch for leaks.

Run: ``.venv/bin/python benchmarks/soak_score.py [--seconds 120] [--fields 96] [--size 256 320]``

Each iteration calls :func:`mcnn_infer.scoring.pipeline.score_plates` (the public function behind
``hcs score``) on the same plate into a fresh output folder (the previous one is deleted), with
the tiny test CNN of ``tests/fixtures/tiny_model.py`` at ``--precision`` (fp32, or bf16 on CPUs with
native BF16; the engine is opened by :func:`mcnn_infer.runtime.open_engine` inside the scorer, and
the precision it compiled is printed from the run's ``engine`` record). After each iteration it samples fields/s of
the scoring loop and the process RSS (psutil); at the end it counts open file descriptors and
threads and compares them with the counts after the first iteration (engines, thread pools and
OpenVINO's own threads exist from then on).

Verdict (exit code 1 if any fails):
* RSS growth to the last iteration < ``--max-growth`` (10 %), from iteration 2, or on runs of
  8+ iterations from the end of the first quarter (allocator / Arrow pool warm-up);
* open files and threads back to their level after iteration 1 (OpenVINO/ONNX Runtime keep
  their thread pools; a per-iteration leak would grow with the iteration count);
* fields/s of the last quarter of iterations >= 80 % of the second quarter's (no slowdown);
* every iteration scored every field.

``--json FILE`` also writes the samples for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mcnn_infer.cpu import cpu_report  # noqa: E402
from mcnn_infer.scoring.options import ScoreOptions  # noqa: E402
from mcnn_infer.scoring.pipeline import score_plates  # noqa: E402
from tests.fixtures.tiny_model import make_tiny_model  # noqa: E402
from tests.fixtures.tiny_plate import make_tiny_plate, well_names  # noqa: E402


def _open_files(proc: psutil.Process) -> int:
    try:
        return proc.num_fds()
    except (AttributeError, psutil.AccessDenied):
        return len(proc.open_files())


def soak(
    seconds: float,
    fields: int,
    size: tuple[int, int],
    work: Path,
    max_growth: float = 0.10,
    min_iterations: int = 4,
    log=print,
    precision: str = "fp32",
    backend: str = "openvino",
) -> dict:
    """Run the soak; return samples and the verdict (``ok`` plus one reason per check)."""
    proc = psutil.Process()
    sites = 2
    formats = ("onnx", "openvino-fp32", *(["openvino-bf16"] if precision == "bf16" else []))
    model = make_tiny_model(work / "model", size=(64, 80), filters=8, formats=formats)
    plate = make_tiny_plate(work / "plates", wells=well_names(fields // sites), sites=sites, size=size)
    options = ScoreOptions(backend=backend, precision=precision, embeddings=True, flush_every=32)
    baseline = {
        "rss_mb": proc.memory_info().rss / 2**20,
        "fds": _open_files(proc),
        "threads": proc.num_threads(),
    }
    samples = []
    start = time.monotonic()
    iteration = 0
    log(f"soak: {fields} fields of {size[0]}x{size[1]} x3 uint16 per iteration, >= {seconds:.0f} s")
    engine = None
    log(f"{'iter':>4} {'t (s)':>7} {'fields/s':>9} {'RSS (MB)':>9} {'fds':>5} {'threads':>7}")
    while iteration < min_iterations or time.monotonic() - start < seconds:
        iteration += 1
        out = work / f"out-{iteration}"
        summary = score_plates([plate], out, model, options)
        shutil.rmtree(out)
        if engine is None:
            engine = summary.run_info["engine"]
            log(
                f"engine: {engine['format']} ({engine['runtime']}), compiled for "
                f"{engine['inference_precision_compiled']} (requested {engine['inference_precision_requested']}), "
                f"batch {engine['batch_size']} x {engine['requests']} requests"
            )
        gc.collect()
        sample = {
            "iteration": iteration,
            "t_s": round(time.monotonic() - start, 2),
            "fields_per_s": round(summary.fields_per_second, 1),
            "scored": summary.scored_now,
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "fds": _open_files(proc),
            "threads": proc.num_threads(),
        }
        samples.append(sample)
        log(
            f"{iteration:>4} {sample['t_s']:>7.1f} {sample['fields_per_s']:>9.1f} {sample['rss_mb']:>9.1f} "
            f"{sample['fds']:>5} {sample['threads']:>7}"
        )
    first, second, last = samples[0], samples[1], samples[-1]
    # RSS reference: iteration 2, or the end of the first quarter on long runs (allocator and Arrow
    # memory pools warm up over the first few iterations; a leak keeps growing after that).
    ref = samples[max(1, len(samples) // 4 - 1)]
    growth = (last["rss_mb"] - ref["rss_mb"]) / ref["rss_mb"]
    growth_from_2 = (last["rss_mb"] - second["rss_mb"]) / second["rss_mb"]
    peak_after_2 = max(s["rss_mb"] for s in samples[1:])
    quarter = max(1, len(samples) // 4)
    early = statistics.median(s["fields_per_s"] for s in samples[quarter : 2 * quarter] or samples[1:2])
    late = statistics.median(s["fields_per_s"] for s in samples[-quarter:])
    checks = {
        "rss": (
            growth < max_growth,
            f"RSS {ref['rss_mb']:.0f} MB (iteration {ref['iteration']}) -> {last['rss_mb']:.0f} MB "
            f"({growth:+.1%}; {growth_from_2:+.1%} from iteration 2)",
        ),
        "fds": (
            last["fds"] <= first["fds"],
            f"open files {first['fds']} after iteration 1, {last['fds']} at end",
        ),
        "threads": (
            last["threads"] <= first["threads"],
            f"threads {first['threads']} after iteration 1, {last['threads']} at end",
        ),
        "throughput": (
            late >= 0.8 * early,
            f"fields/s {early:.0f} (2nd quarter) -> {late:.0f} (last quarter)",
        ),
        "complete": (all(s["scored"] == fields for s in samples), f"every iteration scored {fields} fields"),
    }
    ok = all(passed for passed, _ in checks.values())
    for name, (passed, text) in checks.items():
        log(f"  {'PASS' if passed else 'FAIL'} {name}: {text}")
    log(f"verdict: {'PASS' if ok else 'FAIL'} ({len(samples)} iterations in {last['t_s']:.0f} s)")
    return {
        "ok": ok,
        "checks": {name: {"passed": passed, "detail": text} for name, (passed, text) in checks.items()},
        "baseline": baseline,
        "peak_rss_mb_after_iteration_2": peak_after_2,
        "rss_growth": growth,
        "rss_growth_from_iteration_2": growth_from_2,
        "samples": samples,
        "engine": engine,
        "cpu": cpu_report(),
        "config": {
            "seconds": seconds,
            "fields": fields,
            "size": list(size),
            "cpus": os.cpu_count(),
            "precision": precision,
            "backend": backend,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--fields", type=int, default=96)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 320), metavar=("H", "W"))
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument(
        "--precision", choices=["fp32", "bf16"], default="fp32", help="bf16 needs a CPU with native BF16"
    )
    parser.add_argument("--backend", choices=["openvino", "onnxruntime"], default="openvino")
    parser.add_argument("--json", type=Path, help="Also write the samples and the verdict here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hcs-soak-") as tmp:
        result = soak(
            args.seconds,
            args.fields,
            tuple(args.size),
            Path(tmp),
            args.max_growth,
            precision=args.precision,
            backend=args.backend,
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
