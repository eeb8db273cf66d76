"""What each loader stage costs the scorer's throughput: end to end / pure inference with stages left out.

Run: ``.venv/bin/python benchmarks/loader_ablation.py [--filters 32 | --model DIR] [--precision fp32]
[--fields 96] [--sites-per-well 1] [--size 1024 1280] [--repeats 3] [--work DIR]``

``hcs score`` decodes, image-QCs, preprocesses and thumbnails fields in loader threads on the same
cores the engine infers on, so the faster the engine, the larger the share of the CPU the loader
takes from it. This benchmark runs the scorer's own pieces in one process (the loader threads of
:func:`mcnn_infer.scoring.loader.iter_batches` writing into the batch rows, the engine of
:func:`mcnn_infer.runtime.open_engine` fed asynchronously; no result writing) on ``--fields``
synthetic 3-channel 16-bit fields, in these modes, round robin over ``--repeats`` passes:

* ``pure``: the same engine on preloaded batches (no loader);
* ``loader``: every stage (:func:`mcnn_infer.images.read_planes`, image QC
  (:func:`mcnn_infer.image_qc.image_qc`), :func:`mcnn_infer.preprocess.preprocess_planes`, and
  the thumbnail of each well's first field: every field with the default ``--sites-per-well 1``, as
  in ``benchmarks/score_throughput.py``; every 4th with ``--sites-per-well 4``, as on BBBC021);
* ``without image QC``, ``without preprocess``, ``without thumbnails``: one stage left out;
* ``decode only``;
* ``in-engine normalisation`` (OpenVINO models): the loader passes the camera counts on as they
  are (the planes interleaved into a uint16 batch row) and the engine normalises them, a copy of
  its IR with OpenVINO's ``PrePostProcessor`` steps (uint16 to f32, minus ``low``, times
  ``1 / (high - low)``, clamped to [0, 1]; its logits are checked against the float32 path
  first), and the thumbnail is made from the counts (4x block means, then normalised); with
  ``pure (uint16 input)``, that engine on preloaded batches, both against ``pure``. This is the
  design that would take normalisation out of the loader; the scorer does not use it.

Per mode it prints fields/s (best pass), the ratio to ``pure`` (the issue's e2e / pure without the
writing; each pass against the pure inference of the same pass, median and range over passes:
shared machines have quiet and busy minutes), and the loader's CPU cost per field that ratio
implies, ``cores x 1000 x (1/ratio - 1) / pure`` ms: what the loader takes from inference,
including what it slows inference down by sharing caches. The stages' costs do not add up (a
lighter loader competes less for the caches and fills more of the moments the engine leaves a
core idle): read each row as what leaving that stage out would give.

The default model is the tiny test CNN (``tests/fixtures/tiny_model.py``, one 3x3 convolution of
``--filters`` filters at 1024x1280): at 32 filters a 2-core AVX2 EPYC infers it at 31-46 fields/s,
about the M-CNN's INT8 rate on a 2-core AMX Xeon (27.8), so the table shows what each stage costs
this CPU next to an engine that fast. ``--model`` measures an export instead (e.g. the M-CNN kept by
``benchmarks/score_throughput.py --mcnn --work DIR``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.score_throughput import cpu_lines  # noqa: E402
from mcnn_infer.cpu import cpu_report  # noqa: E402
from mcnn_infer.image_qc import image_qc  # noqa: E402
from mcnn_infer.images import read_planes  # noqa: E402
from mcnn_infer.plates import scan_plate  # noqa: E402
from mcnn_infer.preprocess import area_resize, normalize, preprocess_planes  # noqa: E402
from mcnn_infer.results import THUMB_REPRESENTATIVE  # noqa: E402
from mcnn_infer.runtime import Engine, open_engine  # noqa: E402
from mcnn_infer.scoring.loader import FieldJob, LoadedField, iter_batches  # noqa: E402
from mcnn_infer.scoring.options import default_workers  # noqa: E402
from mcnn_infer.scoring.thumbnails import thumbnail_columns  # noqa: E402
from tests.fixtures.tiny_model import make_tiny_model  # noqa: E402
from tests.fixtures.tiny_plate import make_tiny_plate, well_names  # noqa: E402

#: Mode -> the loader stages it runs (decode always runs).
MODES: dict[str, tuple[str, ...]] = {
    "loader": ("image_qc", "preprocess", "thumbnails"),
    "without image QC": ("preprocess", "thumbnails"),
    "without preprocess": ("image_qc", "thumbnails"),
    "without thumbnails": ("image_qc", "preprocess"),
    "decode only": (),
}


def stage_loader(engine: Engine, stages: tuple[str, ...]) -> Callable[[FieldJob, np.ndarray], LoadedField]:
    """A ``prepare`` for :func:`iter_batches` that decodes a field and runs ``stages`` of the scorer's loader.

    Without ``preprocess`` the batch row keeps whatever it held: inference costs the same on any values.
    """
    card = engine.card

    def prepare(job: FieldJob, out: np.ndarray) -> LoadedField:
        planes = read_planes(job.paths)
        qc = dict(image_qc(planes)) if "image_qc" in stages else {}
        if "preprocess" in stages:
            preprocess_planes(planes, card.normalization, card.input.size, out)
        if "thumbnails" in stages and job.thumbnail:
            qc.update(thumbnail_columns(out, THUMB_REPRESENTATIVE))
        return LoadedField(job.index, out, qc)

    return prepare


def loader_rate(engine: Engine, jobs: list[FieldJob], stages: tuple[str, ...], workers: int) -> float:
    """Fields/s of loading ``jobs`` with ``stages`` in ``workers`` threads while the engine infers them."""
    prepare = stage_loader(engine, stages)
    start = time.perf_counter()
    batches = iter_batches(
        jobs, prepare, engine.batch_size, engine.input_shape, workers, 2 * engine.batch_size * engine.jobs
    )
    for k, batch in enumerate(batches):
        engine.submit(batch.tensor, k, map_rows=[])
        engine.poll()
    engine.drain()
    return len(jobs) / (time.perf_counter() - start)


def pure_rate(engine: Engine, jobs: list[FieldJob]) -> float:
    """Fields/s of the engine on two preloaded, preprocessed batches, as many fields as ``jobs``."""
    prepare = stage_loader(engine, ("preprocess",))
    batches = [np.empty((engine.batch_size, *engine.input_shape), np.float32) for _ in range(2)]
    for k in range(2 * engine.batch_size):
        prepare(jobs[k % len(jobs)], batches[k // engine.batch_size][k % engine.batch_size])
    engine.submit(batches[0], -1, map_rows=[])  # warm-up
    engine.drain()
    n_batches = max(1, len(jobs) // engine.batch_size)
    start = time.perf_counter()
    for k in range(n_batches):
        engine.submit(batches[k % 2], k, map_rows=[])
        engine.poll()
    engine.drain()
    return n_batches * engine.batch_size / (time.perf_counter() - start)


class CountsEngine:
    """The engine's IR compiled to take uint16 camera counts (NHWC) and normalise them itself.

    Same batch size, precision hint and THROUGHPUT hint as ``engine``; OpenVINO ``PrePostProcessor``
    steps before the model input: convert to f32, subtract the card's ``low``, multiply by
    ``1 / (high - low)``, clamp to [0, 1] (the card's normalisation, as ``preprocess_planes`` computes it).
    """

    def __init__(self, engine: Engine, model_dir: Path) -> None:
        import openvino as ov
        import openvino.properties.hint as hints
        from openvino import opset13 as ops
        from openvino.preprocess import PrePostProcessor

        self.engine, self.card = engine, engine.card
        norm = self.card.normalization
        low, high = np.float32(norm.low), np.float32(norm.high)
        core = ov.Core()
        model = core.read_model(Path(model_dir) / engine.fmt.path)
        model.reshape({model.inputs[0]: ov.PartialShape([engine.batch_size, *engine.input_shape])})
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u16).set_layout(ov.Layout("NHWC"))
        ppp.input().model().set_layout(ov.Layout("NHWC"))
        scale = ops.constant((np.float32(1.0) / (high - low)).astype(np.float32))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).mean([float(v) for v in low]).custom(
            lambda node: ops.clamp(ops.multiply(node, scale), 0.0, 1.0).output(0)
        )
        config = {
            hints.performance_mode: hints.PerformanceMode.THROUGHPUT,
            hints.inference_precision: getattr(ov.Type, engine.fmt.inference_precision),
        }
        self.compiled = core.compile_model(ppp.build(), "CPU", config)
        self.queue = ov.AsyncInferQueue(self.compiled, engine.jobs)
        self.logits = self.compiled.output(self.card.outputs["logits"])
        self.shape = (engine.batch_size, *engine.input_shape)

    def prepare(self, job: FieldJob, out: np.ndarray) -> LoadedField:
        """Decode, image QC, counts interleaved into ``out`` (uint16 (H, W, C)), thumbnail from the counts."""
        planes = read_planes(job.paths)
        qc = dict(image_qc(planes))
        cv2.merge(planes, out)
        if job.thumbnail:
            small = area_resize(out, (out.shape[0] // 4, out.shape[1] // 4))  # block means of the counts
            small = normalize(small, self.card.normalization, out=small)
            qc.update(thumbnail_columns(small, THUMB_REPRESENTATIVE))
        return LoadedField(job.index, out, qc)

    def check(self, job: FieldJob) -> float:
        """Largest |logit| difference between this engine and ``engine`` on one field (a batch of copies)."""
        counts = np.empty(self.shape, np.uint16)
        for row in counts:
            self.prepare(job, row)
        field = preprocess_planes(read_planes(job.paths), self.card.normalization, self.card.input.size)
        request = self.compiled.create_infer_request()
        request.infer({0: counts})
        want = self.engine.infer(np.stack([field] * self.shape[0]))[0]
        return float(np.max(np.abs(request.get_tensor(self.logits).data - want)))

    def rate(self, jobs: list[FieldJob], workers: int, loader: bool) -> float:
        """Fields/s: with ``loader``, the scorer's loader threads (:func:`iter_batches`, uint16 batches)
        fill batches while the engine infers them; else two preloaded batches in turn. Whole batches
        only: ``len(jobs) // batch`` of them (at least one, the jobs taken in turn)."""
        n_batch = self.shape[0]
        jobs = [jobs[k % len(jobs)] for k in range(max(1, len(jobs) // n_batch) * n_batch)]
        if loader:
            inflight = 2 * n_batch * self.engine.jobs
            loaded = iter_batches(
                jobs, self.prepare, n_batch, self.shape[1:], workers, inflight, dtype=np.uint16
            )
            batches = (batch.tensor for batch in loaded)
        else:
            preloaded = np.empty((2, *self.shape), np.uint16)
            for k in range(2 * n_batch):
                self.prepare(jobs[k % len(jobs)], preloaded[k // n_batch, k % n_batch])
            batches = (preloaded[k % 2] for k in range(len(jobs) // n_batch))
        start = time.perf_counter()
        for batch in batches:
            # the batch rides along as userdata: alive until its request is done (shared, not copied)
            self.queue.start_async({0: batch}, batch, share_inputs=True)
        self.queue.wait_all()
        return len(jobs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="an exported model folder (default: the tiny test CNN)")
    parser.add_argument("--filters", type=int, default=32, help="filters of the tiny test CNN")
    parser.add_argument("--precision", default="fp32", help="the engine's precision (hcs score --precision)")
    parser.add_argument("--fields", type=int, default=96, help="synthetic fields")
    parser.add_argument(
        "--sites-per-well", type=int, default=1, help="fields per well (the first of each gets a thumbnail)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="round-robin passes over the modes")
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 1280], metavar=("H", "W"))
    parser.add_argument("--workers", type=int, help="loader threads (default: hcs score's, one per core)")
    parser.add_argument("--work", type=Path, help="keep the synthetic plate here and reuse it")
    args = parser.parse_args()
    for line in cpu_lines(cpu_report(), "cpu_report()"):
        print(line)
    with tempfile.TemporaryDirectory(prefix="hcs-ablation-") as tmp:
        root = args.work or Path(tmp)
        size = tuple(args.size)
        name = f"ablation-{size[0]}x{size[1]}-{args.fields}"
        plate = root / name / "A"
        if not (root / f"{name}.done").exists():
            make_tiny_plate(plate.parent, plate="A", wells=well_names(args.fields), size=size)
            (root / f"{name}.done").touch()
        if args.model is None:
            model = make_tiny_model(Path(tmp) / "model", size=size, filters=args.filters, embedding_size=512)
            kind = f"tiny test CNN ({args.filters} filters)"
        else:
            model, kind = args.model, str(args.model)
        engine = open_engine(model, "openvino", args.precision)
        model_size = engine.card.input.size
        scan = scan_plate(plate)
        jobs = [
            FieldJob(k, [row[c] for c in scan.path_columns], row["plate"], k % args.sites_per_well == 0)
            for k, (_, row) in enumerate(scan.fields.iterrows())
        ]
        cores = len(os.sched_getaffinity(0))
        workers = args.workers or default_workers()
        print(
            f"model: {kind}, input {model_size[0]}x{model_size[1]}x3, {engine.compute_summary()}, "
            f"batch {engine.batch_size}, {engine.jobs} requests; {len(jobs)} fields {size[0]}x{size[1]}x3 "
            f"uint16, {args.sites_per_well} per well; {workers} loader threads, {cores} cores"
        )
        # warm-up: the files in the page cache, the buffers touched
        loader_rate(engine, jobs, MODES["loader"], workers)
        counts = CountsEngine(engine, model) if engine.fmt.runtime == "openvino" else None
        rates: dict[str, list[float]] = {"pure": [], **{mode: [] for mode in MODES}}
        if counts is not None:
            print(
                f"in-engine normalisation: max |logit difference| to the float32 path {counts.check(jobs[0]):.2e}"
            )
            rates.update({"pure (uint16 input)": [], "in-engine normalisation": []})
            counts.rate(jobs, workers, loader=True)  # warm-up
        for _ in range(args.repeats):
            rates["pure"].append(pure_rate(engine, jobs))
            for mode, stages in MODES.items():
                rates[mode].append(loader_rate(engine, jobs, stages, workers))
            if counts is not None:
                rates["pure (uint16 input)"].append(counts.rate(jobs, workers, loader=False))
                rates["in-engine normalisation"].append(counts.rate(jobs, workers, loader=True))
        pure = np.asarray(rates["pure"])
        print(
            f"\n{'mode':<24} {'fields/s':>9} {'/ pure':>7} {'range':>12} {'loader CPU ms/field':>20}  passes"
        )
        for mode, samples in rates.items():
            ratios = np.asarray(samples) / pure  # each pass against its own pure inference
            ratio = float(np.median(ratios))
            cost = cores * 1000.0 * (1.0 / ratio - 1.0) / float(np.median(pure))
            span = f"{ratios.min():.3f}-{ratios.max():.3f}"
            passes = ", ".join(f"{r:.1f}" for r in samples)
            print(f"{mode:<24} {max(samples):9.2f} {ratio:7.3f} {span:>12} {cost:20.1f}  [{passes}]")


if __name__ == "__main__":
    main()
