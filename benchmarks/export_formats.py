"""Side-by-side speed, size and agreement of the export formats of the full M-CNN.

One run, the same preprocessed fields through TensorFlow (SavedModel), ONNX Runtime, OpenVINO
FP32 and OpenVINO INT8 (NNCF, calibrated on synthetic BBBC021-like fields of the same plate).
Prints images/s, file size, max |logit - TensorFlow logit|, top-1 agreement with TensorFlow,
and the INT8 / FP32 speed ratio (target for later tuning: >= 1.5x at >= 99 % agreement).

Usage::

    .venv/bin/python benchmarks/export_formats.py                  # mcnn at 1024x1280x3
    .venv/bin/python benchmarks/export_formats.py --model mcnn-small --size 256x256   # quick

The convolutions are untrained (seeded) and the logits layer is set from the principal
directions of the calibration fields' embeddings, so agreement numbers measure numerical
fidelity on realistic inputs, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mcnn_infer.card import InputSpec, ModelCard, load_card, save_card
from mcnn_infer.formats import FORMATS
from mcnn_infer.images import read_field
from mcnn_infer.plates import field_paths, scan_plate
from mcnn_infer.preprocess import fit_normalization
from mcnn_infer.runtime import load_model
from mcnn_infer.synth import DMSO, MOAS, synthesize
from mcnn_train.export import export_run
from mcnn_train.export.calibration import plate_fields
from mcnn_train.export.parity import compare, run_batches
from mcnn_train.export.tf_model import TFModel

BENCH_FORMATS = ("tensorflow", "onnx", "openvino-fp32", "openvino-int8")
console = Console(highlight=False, width=140)


def make_plate(root: Path, size: tuple[int, int], sites: int, seed: int) -> Path:
    """A synthetic plate: 4 MoAs x 2 doses + 4 DMSO wells, ``sites`` fields each (12 wells)."""
    synthesize(
        root,
        like="simple",
        plates=1,
        compounds_per_moa=1,
        concentrations=2,
        replicates=1,
        controls=4,
        positive_controls=0,
        moas=list(MOAS[:4]),
        sites=sites,
        size=size,
        seed=seed,
        progress=True,
    )
    return next(p.parent for p in sorted(root.rglob("*.tif")))


def make_run(root: Path, model: str, size: tuple[int, int], plate: Path, seed: int) -> Path:
    """A run folder with a seeded ``model`` (SavedModel) and a card normalised on ``plate``.

    The convolutions keep their random initial weights; the logits layer is set to the top
    principal directions of the embeddings of the plate's calibration fields (whitened), so the
    predicted class varies from field to field and top-1 agreement measures something.
    """
    import tensorflow as tf

    from mcnn_train.models import build_model

    scan = scan_plate(plate)
    norm = fit_normalization(
        read_field(field_paths(row, scan.channels)) for _, row in scan.fields.head(4).iterrows()
    )
    classes = [DMSO, *MOAS[:4]]
    tf.keras.utils.set_random_seed(seed)
    net = build_model(model, size[0], size[1], len(scan.channels), len(classes))
    card = ModelCard(
        model_name=f"bench-{model}",
        architecture=model,
        input=InputSpec(height=size[0], width=size[1], channels=list(scan.channels), bit_depth=16),
        normalization=norm,
        class_names=classes,
        embedding_size=int(net.get_layer("embedding").units),
        training={
            "note": f"random convolutions (seed {seed}); logits = top principal directions of embeddings"
        },
    )
    fields = plate_fields(plate, card)
    embedding = np.concatenate(
        [net(batch, training=False)[1].numpy() for batch in fields.batches(fields.calibration, 2)]
    )
    mean = embedding.mean(axis=0)
    _, sv, vt = np.linalg.svd(embedding - mean, full_matrices=False)
    kernel = (vt[: len(classes)].T / np.maximum(sv[: len(classes)], 1e-12)) * np.sqrt(len(embedding))
    net.get_layer("logits").set_weights([kernel.astype(np.float32), (-mean @ kernel).astype(np.float32)])

    @tf.function(input_signature=[tf.TensorSpec([None, *size, len(scan.channels)], tf.float32, name="image")])
    def serve(image):
        logits, embedding = net(image, training=False)
        return {"logits": logits, "embedding": embedding}

    tf.saved_model.save(net, str(root / "model"), signatures={"serving_default": serve})
    save_card(card, root)
    return root


def folder_size(model_dir: Path, name: str) -> int:
    """Bytes of the files of format ``name`` (from the card's checksum list)."""
    sums = load_card(model_dir).formats[name]["sha256"]
    return sum((model_dir / rel).stat().st_size for rel in sums)


def time_runner(runner, inputs: np.ndarray, batch: int, repeats: int) -> tuple[float, tuple]:
    """Images/s of ``runner`` over ``inputs`` (best of ``repeats`` after one warm-up batch) and its outputs."""
    runner(inputs[:batch])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = run_batches(runner, inputs, batch)
        best = min(best, time.perf_counter() - start)
    return len(inputs) / best, outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="mcnn", help="Registered architecture (default: mcnn).")
    parser.add_argument("--size", default="1024x1280", help="Input HxW (default: 1024x1280).")
    parser.add_argument(
        "--sites", type=int, default=2, help="Fields per well of the synthetic plate (12 wells)."
    )
    parser.add_argument("--batch", type=int, default=2, help="Fields per inference call.")
    parser.add_argument("--repeats", type=int, default=1, help="Timed passes over the fields (best is kept).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="Keep the plate, run and exported model in this folder.")
    parser.add_argument("--json", help="Also write the table as JSON here.")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="hcs-bench-") as tmp:
        work = Path(args.work or tmp)
        plate = make_plate(work / "plate", size, args.sites, args.seed)
        run = make_run(work / "run", args.model, size, plate, args.seed)
        model_dir = work / "model"
        export_run(
            run,
            model_dir,
            int8=True,
            calibrate=plate,
            saved_model=True,
            min_agreement=1e-6,
            parity_fields=2,
            overwrite=True,
            console=console,
        )
        card = load_card(model_dir)
        fields = plate_fields(plate, card)
        inputs = fields.load(fields.holdout)
        console.print(
            f"timing {len(inputs)} held-out fields of {plate} at {size[0]}x{size[1]}x{inputs.shape[3]}, "
            f"batch {args.batch}"
        )
        runners = {"tensorflow": TFModel(model_dir / "saved_model", card).infer}
        for name in BENCH_FORMATS[1:]:
            fmt = FORMATS[name]
            runners[name] = load_model(model_dir, fmt.runtime, fmt.precision).infer
        rows, outputs_of = {}, {}
        for name in BENCH_FORMATS:
            speed, outputs_of[name] = time_runner(runners[name], inputs, args.batch, args.repeats)
            rows[name] = {
                "images_per_s": speed,
                "bytes": folder_size(model_dir, name),
                "classes_predicted": len(np.unique(outputs_of[name][0].argmax(axis=1))),
                "max_abs_logit": float(np.abs(outputs_of[name][0]).max()),
                **compare(outputs_of["tensorflow"], outputs_of[name]),
            }
        int8_vs_fp32 = compare(outputs_of["openvino-fp32"], outputs_of["openvino-int8"])
    print_table(rows, int8_vs_fp32, args, size)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "int8_vs_fp32": int8_vs_fp32}, indent=2))
    return 0


