"""Throughput of ``hcs score`` end to end vs pure inference of the same compiled model.

Run: ``.venv/bin/python benchmarks/score_throughput.py [--fields 64 256] [--size 1024 1280]``

Prints, measured side by side in one run on a synthetic 3-channel 16-bit plate:
* pure inference fields/s: the engine ``hcs score`` uses (same compiled model, batch size and
  AsyncInferQueue), fed with preloaded, preprocessed tensors;
* end-to-end fields/s of ``hcs score`` (a subprocess; its scoring loop: decode, image QC,
  preprocess, inference, result parts) and the wall time including start-up;
* their ratio (target >= 0.90), and the peak RSS of the ``hcs score`` process for each plate
  size (target: flat as the plate grows);
* with ``--plate-normalization``, also end-to-end fields/s of the same model with per-plate
  normalisation (its first pass over a plate decodes up to 64 extra fields to fit the plate's
  percentiles) and its ratio to the card-normalised run.

By default the model is the tiny test CNN of ``tests/fixtures/tiny_model.py`` built at the
input size (one convolution with ``--filters`` filters), so inference is cheap and the ratio is
a strict test of the loader. ``--mcnn`` scores with the real M-CNN instead (seeded weights,
exported to ONNX / OpenVINO by ``hcs export``'s code; needs the training extra), which is what a
production run costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mcnn_infer.card import load_card, save_card  # noqa: E402
from mcnn_infer.images import read_field  # noqa: E402
from mcnn_infer.plate_normalization import PlateNormalizer  # noqa: E402
from mcnn_infer.plates import scan_plate  # noqa: E402
from mcnn_infer.preprocess import preprocess_field  # noqa: E402
from mcnn_infer.scoring.engine import open_engine  # noqa: E402
from tests.fixtures.tiny_model import make_tiny_model  # noqa: E402
from tests.fixtures.tiny_plate import make_tiny_plate, well_names  # noqa: E402


def make_plate(root: Path, base: Path, n_fields: int, name: str) -> Path:
    """A plate of ``n_fields`` fields made of hard links to the fields of ``base`` (no extra disk)."""
    plate = root / name
    plate.mkdir(parents=True)
    sources = sorted(base.glob("*.tif"))
    per_field = 3
    n_base = len(sources) // per_field
    groups = [sources[k * per_field : (k + 1) * per_field] for k in range(n_base)]
    for k, well in enumerate(well_names(n_fields, cols=24)):
        for src in groups[k % n_base]:
            channel = re.search(r"_w(\d)", src.name).group(1)
            os.link(src, plate / f"{name}_{well}_s1_w{channel}.tif")
    return plate


def pure_inference(model: Path, plate: Path, backend: str, n_fields: int, batch_size: int | None) -> dict:
    engine = open_engine(model, backend, batch_size=batch_size)
    scan = scan_plate(plate)
    rows = scan.fields.head(engine.batch_size * 2)
    normalizer = PlateNormalizer(engine.card.normalization, scan.fields, scan.channels)
    tensors = [
        preprocess_field(
            read_field([r[c] for c in scan.path_columns]),
            normalizer.for_plate(r["plate"]),
            engine.card.input.size,
        )
        for _, r in rows.iterrows()
    ]
    batches = [
        np.stack(tensors[i : i + engine.batch_size]) for i in range(0, len(tensors), engine.batch_size)
    ]
    n_batches = max(1, n_fields // engine.batch_size)
    for k in range(min(2, n_batches)):  # warm-up
        engine.submit(batches[k % len(batches)], k)
    engine.drain()
    start = time.perf_counter()
    for k in range(n_batches):
        engine.submit(batches[k % len(batches)], k)
        engine.poll()
    engine.drain()
    seconds = time.perf_counter() - start
    return {
        "fields_per_s": n_batches * engine.batch_size / seconds,
        "batch": engine.batch_size,
        "requests": engine.jobs,
    }


def end_to_end(model: Path, plate: Path, out: Path, backend: str, batch_size: int | None) -> dict:
    cmd = [
        sys.executable,
        "-c",
        "from hcs_cli.main import cli; cli()",
        "score",
        str(plate),
        "--model",
        str(model),
        "--out",
        str(out),
        "--backend",
        backend,
        "--quiet",
    ]
    if batch_size:
        cmd += ["--batch-size", str(batch_size)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"hcs score failed ({proc.returncode}): {stderr}")
    rate = float(re.search(r"\(([\d.]+) fields/s", stdout).group(1))
    return {"fields_per_s": rate, "wall_s": wall, "peak_rss_mib": peak / 2**20}


def export_mcnn(root: Path, plate: Path, size: tuple[int, int]) -> Path:
    """Build the M-CNN with seeded weights (normalised on ``plate``) and export ONNX + OpenVINO FP32."""
    from benchmarks.export_formats import make_run
    from mcnn_train.export import export_run

    run = make_run(root / "mcnn-run", "mcnn", size, plate, seed=0)
    return export_run(run, root / "mcnn-model", overwrite=True)


def per_plate_twin(model: Path, out: Path) -> Path:
    """A copy of ``model`` whose card asks for per-plate normalisation (same weights)."""
    shutil.copytree(model, out)
    card = load_card(out)
    save_card(
        dataclasses.replace(card, normalization=dataclasses.replace(card.normalization, method="plate")), out
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 1280], metavar=("H", "W"))
    parser.add_argument(
        "--filters", type=int, default=32, help="conv filters of the test model (inference cost)"
    )
    parser.add_argument("--mcnn", action="store_true", help="score with the real M-CNN (needs TensorFlow)")
    parser.add_argument("--backend", default="openvino", choices=["openvino", "onnxruntime"])
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--distinct", type=int, default=16, help="distinct synthetic fields written to disk")
    parser.add_argument(
        "--plate-normalization", action="store_true", help="also score with per-plate normalisation"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hcs-bench-") as tmp:
        root = Path(tmp)
        size = tuple(args.size)
        base = make_tiny_plate(root / "base", plate="B", wells=well_names(args.distinct), size=size)
        if args.mcnn:
            model = export_mcnn(root, base, size)
            kind = "the M-CNN (seeded weights, exported by hcs export)"
        else:
            model = make_tiny_model(root / "model", size=size, filters=args.filters, embedding_size=512)
            kind = f"tiny test CNN ({args.filters} filters, not the M-CNN)"
        twin = per_plate_twin(model, root / "model-per-plate") if args.plate_normalization else None
        print(f"model: {kind}, input {size[0]}x{size[1]}x3; {os.cpu_count()} CPUs; backend {args.backend}")
        results = []
        for n in args.fields:
            plate = make_plate(root / "plates", base, n, f"N{n}")
            pure = pure_inference(model, plate, args.backend, n, args.batch_size)
            e2e = end_to_end(model, plate, root / f"out{n}", args.backend, args.batch_size)
            per_plate = (
                end_to_end(twin, plate, root / f"plate-out{n}", args.backend, args.batch_size)
                if twin is not None
                else None
            )
            results.append((n, pure, e2e, per_plate))
        extra = f" {'per-plate e2e/s':>15} {'vs e2e':>6}" if twin is not None else ""
        print(
            f"{'fields':>6} {'batch':>5} {'req':>3} {'pure inf/s':>10} {'e2e fields/s':>12} {'ratio':>6} "
            f"{'e2e wall s':>10} {'peak RSS MiB':>12}{extra}"
        )
        for n, pure, e2e, per_plate in results:
            line = (
                f"{n:>6} {pure['batch']:>5} {pure['requests']:>3} {pure['fields_per_s']:>10.2f} "
                f"{e2e['fields_per_s']:>12.2f} {e2e['fields_per_s'] / pure['fields_per_s']:>6.2f} "
                f"{e2e['wall_s']:>10.1f} {e2e['peak_rss_mib']:>12.0f}"
            )
            if per_plate is not None:
                line += f" {per_plate['fields_per_s']:>15.2f} {per_plate['fields_per_s'] / e2e['fields_per_s']:>6.2f}"
            print(line)
        if len(results) > 1:
            first, last = results[0], results[-1]
            print(
                f"peak RSS {last[0]} vs {first[0]} fields: {last[2]['peak_rss_mib'] / first[2]['peak_rss_mib']:.2f}x"
            )


if __name__ == "__main__":
    main()
