"""Throughput of ``hcs score`` end to end vs pure inference of the same compiled model, per precision.

Run: ``.venv/bin/python benchmarks/score_throughput.py [--fields 64 256] [--size 1024 1280] [--mcnn]
[--int8] [--precisions fp32 bf16 int8] [--work DIR]``

Prints, measured side by side in one run on a synthetic 3-channel 16-bit plate (for each plate
size the precisions run one after the other, ``--repeats`` round-robin rounds, best kept):

* the CPU's flags (:func:`mcnn_infer.cpu.cpu_report`, and the ``cpu`` section of run.json);
* pure inference fields/s: the engine ``hcs score`` uses (:func:`mcnn_infer.runtime.open_engine`,
  same compiled model, batch size and requests), fed with preloaded, preprocessed tensors;
* end-to-end fields/s of ``hcs score --precision P`` (a subprocess; its scoring loop: decode,
  image QC, preprocess, inference, result parts) and the wall time including start-up;
* their ratio (target >= 0.90), and the peak RSS of the ``hcs score`` process for each plate
  size (target: flat as the plate grows);
* per precision: end-to-end fields/s and its ratio to fp32, the top-1 agreement of each field's
  ``predicted_class`` with the fp32 run (both ``fields.parquet``), the largest class-probability
  difference, and the precision the run compiled (``engine.inference_precision_compiled`` of its
  run.json);
* per precision, where the kept end-to-end run's time went (CPU ms per field per stage and the
  bounding stage, from its run.json ``stages``: :mod:`mcnn_infer.scoring.stage_times`);
* with ``--plate-normalization``, also end-to-end fields/s of the same model with per-plate
  normalisation (first precision only) and its ratio to the card-normalised run.

``--precisions`` defaults to fp32, plus bf16 where the CPU computes BF16 natively (and the card
lists ``openvino-bf16``), plus int8 when the model has an ``openvino-int8`` export.

By default the model is the tiny test CNN of ``tests/fixtures/tiny_model.py`` built at the
input size (one convolution with ``--filters`` filters), so inference is cheap and the ratio is
a strict test of the loader; its card lists ``openvino-bf16`` without an export check. ``--mcnn``
scores with the real M-CNN instead (seeded weights, logits from the principal directions of the
plate's embeddings so the predicted class varies, ``benchmarks/seeded_mcnn.py``; exported by
``hcs export``'s code with ``bf16`` where native and, with ``--int8``, INT8, and with the
``feature_map`` output and activation head a trained model has, so every thumbnailed field also
gets its activation maps; needs the training extra), which is what a production run costs. The
synthetic plate has one field per well, so every field is its well's representative and gets a
thumbnail and activation maps (a plate with 4 sites per well pays for a quarter of them).
``--work DIR`` keeps the fields and the export for the next run. With ``--mcnn`` the bf16 acceptance is printed:
end to end >= 1.7x fp32 and top-1 agreement >= 0.99.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mcnn_infer.card import load_card, save_card  # noqa: E402
from mcnn_infer.cpu import cpu_report, native_bf16  # noqa: E402
from mcnn_infer.errors import ConfigError  # noqa: E402
from mcnn_infer.formats import PRECISIONS, select_format  # noqa: E402
from mcnn_infer.images import read_field  # noqa: E402
from mcnn_infer.plate_normalization import PlateNormalizer  # noqa: E402
from mcnn_infer.plates import scan_plate  # noqa: E402
from mcnn_infer.preprocess import preprocess_field  # noqa: E402
from mcnn_infer.results import FIELDS, KEYS, OK, read_run, stored_prob_columns  # noqa: E402
from mcnn_infer.runtime import open_engine  # noqa: E402
from tests.fixtures.tiny_model import make_tiny_model  # noqa: E402
from tests.fixtures.tiny_plate import make_tiny_plate, well_names  # noqa: E402

#: Acceptance of ``--precision bf16`` on the M-CNN (end to end vs fp32, and top-1 agreement).
BF16_MIN_SPEEDUP = 1.7
BF16_MIN_AGREEMENT = 0.99


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


def available_precisions(model: Path, backend: str) -> list[str]:
    """Precisions the card has a format for on ``backend`` (fp16 left out: it computes in f32)."""
    formats = list(load_card(model).formats)
    out = []
    for precision in PRECISIONS:
        if precision == "fp16":
            continue
        try:
            select_format(backend, precision, formats)
        except ConfigError:
            continue
        out.append(precision)
    return out


def default_precisions(model: Path, backend: str) -> tuple[list[str], list[str]]:
    """fp32, bf16 where native and listed, int8 when exported; and a line per precision left out."""
    have = available_precisions(model, backend)
    chosen, notes = ["fp32"], []
    if "bf16" in have and native_bf16():
        chosen.append("bf16")
    elif not native_bf16():
        notes.append("bf16 skipped: this CPU has no native BF16 (flag avx512_bf16 or amx_bf16)")
    else:
        notes.append(f"bf16 skipped: the model card has no openvino-bf16 entry for backend {backend}")
    if "int8" in have:
        chosen.append("int8")
    else:
        notes.append("int8 skipped: the model has no openvino-int8 export")
    return chosen, notes


def pure_inference(
    model: Path, plate: Path, backend: str, precision: str, n_fields: int, batch_size: int | None
) -> dict:
    """Fields/s of the scorer's engine on preloaded, preprocessed tensors (no decode)."""
    engine = open_engine(model, backend, precision, batch_size=batch_size)
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
        "compiled": engine.compiled_precision,
        "format": engine.fmt.name,
    }


