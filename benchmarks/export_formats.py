"""Side-by-side speed, agreement and fraction of peak of the export formats of the full M-CNN: fp32 / bf16 / int8.

One run, the same preprocessed held-out fields through OpenVINO FP32, OpenVINO BF16 (the FP32 IR
computed in BF16; only on CPUs with native BF16, else a line says why it is skipped), OpenVINO
INT8 (NNCF, calibrated on synthetic BBBC021-like fields of the same plate), ONNX Runtime and
TensorFlow (SavedModel). Every exported format is opened by :func:`mcnn_infer.runtime.open_engine`,
exactly as ``hcs score`` opens it (explicit inference precision, read back from the compiled model).

Printed, measured side by side (round-robin passes, best kept, so all formats share the
machine's noise):

* the CPU's flags (:func:`mcnn_infer.cpu.cpu_report`);
* the matmul peak GFLOP/s of this machine per precision, measured with OpenVINO in the same run
  (``benchmarks/peak.py``: a large MatMul compiled by ``mcnn_infer.runtime`` as openvino-fp32,
  openvino-bf16 and openvino-int8);
* per format: images/s, ratio to OpenVINO FP32, achieved GFLOP/s (images/s x the model's forward
  GFLOP from :func:`mcnn_train.models.forward_gflop`) as a fraction of the peak of the matching
  precision, top-1 agreement and max |dlogit| vs OpenVINO FP32 and vs TensorFlow, the compiled
  precision the engine reports, and the runtime precision of the executed conv / dense layers.

Usage::

    .venv/bin/python benchmarks/export_formats.py                  # mcnn at 1024x1280x3
    .venv/bin/python benchmarks/export_formats.py --model mcnn-small --size 256x256   # quick
    .venv/bin/python benchmarks/export_formats.py --layers --work /tmp/w  # + per-layer profile; reuses /tmp/w

The convolutions are untrained (seeded) and the logits layer is set from the principal
directions of the calibration fields' embeddings (``benchmarks/seeded_mcnn.py``), so agreement
numbers measure numerical fidelity on realistic inputs, not accuracy. The export never refuses
a format here (``min_agreement`` is tiny): this script reports the agreement, ``hcs export``
enforces it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.layer_efficiency import layer_report, print_report  # noqa: E402
from benchmarks.peak import ROWS, K, N, format_peaks, layer_precisions, open_peaks  # noqa: E402
from benchmarks.seeded_mcnn import find_plate, gflop_per_image, make_plate, make_run  # noqa: E402
from mcnn_infer.card import load_card  # noqa: E402
from mcnn_infer.cpu import cpu_report, native_bf16  # noqa: E402
from mcnn_infer.formats import FORMATS  # noqa: E402
from mcnn_infer.runtime import open_engine  # noqa: E402
from mcnn_train.export import export_run  # noqa: E402
from mcnn_train.export.calibration import plate_fields  # noqa: E402
from mcnn_train.export.parity import compare, run_batches  # noqa: E402
from mcnn_train.export.tf_model import TFModel  # noqa: E402

#: Formats timed, in print order; the first is the reference of the ratios.
BENCH_FORMATS = ("openvino-fp32", "openvino-bf16", "openvino-int8", "onnx", "tensorflow")
REFERENCE = "openvino-fp32"
#: Peak precision each format is compared with (a format computes in this precision).
PEAK_OF = {
    "openvino-fp32": "fp32",
    "openvino-bf16": "bf16",
    "openvino-int8": "int8",
    "onnx": "fp32",
    "tensorflow": "fp32",
}
console = Console(highlight=False, width=200)


def cpu_lines() -> list[str]:
    """The CPU's model and flags, one line each."""
    cpu = cpu_report()
    flags = " ".join(f"{f}={'yes' if v else 'no'}" for f, v in cpu["flags"].items())
    return [
        f"CPU: {cpu['model']}, {cpu['cores']} cores; native BF16: {cpu['native_bf16']}, "
        f"native INT8: {cpu['native_int8']} (from {cpu['flags_source']})",
        f"flags: {flags}",
    ]


