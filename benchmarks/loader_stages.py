"""Per-field cost of each stage of ``hcs score``'s loader, one thread, next to the inference it feeds.

Run: ``.venv/bin/python benchmarks/loader_stages.py [--fields 8] [--size 1024 1280]
[--model-size 1024 1280 --model-size 128 128] [--repeats 3]``

On ``--fields`` synthetic 3-channel 16-bit fields (random texture, ``tests/fixtures/tiny_plate.py``)
of ``--size``, measured side by side in one run, best of ``--repeats`` passes, in ms per field:

* decode: :func:`mcnn_infer.images.read_planes` (what the loader runs) and, for comparison,
  :func:`mcnn_infer.images.read_field` (the same planes interleaved into one (H, W, C) array);
* image QC: :func:`mcnn_infer.scoring.loader.qc_columns` on the planes;
* preprocess to each ``--model-size``: :func:`mcnn_infer.preprocess.preprocess_planes` (area resize
  + normalisation; no resize when the model size is the field size);
* thumbnail: composite + JPEG encode of the preprocessed field (only each well's first field and
  QC-flagged fields get one);
* writing: one result part of these fields (probabilities, log-odds, QC and a 128-wide embedding)
  written by :class:`mcnn_infer.scoring.store.PartStore`, per field;
* the loader's sum per field, and with ``--model DIR`` the model's pure fp32 inference ms per field at
  its input size and batch ``--batch-size`` (the scorer's engine), and the ratio loader / inference: above 1 / loader
  threads the loader cannot keep the engine busy on its own threads.

Figures on a shared machine are noisy: compare ratios from one run, rerun on a quiet one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mcnn_infer.card import load_card  # noqa: E402
from mcnn_infer.cpu import cpu_report  # noqa: E402
from mcnn_infer.images import read_field, read_planes  # noqa: E402
from mcnn_infer.plates import scan_plate  # noqa: E402
from mcnn_infer.preprocess import Normalization, preprocess_planes  # noqa: E402
from mcnn_infer.results import THUMB_REPRESENTATIVE  # noqa: E402
from mcnn_infer.runtime import open_engine  # noqa: E402
from mcnn_infer.scoring.loader import qc_columns  # noqa: E402
from mcnn_infer.scoring.store import PartStore  # noqa: E402
from mcnn_infer.scoring.thumbnails import thumbnail_columns  # noqa: E402
from tests.fixtures.tiny_plate import make_tiny_plate, well_names  # noqa: E402


def per_field_ms(work: Callable[[object], object], items: list, repeats: int) -> float:
    """Best over ``repeats`` passes of the mean ms per item of ``work(item)`` (after one warm-up item)."""
    work(items[0])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            work(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return 1000.0 * best


def write_ms(n_fields: int, root: Path, repeats: int) -> float:
    """ms per field of writing one result part of ``n_fields`` rows like the scorer's."""
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"_index": np.arange(n_fields, dtype=np.int64), "status": "ok", "reason": ""})
    for k in range(5):
        rows[f"prob_c{k}"] = rng.random(n_fields, dtype=np.float32)
        rows[f"logodds_c{k}"] = rng.random(n_fields, dtype=np.float32)
    for name in ("qc_fg_fraction", "qc_sat_fraction", "qc_focus"):
        rows[name] = rng.random(n_fields)
    rows["qc_empty"] = rows["qc_saturated"] = False
    embedding = pd.DataFrame(
        rng.random((n_fields, 128), dtype=np.float32), columns=[f"emb_{i}" for i in range(128)]
    )
    rows = pd.concat([rows, embedding], axis=1)
    best = float("inf")
    for k in range(repeats):
        store = PartStore(root / f"write-{k}")
        start = time.perf_counter()
        store.write_part(rows)
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / n_fields


def inference_ms(
    model: Path, batch_size: int | None, tensors: list[np.ndarray], repeats: int
) -> tuple[float, str]:
    """ms per field of the scorer's engine on preprocessed fields, and what it compiled."""
    engine = open_engine(model, "openvino", "fp32", batch_size=batch_size)
    batch = np.stack([tensors[i % len(tensors)] for i in range(engine.batch_size)])
    engine.infer(batch)  # warm-up
    n_batches = max(2, 2 * engine.jobs)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for k in range(n_batches):
            engine.submit(batch, k)
        engine.drain()
        best = min(best, (time.perf_counter() - start) / (n_batches * engine.batch_size))
    return 1000.0 * best, f"{engine.fmt.name}, batch {engine.batch_size}, {engine.jobs} requests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=8, help="distinct fields (each timed once per pass)")
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 1280], metavar=("H", "W"))
    parser.add_argument(
        "--model-size",
        type=int,
        nargs=2,
        action="append",
        metavar=("H", "W"),
        help="(repeatable) preprocess target",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="exported model folder: also time its fp32 inference")
    parser.add_argument("--batch-size", type=int)
    args = parser.parse_args()
    sizes = [tuple(s) for s in (args.model_size or [args.size, [128, 128]])]
    model_size = load_card(args.model).input.size if args.model is not None else None
    if model_size is not None and model_size not in sizes:
        sizes.append(model_size)
    cpu = cpu_report()
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores; one loader thread; best of {args.repeats} passes")
    with tempfile.TemporaryDirectory(prefix="hcs-loader-") as tmp:
        root = Path(tmp)
        plate = make_tiny_plate(root, plate="L", wells=well_names(args.fields), size=tuple(args.size))
        scan = scan_plate(plate)
        fields = [[row[c] for c in scan.path_columns] for _, row in scan.fields.iterrows()]
        planes = [read_planes(paths) for paths in fields]
        norm = Normalization(low=(100.0,) * 3, high=(60000.0,) * 3)
        rows = [
            ("decode: read_planes", per_field_ms(read_planes, fields, args.repeats)),
            ("  (read_field, interleaved)", per_field_ms(read_field, fields, args.repeats)),
            ("image QC", per_field_ms(qc_columns, planes, args.repeats)),
        ]
        tensors = {}
        for size in sizes:
            tensors[size] = [preprocess_planes(p, norm, size) for p in planes]
            ms = per_field_ms(lambda p, s=size: preprocess_planes(p, norm, s), planes, args.repeats)
            rows.append((f"preprocess to {size[0]}x{size[1]}", ms))
        for size in sizes:
            ms = per_field_ms(
                lambda t: thumbnail_columns(t, THUMB_REPRESENTATIVE), tensors[size], args.repeats
            )
            rows.append((f"thumbnail from {size[0]}x{size[1]} (chosen fields only)", ms))
        rows.append(
            ("writing a result part (per field)", write_ms(max(256, args.fields), root, args.repeats))
        )
        print(f"{args.fields} fields {args.size[0]}x{args.size[1]}x3 uint16:")
        for name, ms in rows:
            print(f"  {name:<48} {ms:8.2f} ms/field")
        stage = dict(rows)
        for size in sizes:
            loader = (
                stage["decode: read_planes"]
                + stage["image QC"]
                + stage[f"preprocess to {size[0]}x{size[1]}"]
                + stage["writing a result part (per field)"]
            )
            line = f"  loader sum at {size[0]}x{size[1]} (no thumbnail): {loader:.2f} ms/field"
            if size == model_size:
                infer, what = inference_ms(args.model, args.batch_size, tensors[size], args.repeats)
                line += f"; inference {infer:.2f} ms/field ({what}); loader / inference {loader / infer:.2f}"
            print(line)


if __name__ == "__main__":
    main()