def end_to_end(
    model: Path, plate: Path, out: Path, backend: str, precision: str, batch_size: int | None
) -> dict:
    """``hcs score --precision`` in a subprocess: its fields/s, wall time, peak RSS and run.json facts."""
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
        "--precision",
        precision,
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
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"hcs score --precision {precision} failed ({proc.returncode}): {stderr}")
    info = read_run(out).data
    # the scoring loop's own clock (run.json stages), not the console's one-decimal fields/s
    loop = info["stages"]
    rate = loop["fields"] / loop["wall_seconds"] if loop["wall_seconds"] > 0 else 0.0
    engine = info["engine"]
    return {
        "fields_per_s": rate,
        "wall_s": wall,
        "peak_rss_mib": peak / 2**20,
        "out": out,
        "format": engine["format"],
        "compiled": engine["inference_precision_compiled"],
        "requested": engine["inference_precision_requested"],
        "batch": engine["batch_size"],
        "requests": engine["requests"],
        "cpu": info["cpu"],
        "stages": info["stages"],
    }


def agreement(reference: Path, other: Path) -> dict:
    """Top-1 agreement of ``predicted_class`` per field between two runs' fields.parquet, and max |dprob|."""
    ref = pd.read_parquet(reference / f"{FIELDS}.parquet")
    got = pd.read_parquet(other / f"{FIELDS}.parquet")
    probs = stored_prob_columns(ref)
    merged = ref.merge(got, on=KEYS, suffixes=("_ref", "_got"), validate="one_to_one")
    ok = merged[(merged["status_ref"] == OK) & (merged["status_got"] == OK)]
    same = ok["predicted_class_ref"] == ok["predicted_class_got"]
    dprob = max(
        (float(np.max(np.abs(ok[f"{c}_ref"] - ok[f"{c}_got"]))) for c in probs if len(ok)), default=0.0
    )
    return {
        "top1_agreement": float(same.mean()) if len(ok) else float("nan"),
        "n_fields": len(ok),
        "n_disagree": int((~same).sum()),
        "max_abs_prob_diff": dprob,
        "classes_predicted": int(got.loc[got["status"] == OK, "predicted_class"].nunique()),
    }


def export_mcnn(root: Path, plate: Path, size: tuple[int, int], int8: bool) -> Path:
    """Build the seeded M-CNN (normalised and principal-direction logits on ``plate``) and export it:
    ONNX + OpenVINO FP32, BF16 compute validated where native, INT8 with ``int8``."""
    from benchmarks.seeded_mcnn import make_run
    from mcnn_train.export import export_run

    run = make_run(root / "mcnn-run", "mcnn", size, plate, seed=0)
    return export_run(
        run,
        root / "mcnn-model",
        [*(["openvino-int8"] if int8 else []), *(["openvino-bf16"] if native_bf16() else [])],
        calibrate=plate,
        min_agreement=1e-6,  # the benchmark measures agreement itself; never refuse a format here
        overwrite=True,
    )


def kept_folder(work: Path, size: tuple[int, int], distinct: int, int8: bool) -> Path:
    """``--work``'s subfolder for these fields and this export (made if missing)."""
    folder = work / f"{size[0]}x{size[1]}-{distinct}fields{'-int8' if int8 else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def per_plate_twin(model: Path, out: Path) -> Path:
    """A copy of ``model`` whose card asks for per-plate normalisation (same weights)."""
    shutil.copytree(model, out)
    card = load_card(out)
    save_card(
        dataclasses.replace(card, normalization=dataclasses.replace(card.normalization, method="plate")), out
    )
    return out


def cpu_lines(cpu: dict, source: str) -> list[str]:
    flags = " ".join(f"{f}={'yes' if v else 'no'}" for f, v in cpu["flags"].items())
    return [
        f"CPU ({source}): {cpu['model']}, {cpu['cores']} cores; native BF16 {cpu['native_bf16']}, "
        f"native INT8 {cpu['native_int8']} (flags from {cpu['flags_source']})",
        f"  flags: {flags}",
    ]