def folder_size(model_dir: Path, name: str) -> int:
    """Bytes of the files of format ``name`` (from the card's checksum list)."""
    sums = load_card(model_dir).formats[name]["sha256"]
    return sum((model_dir / rel).stat().st_size for rel in sums)


class Runner:
    """One format: how to run all inputs, what it compiled for, its best time."""

    def __init__(self, name: str, run, compiled: str, layers: str, batch: int, requests: int) -> None:
        self.name, self.run, self.compiled, self.layers = name, run, compiled, layers
        self.batch, self.requests = batch, requests
        self.best = float("inf")
        self.samples: list[float] = []
        self.outputs: tuple[np.ndarray, np.ndarray] | None = None

    def time_once(self, inputs: np.ndarray, n_unique: int) -> None:
        """Time one pass over ``inputs``; keep the outputs of its first ``n_unique`` fields."""
        start = time.perf_counter()
        logits, embedding = self.run(inputs)
        seconds = time.perf_counter() - start
        self.best = min(self.best, seconds / len(inputs))
        self.samples.append(len(inputs) / seconds)
        if self.outputs is None:
            self.outputs = (logits[:n_unique], embedding[:n_unique])


def fill_requests(inputs: np.ndarray, runners) -> np.ndarray:
    """``inputs`` repeated to a multiple of every runner's ``batch x requests`` (no padded rows are timed)."""
    step = int(np.lcm.reduce([r.batch * r.requests for r in runners]))
    count = -(-len(inputs) // step) * step
    return inputs[np.arange(count) % len(inputs)]


def open_runners(model_dir: Path, names: list[str], batch: int | None) -> dict[str, Runner]:
    """A runner per format; exported formats via ``mcnn_infer.runtime.open_engine``."""
    card = load_card(model_dir)
    runners = {}
    for name in names:
        if name == "tensorflow":
            tf_model = TFModel(model_dir / FORMATS[name].path, card)
            size = batch or 2
            runners[name] = Runner(
                name,
                lambda x, m=tf_model, b=size: run_batches(m.infer, x, b),
                "f32 (TF default; not read back)",
                "-",
                size,
                1,
            )
            continue
        fmt = FORMATS[name]
        engine = open_engine(model_dir, fmt.runtime, fmt.precision, batch_size=batch, card=card)
        runners[name] = Runner(
            name,
            engine.infer,
            engine.compiled_precision,
            layer_precisions(engine),
            engine.batch_size,
            engine.jobs,
        )
    return runners


def prepare(
    work: Path, model: str, size: tuple[int, int], sites: int, seed: int, names: list[str]
) -> tuple[Path, Path, float | None]:
    """The plate and the exported model in ``work``: reused when ``work`` already holds an export of
    ``model`` at ``size`` with every format of ``names`` (then the export seconds are None), else made.

    Returns
    -------
    (Path, Path, float or None)
        Plate folder, exported model folder, seconds the export took.
    """
    plate, model_dir = find_plate(work / "plate"), work / "model"
    if plate is not None and (model_dir / "card.json").exists():
        card = load_card(model_dir)
        if (
            card.architecture == model
            and (card.input.height, card.input.width) == size
            and all(n in card.formats for n in names)
        ):
            console.print(f"reusing the plate {plate} and the export {model_dir} in {work}", markup=False)
            return plate, model_dir, None
    for part in ("plate", "run", "model"):  # this script's own folders of an older, other run
        shutil.rmtree(work / part, ignore_errors=True)
    plate = make_plate(work / "plate", size, sites, seed)
    run = make_run(work / "run", model, size, plate, seed)
    t0 = time.perf_counter()
    export_run(
        run,
        model_dir,
        names,
        calibrate=plate,
        min_agreement=1e-6,
        parity_fields=2,
        overwrite=True,
        console=console,
    )
    return plate, model_dir, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="mcnn", help="Registered architecture (default: mcnn).")
    parser.add_argument("--size", default="1024x1280", help="Input HxW (default: 1024x1280).")
    parser.add_argument(
        "--sites",
        type=int,
        default=2,
        help="Fields per well of the synthetic plate (12 wells; 1/3 held out).",
    )
    parser.add_argument(
        "--batch", type=int, help="Fields per inference request (default: the scorer's choice; TF: 2)."
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="Round-robin timed passes over the fields (best is kept)."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="Keep the plate, run and exported model in this folder.")
    parser.add_argument("--json", help="Also write the results as JSON here.")
    parser.add_argument(
        "--layers",
        action="store_true",
        help="Then profile every OpenVINO format per layer group (benchmarks/layer_efficiency.py).",
    )
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    for line in cpu_lines():
        console.print(line, markup=False)
    bf16 = native_bf16()
    names = [n for n in BENCH_FORMATS if bf16 or n != "openvino-bf16"]
    skipped = {}
    if not bf16:
        skipped["openvino-bf16"] = "this CPU has no native BF16 (flag avx512_bf16 or amx_bf16)"
        console.print(f"openvino-bf16 skipped: {skipped['openvino-bf16']}", markup=False)
    with tempfile.TemporaryDirectory(prefix="hcs-bench-") as tmp:
        work = Path(args.work or tmp)
        plate, model_dir, export_s = prepare(work, args.model, size, args.sites, args.seed, names)
        card = load_card(model_dir)
        fields = plate_fields(plate, card)
        inputs = fields.load(fields.holdout)
        gflop = gflop_per_image(card)
        runners = open_runners(model_dir, names, args.batch)
        peaks = open_peaks(work / "peak", tuple(dict.fromkeys(PEAK_OF[n] for n in BENCH_FORMATS)))
        timed = fill_requests(inputs, runners.values())
        for r in runners.values():  # warm-up: one request per engine
            r.run(inputs[: r.batch])
        console.print(
            f"timing {len(timed)} fields ({len(inputs)} held-out fields of {plate}"
            f"{', repeated to fill every request' if len(timed) > len(inputs) else ''}) at "
            f"{size[0]}x{size[1]}x{inputs.shape[3]}; {args.repeats} round-robin passes "
            "(matmul peaks and formats), best kept",
            markup=False,
        )
        for k in range(args.repeats):
            for bench in peaks.values():
                bench.time_once()
            for r in runners.values():
                r.time_once(timed, len(inputs))
            console.print(
                f"  pass {k + 1}: "
                + ", ".join(f"{n} {r.samples[-1]:.2f}/s" for n, r in runners.items())
                + "; peaks "
                + ", ".join(f"{p} {b.samples[-1]:.0f}" for p, b in peaks.items() if b.samples)
                + " GFLOP/s",
                markup=False,
            )
        peak_results = {p: b.result() for p, b in peaks.items()}
        rows = collect(runners, gflop, peak_results, model_dir)
        checks = {n: card.formats[n].get("accuracy_check") for n in names if n in card.formats}
        del runners, peaks
        layers = layer_report(model_dir, inputs, work, passes=args.repeats) if args.layers else None
    print_results(rows, peak_results, skipped, checks, args, size, gflop, len(inputs), export_s)
    if layers:
        console.print(
            "per-layer profile of the OpenVINO formats (benchmarks/layer_efficiency.py):", markup=False
        )
        print_report(*layers, print_line=lambda line: console.print(line, markup=False))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "cpu": cpu_report(),
                    "peaks": peak_results,
                    "rows": rows,
                    "skipped": skipped,
                    "gflop_per_image": gflop,
                    "export_checks": checks,
                    "layers": {"peaks": layers[0], "formats": layers[1]} if layers else None,
                },
                indent=2,
                default=str,
            )
        )
    return 0