def print_table(rows: dict, int8_vs_fp32: dict, args, size) -> None:
    table = Table(title=f"{args.model} at {size[0]}x{size[1]}x3, {rows['onnx']['n_fields']} held-out fields")
    for col in (
        "format",
        "images/s",
        "x TF",
        "size MB",
        "max |dlogit| vs TF",
        "top-1 vs TF",
        "classes",
        "max |logit|",
    ):
        table.add_column(col, justify="right")
    base = rows["tensorflow"]["images_per_s"]
    for name, row in rows.items():
        table.add_row(
            name,
            f"{row['images_per_s']:.2f}",
            f"{row['images_per_s'] / base:.2f}",
            f"{row['bytes'] / 1e6:.1f}",
            f"{row['max_abs_logit_diff']:.2e}",
            f"{row['top1_agreement']:.1%}",
            str(row["classes_predicted"]),
            f"{row['max_abs_logit']:.2f}",
        )
    console.print(table)
    ratio = rows["openvino-int8"]["images_per_s"] / rows["openvino-fp32"]["images_per_s"]
    console.print(
        f"INT8 / OpenVINO FP32 speed: {ratio:.2f}x (target >= 1.5x); INT8 top-1 agreement with FP32: "
        f"{int8_vs_fp32['top1_agreement']:.1%} (target >= 99%), max |dlogit| "
        f"{int8_vs_fp32['max_abs_logit_diff']:.2e}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