def best(runs: list[dict]) -> dict:
    """The fastest of repeated runs, with every rate kept."""
    top = max(runs, key=lambda r: r["fields_per_s"])
    return {**top, "samples": [round(r["fields_per_s"], 2) for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 1280], metavar=("H", "W"))
    parser.add_argument(
        "--filters", type=int, default=32, help="conv filters of the test model (inference cost)"
    )
    parser.add_argument("--mcnn", action="store_true", help="score with the real M-CNN (needs TensorFlow)")
    parser.add_argument("--int8", action="store_true", help="with --mcnn: also export and score INT8")
    parser.add_argument("--backend", default="openvino", choices=["openvino", "onnxruntime"])
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=[p for p in PRECISIONS if p != "fp16"],
        help="precisions to score side by side (default: fp32, bf16 where native, int8 when exported); "
        "fp32 always runs first as the reference",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="round-robin rounds per plate size (best kept)"
    )
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--distinct", type=int, default=16, help="distinct synthetic fields written to disk")
    parser.add_argument(
        "--plate-normalization", action="store_true", help="also score with per-plate normalisation"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the synthetic fields and the exported M-CNN here and reuse them when this folder already "
        "has them for the same --size, --distinct and --int8 (saves the export's minutes); plates and "
        "results of each run still go to a temporary folder",
    )
    args = parser.parse_args()
    for line in cpu_lines(cpu_report(), "cpu_report()"):
        print(line)
    with tempfile.TemporaryDirectory(prefix="hcs-bench-") as tmp:
        root = Path(tmp)
        size = tuple(args.size)
        keep = kept_folder(args.work, size, args.distinct, args.mcnn and args.int8) if args.work else root
        base = keep / "base" / "B"  # the plate folder make_tiny_plate writes
        if not (keep / "base.done").exists():
            shutil.rmtree(keep / "base", ignore_errors=True)
            make_tiny_plate(keep / "base", plate="B", wells=well_names(args.distinct), size=size)
            (keep / "base.done").touch()
        if args.mcnn:
            model = keep / "mcnn-model"
            if not (keep / "mcnn-model.done").exists():
                model = export_mcnn(keep, base, size, args.int8)
                (keep / "mcnn-model.done").touch()
            else:
                print(f"reusing the exported M-CNN in {model}")
            kind = "the M-CNN (seeded weights, exported by hcs export)"
        else:
            formats = ("onnx", "openvino-fp32", *(["openvino-bf16"] if native_bf16() else []))
            model = make_tiny_model(
                root / "model", size=size, filters=args.filters, embedding_size=512, formats=formats
            )
            kind = f"tiny test CNN ({args.filters} filters, not the M-CNN)"
        if args.precisions:
            precisions = ["fp32", *[p for p in dict.fromkeys(args.precisions) if p != "fp32"]]
            notes = []
        else:
            precisions, notes = default_precisions(model, args.backend)
        twin = per_plate_twin(model, root / "model-per-plate") if args.plate_normalization else None
        print(
            f"model: {kind}, input {size[0]}x{size[1]}x3; {os.cpu_count()} CPUs; backend {args.backend}; "
            f"precisions {', '.join(precisions)}; {args.distinct} distinct fields on disk"
        )
        for note in notes:
            print(f"  {note}")
        results = []
        for n in args.fields:
            plate = make_plate(root / "plates", base, n, f"N{n}")
            pure = {p: [] for p in precisions}
            e2e = {p: [] for p in precisions}
            for k in range(args.repeats):
                for p in precisions:  # round robin: the precisions share the machine's noise
                    pure[p].append(pure_inference(model, plate, args.backend, p, n, args.batch_size))
                    out = root / f"out{n}-{p}-{k}"
                    e2e[p].append(end_to_end(model, plate, out, args.backend, p, args.batch_size))
            per_plate = (
                end_to_end(twin, plate, root / f"plate-out{n}", args.backend, precisions[0], args.batch_size)
                if twin is not None
                else None
            )
            row = {"n": n, "per_plate": per_plate, "by_precision": {}}
            for p in precisions:
                row["by_precision"][p] = {
                    "pure": best(pure[p]),
                    "e2e": best(e2e[p]),
                    "agreement": agreement(e2e["fp32"][0]["out"], e2e[p][0]["out"]),
                }
            results.append(row)
        first_cpu = results[0]["by_precision"]["fp32"]["e2e"]["cpu"]
        report(results, precisions, twin is not None, args, first_cpu)