def collect(runners: dict[str, Runner], gflop, peaks, model_dir: Path) -> dict:
    ref = runners[REFERENCE].outputs
    tf = runners["tensorflow"].outputs
    rows = {}
    for name, r in runners.items():
        speed = 1.0 / r.best
        peak = peaks.get(PEAK_OF[name], {}).get("gflops")
        achieved = speed * gflop if gflop else None
        rows[name] = {
            "images_per_s": speed,
            "samples_images_per_s": [round(v, 3) for v in r.samples],
            "compiled_precision": r.compiled,
            "layers": r.layers,
            "batch": r.batch,
            "requests": r.requests,
            "gflops": achieved,
            "peak": PEAK_OF[name],
            "fraction_of_peak": achieved / peak if achieved and peak else None,
            "vs_fp32": compare(ref, r.outputs),
            "vs_tf": compare(tf, r.outputs),
            "classes_predicted": len(np.unique(r.outputs[0].argmax(axis=1))),
            "bytes": folder_size(model_dir, name),
        }
    return rows


def print_results(rows, peaks, skipped, checks, args, size, gflop, n_fields, export_s) -> None:
    for line in format_peaks(peaks, (ROWS, K, N)):
        console.print(line, markup=False)
    table = Table(
        title=f"{args.model} at {size[0]}x{size[1]}x3 ({gflop:.1f} GFLOP per field), {n_fields} held-out fields, "
        f"best of {args.repeats} round-robin passes"
    )
    for col in (
        "format",
        "compiled",
        "batch x req",
        "images/s",
        "x OV FP32",
        "GFLOP/s",
        "of peak",
        "top-1 vs FP32",
        "max |dlogit| vs FP32",
        "top-1 vs TF",
        "max |dlogit| vs TF",
        "classes",
        "size MB",
    ):
        table.add_column(col, justify="right")
    base = rows[REFERENCE]["images_per_s"]
    for name, row in rows.items():
        frac = row["fraction_of_peak"]
        table.add_row(
            name,
            row["compiled_precision"].split(" ")[0],
            f"{row['batch']} x {row['requests']}",
            f"{row['images_per_s']:.3f}",
            f"{row['images_per_s'] / base:.2f}",
            f"{row['gflops']:.1f}" if row["gflops"] else "-",
            f"{frac:.0%} of {row['peak']}" if frac else "-",
            f"{row['vs_fp32']['top1_agreement']:.1%}",
            f"{row['vs_fp32']['max_abs_logit_diff']:.2e}",
            f"{row['vs_tf']['top1_agreement']:.1%}",
            f"{row['vs_tf']['max_abs_logit_diff']:.2e}",
            str(row["classes_predicted"]),
            f"{row['bytes'] / 1e6:.1f}",
        )
    console.print(table)
    for name, reason in skipped.items():
        console.print(f"{name}: skipped, {reason}", markup=False)
    console.print("compiled precision each engine reports, and the runtime precision of its executed layers:")
    for name, row in rows.items():
        console.print(
            f"  {name:14s} {row['compiled_precision']}; {row['layers']}; passes "
            f"{row['samples_images_per_s']} images/s",
            markup=False,
        )
    for name, check in checks.items():
        if check:
            console.print(
                f"export check {name}: top-1 vs FP32 {check['top1_agreement']:.1%} on {check['n_fields']} held-out "
                f"fields, max |dlogit| {check['max_abs_logit_diff']:.2e} (compiled {check['compiled_precision']})",
                markup=False,
            )
    for name in ("openvino-bf16", "openvino-int8"):
        if name in rows:
            r = rows[name]
            console.print(
                f"{name} / OpenVINO FP32 speed: {r['images_per_s'] / base:.2f}x; top-1 agreement with FP32 "
                f"{r['vs_fp32']['top1_agreement']:.1%} of {r['vs_fp32']['n_fields']} fields",
                markup=False,
            )
    if export_s is None:
        console.print("export reused from --work (not timed)", markup=False)
    else:
        console.print(f"export (all formats, checks) took {export_s:.0f} s", markup=False)


if __name__ == "__main__":
    raise SystemExit(main())