def stage_report(results: list[dict], precisions: list[str]) -> None:
    """Where each kept ``hcs score`` run's time went (its run.json ``stages``): CPU ms per field per stage."""
    keys = list(results[0]["by_precision"][precisions[0]]["e2e"]["stages"]["stages"])
    print()
    print("where the time went (run.json stages of the kept e2e runs; CPU ms per field, inference: the rest")
    print("of the process CPU time; bound: what the main thread waited for most):")
    print(f"{'fields':>6} {'prec':>5} " + " ".join(f"{k[:10]:>10}" for k in keys) + "  bound")
    for row in results:
        for p in precisions:
            stages = row["by_precision"][p]["e2e"]["stages"]
            cells = " ".join(f"{stages['stages'][k]['cpu_ms_per_field']:>10.2f}" for k in keys)
            print(f"{row['n']:>6} {p:>5} {cells}  {stages['bound_by']}")


def report(results: list[dict], precisions: list[str], per_plate: bool, args, run_cpu: dict) -> None:
    for line in cpu_lines(run_cpu, "run.json of the fp32 run"):
        print(line)
    print()
    extra = f" {'per-plate e2e/s':>15} {'vs e2e':>6}" if per_plate else ""
    print(
        f"{'fields':>6} {'prec':>5} {'batch':>5} {'req':>3} {'pure inf/s':>10} {'e2e fields/s':>12} "
        f"{'ratio':>6} {'e2e wall s':>10} {'peak RSS MiB':>12}{extra}"
    )
    for row in results:
        for p in precisions:
            r = row["by_precision"][p]
            pure, e2e = r["pure"], r["e2e"]
            line = (
                f"{row['n']:>6} {p:>5} {pure['batch']:>5} {pure['requests']:>3} {pure['fields_per_s']:>10.2f} "
                f"{e2e['fields_per_s']:>12.2f} {e2e['fields_per_s'] / pure['fields_per_s']:>6.2f} "
                f"{e2e['wall_s']:>10.1f} {e2e['peak_rss_mib']:>12.0f}"
            )
            if per_plate and p == precisions[0]:
                pp = row["per_plate"]
                line += f" {pp['fields_per_s']:>15.2f} {pp['fields_per_s'] / e2e['fields_per_s']:>6.2f}"
            print(line)
    if len(results) > 1:
        first, last = results[0], results[-1]
        for p in precisions:
            a, b = first["by_precision"][p]["e2e"], last["by_precision"][p]["e2e"]
            print(
                f"peak RSS {last['n']} vs {first['n']} fields ({p}): {b['peak_rss_mib'] / a['peak_rss_mib']:.2f}x"
            )
    print()
    print(
        "precisions side by side (hcs score end to end; agreement of fields.parquet predicted_class with fp32):"
    )
    print(
        f"{'fields':>6} {'prec':>5} {'format':>14} {'compiled':>8} {'e2e fields/s':>12} {'x fp32':>6} "
        f"{'pure inf/s':>10} {'x fp32':>6} {'top-1 vs fp32':>13} {'differ':>6} {'max|dprob|':>10} "
        f"{'classes':>7}  e2e passes"
    )
    for row in results:
        ref = row["by_precision"]["fp32"]
        for p in precisions:
            r = row["by_precision"][p]
            e2e, pure, agree = r["e2e"], r["pure"], r["agreement"]
            print(
                f"{row['n']:>6} {p:>5} {e2e['format']:>14} {e2e['compiled']:>8} {e2e['fields_per_s']:>12.2f} "
                f"{e2e['fields_per_s'] / ref['e2e']['fields_per_s']:>6.2f} {pure['fields_per_s']:>10.2f} "
                f"{pure['fields_per_s'] / ref['pure']['fields_per_s']:>6.2f} "
                f"{agree['top1_agreement']:>13.4f} {agree['n_disagree']:>6} {agree['max_abs_prob_diff']:>10.2e} "
                f"{agree['classes_predicted']:>7}  {e2e['samples']}"
            )
    print(
        f"(agreement over the fields of each plate: hard links to {args.distinct} distinct fields, "
        "so one disagreeing distinct field counts once per copy)"
    )
    stage_report(results, precisions)
    if args.mcnn and "bf16" in precisions:
        last = results[-1]["by_precision"]
        speed = last["bf16"]["e2e"]["fields_per_s"] / last["fp32"]["e2e"]["fields_per_s"]
        agree = last["bf16"]["agreement"]["top1_agreement"]
        ok_speed, ok_agree = speed >= BF16_MIN_SPEEDUP, agree >= BF16_MIN_AGREEMENT
        print(
            f"acceptance, M-CNN {args.size[0]}x{args.size[1]}x3, {results[-1]['n']} fields: hcs score --precision "
            f"bf16 end to end {speed:.2f}x fp32 (target >= {BF16_MIN_SPEEDUP}x: {'PASS' if ok_speed else 'FAIL'}); "
            f"top-1 agreement {agree:.4f} (target >= {BF16_MIN_AGREEMENT}: {'PASS' if ok_agree else 'FAIL'})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
