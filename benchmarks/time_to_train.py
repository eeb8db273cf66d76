"""Time to train BBBC021 at the seed's scale: measured speed per core and gradient allreduce, and a model.

The product descends from a system that trained the M-CNN on BBBC021 with Horovod on 8 Xeon nodes of
40 cores in 31 minutes instead of 11 hours on one. This benchmark measures what that takes here and
predicts, with a model whose one testable case is checked on this machine, how long the same recipe
would take on N nodes of C cores of this CPU.

Printed, measured in one run (the CPU's flags first):

* training speed **per core** (1 worker x 1 thread) of the full M-CNN (``mcnn``) at 1024x1280x3,
  batch 8 (the recipe's, :data:`mcnn_train.recipe.BATCH_SIZE`), with the trainer's model, optimizer and
  loss (``train_throughput.child_train``), in fp32 and, on CPUs with native BF16
  (:func:`mcnn_infer.cpu.native_bf16`), in bf16 (Keras ``mixed_bfloat16``), and the ratio bf16 / fp32:
  images/s (wall clock), the share of a core the worker had (its CPU time over wall time: other jobs
  share this machine) and images per CPU-second, the rate on a core of its own, which the model uses;
* the allreduce of the M-CNN's gradients (every trainable variable at 1024x1280x3: 42.6 M parameters,
  170 MB fp32) between 2 Horovod workers on this host (``horovodrun --gloo -np 2``), run by the trainer's
  own DistributedOptimizer (:func:`mcnn_train.recipe.make_optimizer`: the gradient-list allreduce it runs
  every step, one allreduce per gradient fused by Horovod's tensor fusion with its defaults), median of
  ``--repeats``; and of a 4-byte tensor (the latency); the loopback bandwidth and latency they imply;
* the model (below) as a table of minutes to train BBBC021 with the seed's recipe on N nodes x C cores,
  fp32 and bf16, over 10/25/100 GbE, beside the seed's 8 nodes / 31 minutes;
* the check: 2 workers x 1 thread training the M-CNN with allreduce on this machine, measured step time
  vs the model's prediction for N=2, C=1 over the measured loopback bandwidth, and their ratio, in wall
  clock (load-dependent) and in CPU time per step (as on idle cores).

The model (one step of data-parallel training with the seed's weak scaling, batch per node fixed):

* compute: ``t_c = node_batch / (C * rate_per_core)``, training cost split as in
  ``train_throughput`` (3 x the forward pass): forward 1/3, back-propagation ``t_b = 2/3 t_c``;
* ring allreduce of ``S`` bytes over N nodes: ``2 (N-1)/N * S / B`` plus, per fusion buffer,
  Horovod's cycle time and ``2 (N-1)`` message latencies;
* overlap (Horovod tensor fusion): a gradient is reduced as soon as it is computed. The dense layers
  (``embedding``, ``logits``: 98% of the M-CNN's gradient bytes) get their gradients first, after
  0.2% of the back-propagation (their FLOP are that small a share), so their allreduce can hide behind
  the rest of it: the overlap fraction ``f`` = share of the backward FLOP after the dense layers
  (0.998 at 1024x1280, computed from the model). The convolutions' gradients (2%) are ready only
  towards the end of the backward pass and are counted as exposed. Step time =
  ``t_c + max(0, T_ar(dense) - f t_b) + T_ar(conv)``. Communication is assumed to take no compute
  cycles (true of RDMA, nearly so of TCP with a spare core); the 2-worker check on this machine, where
  the "network" is memory copies by the same 2 busy cores, is where that is tested hardest;
* time to train = epochs x ceil(images / (N x node_batch)) x step time (data loading, validation and
  start-up not counted: the trainer streams from an on-disk cache after the first epoch).

Usage::

    python benchmarks/time_to_train.py            # 1024x1280: 4.5 CPU-minutes (10 min on the shared 2 cores)
    python benchmarks/time_to_train.py --quick    # 512x640, 1 timed step: 1.7 CPU-minutes (4 min shared)

At another ``--size`` the measured rates are scaled to 1024x1280 by the ratio of forward GFLOP
(:func:`mcnn_train.models.forward_gflop`) for the table; the allreduce is always of the 1024x1280
gradients, and the 2-worker check predicts for the model at the size it ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.train_throughput import (  # noqa: E402
    N_CLASSES,
    RESULT,
    TRAIN_FLOP_FACTOR,
    _env,
    _run,
    child_train,
)

MODEL = "mcnn"
FULL_SIZE = (1024, 1280)
QUICK_SIZE = (512, 640)
CHANNELS = 3
FLOAT32_BYTES = 4
#: Layers whose gradients are ready first in back-propagation (the M-CNN's head).
DENSE_LAYERS = ("embedding", "logits")
#: Horovod 0.28 defaults (since 0.21): fusion buffer 128 MB, background cycle 1 ms.
FUSION_THRESHOLD_BYTES = 128 * 1024 * 1024
HOROVOD_CYCLE_S = 1e-3
#: The seed's recipe: its learning-rate schedule (the README's BBBC021 command) and epochs.
SEED_SCHEDULE = "0.008;2;0.032;5;0.029;10;0.026;15;0.001;20;0.0001"
SEED_EPOCHS = 20
#: The seed's run (issue #21): 8 Xeon nodes of 40 cores, 31 minutes (11 hours on one node), 120 images/s.
SEED_NODES, SEED_CORES, SEED_MINUTES, SEED_HOURS_ONE_NODE, SEED_IMAGES_PER_S = 8, 40, 31.0, 11.0, 120.0
#: Workers per node of the seed-scale runs (the README's BBBC021 example: ``--workers 4``, ``-H node1:4``).
WORKERS_PER_NODE = 4
NODES = (1, 2, 4, 8, 16)
CORES = (40, 64)
#: BBBC021's metadata in the real data beside the clone (``$HCS_SHARED_DATA``, as the tests find it).
BBBC021_CSV = (
    Path(os.environ.get("HCS_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "bbbc021"
    / "BBBC021_v1_image.csv"
)


@dataclass(frozen=True)
class Link:
    """A network between nodes.

    Attributes
    ----------
    name : str
        Label (``10GbE``).
    gbit_s : float
        Line rate in Gbit/s.
    latency_s : float
        One message's latency in seconds (TCP over Ethernet, as Gloo uses it).
    efficiency : float
        Fraction of the line rate a transfer achieves (TCP/IP goodput).
    """

    name: str
    gbit_s: float
    latency_s: float
    efficiency: float = 0.9

    @property
    def bytes_per_s(self) -> float:
        return self.gbit_s * 1e9 / 8 * self.efficiency


LINKS = (Link("10GbE", 10, 50e-6), Link("25GbE", 25, 25e-6), Link("100GbE", 100, 10e-6))


def ring_allreduce_seconds(nbytes: float, nodes: int, link: Link, cycle_s: float = HOROVOD_CYCLE_S) -> float:
    """Seconds of a ring allreduce of ``nbytes`` over ``nodes`` (0 for one node).

    ``2 (N-1)/N * bytes / bandwidth`` plus, per fusion buffer of :data:`FUSION_THRESHOLD_BYTES`,
    Horovod's cycle time and ``2 (N-1)`` message latencies (reduce-scatter and all-gather steps).
    """
    if nodes <= 1 or nbytes <= 0:
        return 0.0
    buffers = max(1, math.ceil(nbytes / FUSION_THRESHOLD_BYTES))
    transfer = 2 * (nodes - 1) / nodes * nbytes / link.bytes_per_s
    return transfer + buffers * (cycle_s + 2 * (nodes - 1) * link.latency_s)


@dataclass(frozen=True)
class Gradients:
    """The gradient bytes of one step and how much of the backward pass can hide their allreduce.

    Attributes
    ----------
    dense_bytes, conv_bytes : int
        fp32 bytes of the gradients of the dense head (ready first) and of the convolutions.
    overlap : float
        Fraction of the backward pass still to run once the dense gradients are ready.
    """

    dense_bytes: int
    conv_bytes: int
    overlap: float

    @property
    def total_bytes(self) -> int:
        return self.dense_bytes + self.conv_bytes

    @classmethod
    def from_variables(cls, variables: list[tuple[str, int]], forward_gflop: float) -> Gradients:
        """From ``(name, parameters)`` of every trainable variable and the forward GFLOP per image.

        A dense kernel costs 2 FLOP per parameter and image forward (and twice that backward), so the
        dense layers' share of the backward FLOP is ``2 * dense kernel parameters / forward FLOP``.
        """
        dense = [(n, p) for n, p in variables if n.split("/")[0] in DENSE_LAYERS]
        dense_params = sum(p for _, p in dense)
        dense_kernel_flop = sum(2 * p for n, p in dense if "kernel" in n)
        conv_params = sum(p for _, p in variables) - dense_params
        overlap = max(0.0, 1.0 - dense_kernel_flop / (forward_gflop * 1e9))
        return cls(dense_params * FLOAT32_BYTES, conv_params * FLOAT32_BYTES, overlap)


def step_seconds(compute_s: float, grads: Gradients, nodes: int, link: Link) -> tuple[float, float]:
    """One training step with the allreduce overlapped with back-propagation.

    Returns
    -------
    step, exposed : float
        Seconds of the step, and of it the communication not hidden behind the backward pass.
    """
    backward = compute_s * (TRAIN_FLOP_FACTOR - 1) / TRAIN_FLOP_FACTOR
    dense = ring_allreduce_seconds(grads.dense_bytes, nodes, link)
    conv = ring_allreduce_seconds(grads.conv_bytes, nodes, link)
    exposed = max(0.0, dense - grads.overlap * backward) + conv
    return compute_s + exposed, exposed


@dataclass(frozen=True)
class Prediction:
    """A predicted run: minutes to train, images/s of the cluster, optimizer steps, exposed communication
    as a fraction of a step."""

    minutes: float
    images_per_s: float
    steps: int
    exposed_fraction: float


def time_to_train(
    images: int,
    epochs: float,
    nodes: int,
    cores: int,
    rate_per_core: float,
    node_batch: int,
    grads: Gradients,
    link: Link,
) -> Prediction:
    """Minutes to train ``epochs`` over ``images`` on ``nodes`` x ``cores`` (weak scaling: ``node_batch`` per node).

    ``rate_per_core`` is training images/s of one core; a node of ``cores`` is taken to train ``cores``
    times as fast (linear within a node).
    """
    steps_per_epoch = math.ceil(images / (nodes * node_batch))
    compute = node_batch / (cores * rate_per_core)
    step, exposed = step_seconds(compute, grads, nodes, link)
    steps = math.ceil(epochs * steps_per_epoch)
    return Prediction(steps * step / 60.0, nodes * node_batch / step, steps, exposed / step)


def bbbc021_images(csv: Path) -> tuple[int, int, int]:
    """Image sets of BBBC021's MoA-annotated wells (the seed's training images).

    Returns
    -------
    images, wells, plates : int
        Image sets (fields of 3 channels) in wells whose treatment has a MoA (DMSO included), those
        wells, and their plates; MoAs joined by :func:`mcnn_infer.metadata.read_treatments`.
    """
    import pandas as pd

    from mcnn_infer.metadata import read_treatments

    wells = read_treatments(csv)
    annotated = wells.loc[wells["moa"].notna(), ["plate", "well"]]
    sets = pd.read_csv(csv, usecols=["Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI"])
    sets.columns = ["plate", "well"]
    images = len(sets.merge(annotated, on=["plate", "well"]))
    return images, len(annotated), annotated["plate"].nunique()


def child_allreduce(repeats: int, run_size: tuple[int, int]) -> dict | None:
    """Time the trainer's gradient allreduce of the full M-CNN's gradients (run under horovodrun)."""
    import numpy as np
    import tensorflow as tf

    from mcnn_train import distributed, recipe
    from mcnn_train.models import build_model

    info = distributed.init(1)
    variables: dict[str, list[tuple[str, int]]] = {}
    for key, (height, width) in (("full", FULL_SIZE), ("run", run_size)):
        model = build_model(MODEL, height, width, CHANNELS, N_CLASSES)
        variables[key] = [(v.name, int(np.prod(v.shape))) for v in model.trainable_variables]
        if key == "full":
            trainable = model.trainable_variables
    # The function Horovod's DistributedOptimizer runs on each step's gradient list (one allreduce per
    # gradient, Average; Horovod fuses those ready in one cycle into buffers of HOROVOD_FUSION_THRESHOLD).
    allreduce = recipe.make_optimizer(0.0)._allreduce_grads
    generator = tf.random.Generator.from_seed(info.rank)
    grads = [generator.normal(v.shape) for v in trainable]
    tiny = [tf.fill([1], float(info.rank))]

    def timed(tensors: list) -> tuple[float, float, np.ndarray]:
        distributed.barrier()
        start, cpu = time.perf_counter(), time.process_time()
        out = allreduce(tensors, None)
        last = out[-1].numpy()
        return time.perf_counter() - start, time.process_time() - cpu, last

    timed(grads), timed(tiny)  # warm-up: tracing, negotiation, fusion buffer allocation
    big = [timed(grads)[:2] for _ in range(repeats)]
    small = []
    for _ in range(repeats):
        seconds, _, value = timed(tiny)
        expected = (info.size - 1) / 2.0  # mean of the ranks 0..size-1
        if not np.allclose(value, expected):
            raise SystemExit(f"allreduce returned {value}, expected the mean of the ranks {expected}")
        small.append(seconds)
    if not info.is_chief:
        return None
    return {
        "workers": info.size,
        "bytes": sum(p for _, p in variables["full"]) * FLOAT32_BYTES,
        "seconds": [wall for wall, _ in big],
        "cpu_seconds": [cpu for _, cpu in big],
        "tiny_seconds": small,
        "variables": variables,
    }


def loopback_link(allreduce: dict) -> Link:
    """The 'network' between the local workers, from the measured allreduces (medians).

    Latency: the 4-byte allreduce minus Horovod's cycle, over its ``2 (N-1)`` messages; bandwidth:
    ``2 (N-1)/N * bytes`` over the big allreduce's time less its latency terms.
    """
    n = allreduce["workers"]
    tiny = statistics.median(allreduce["tiny_seconds"])
    latency = max(0.0, tiny - HOROVOD_CYCLE_S) / (2 * (n - 1))
    buffers = max(1, math.ceil(allreduce["bytes"] / FUSION_THRESHOLD_BYTES))
    transfer = statistics.median(allreduce["seconds"]) - buffers * (HOROVOD_CYCLE_S + 2 * (n - 1) * latency)
    transfer = max(transfer, 1e-9)
    gbit_s = 2 * (n - 1) / n * allreduce["bytes"] / transfer * 8 / 1e9
    return Link("loopback", gbit_s, latency, efficiency=1.0)


def _share(cpu_seconds: float, wall_seconds: float) -> str:
    """CPU time over wall time of a single-threaded worker: how much of a core it had (all its threads)."""
    return f"{cpu_seconds / wall_seconds:.0%}"


def _per_cpu_second(result: dict) -> float:
    """Training images per CPU-second of a 1-thread worker: its images/s on a core of its own."""
    return result["global_batch"] * result["steps"] / result["cpu_seconds"]


def _size(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def _cpu_lines() -> list[str]:
    from benchmarks.score_throughput import cpu_lines
    from mcnn_infer.cpu import cpu_report

    cpu = cpu_report()
    lines = cpu_lines(cpu, "cpu_report()")
    lines.append(
        f"  fast BF16 per mcnn_infer.cpu.fast_bf16: {cpu['fast_bf16']}; load average {os.getloadavg()}"
    )
    return lines


def _print_table(
    precision: str, rate_per_core: float, images: int, epochs: float, node_batch: int, grads: Gradients
) -> None:
    """Minutes to train per node count and link, for each node size of :data:`CORES`."""
    serial = dataclasses.replace(grads, overlap=0.0)
    for cores in CORES:
        print(
            f"\n{precision}, nodes of {cores} cores ({rate_per_core * cores:.2f} images/s per node), "
            f"{node_batch} images per node and step: minutes to train"
        )
        names = " ".join(f"{link.name:>7}" for link in LINKS)
        print(f"{'N':>3} {'steps':>6} {'img/s':>7} {names}  10GbE: comm exposed, minutes without overlap")
        for nodes in NODES:
            runs = [
                time_to_train(images, epochs, nodes, cores, rate_per_core, node_batch, grads, link)
                for link in LINKS
            ]
            slow = time_to_train(images, epochs, nodes, cores, rate_per_core, node_batch, serial, LINKS[0])
            seed = (
                f"  <- the seed: {SEED_NODES} x {SEED_CORES}-core Xeon nodes, {SEED_MINUTES:.0f} min"
                if (nodes, cores) == (SEED_NODES, SEED_CORES)
                else ""
            )
            print(
                f"{nodes:>3} {runs[0].steps:>6} {runs[0].images_per_s:>7.1f} "
                + " ".join(f"{r.minutes:>7.1f}" for r in runs)
                + f"  {100 * runs[0].exposed_fraction:4.1f}% of the step, {slow.minutes:5.1f}{seed}"
            )


def main() -> None:
    from mcnn_train import recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", default=None, help="training size HxW for the measurements (default 1024x1280)"
    )
    parser.add_argument(
        "--batch", type=int, default=recipe.BATCH_SIZE, help="images per step per worker (the recipe's)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed training steps after 1 warm-up (default 2)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="allreduce repeats (median; default 7)")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SIZE[0]}x{QUICK_SIZE[1]}, 1 timed step, 3 repeats"
    )
    parser.add_argument("--epochs", type=float, default=SEED_EPOCHS, help="epochs of the seed's recipe")
    parser.add_argument("--workers-per-node", type=int, default=WORKERS_PER_NODE)
    parser.add_argument(
        "--metadata", type=Path, default=BBBC021_CSV, help="BBBC021_v1_image.csv (MoA CSV beside it)"
    )
    parser.add_argument("--child", choices=["train", "allreduce"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--precision", choices=list(recipe.PRECISIONS), default="fp32", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    size = _size(args.size) if args.size else (QUICK_SIZE if args.quick else FULL_SIZE)
    steps = args.steps or (1 if args.quick else 2)
    repeats = args.repeats or (3 if args.quick else 7)
    if args.child == "train":
        result = child_train(args.threads, *size, args.batch, steps, args.precision)
        if result is not None:
            print(RESULT + json.dumps(result), flush=True)
        return
    if args.child == "allreduce":
        result = child_allreduce(repeats, size)
        if result is not None:
            print(RESULT + json.dumps(result), flush=True)
        return

    from mcnn_infer.cpu import require_native_bf16
    from mcnn_infer.errors import ConfigError
    from mcnn_train.launcher import horovodrun_path
    from mcnn_train.models import forward_gflop, get_model_spec
    from mcnn_train.models.widths import check_input_size

    try:
        check_input_size(*size)
    except ConfigError as exc:
        raise SystemExit(f"--size {size[0]}x{size[1]}: {exc}") from exc

    if not args.metadata.is_file():
        raise SystemExit(
            f"BBBC021 metadata {args.metadata} not found: expected BBBC021_v1_image.csv (--metadata)"
        )
    for line in _cpu_lines():
        print(line)
    try:
        require_native_bf16("bf16 training")
        bf16_skip = None
    except ConfigError as exc:
        bf16_skip = str(exc)
    widths = get_model_spec(MODEL).widths
    gflop_full = forward_gflop(*FULL_SIZE, CHANNELS, N_CLASSES, widths)
    gflop_run = forward_gflop(*size, CHANNELS, N_CLASSES, widths)
    me = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--size",
        f"{size[0]}x{size[1]}",
        "--batch",
        str(args.batch),
        "--steps",
        str(steps),
        "--repeats",
        str(repeats),
    ]
    two_workers = [horovodrun_path(), "--gloo", "-np", "2", "-H", "localhost:2"]
    started = time.perf_counter()

    # 1. The gradient allreduce between 2 local workers.
    allreduce = _run([*two_workers, *me, "--child", "allreduce"], _env(1))
    loop = loopback_link(allreduce)
    full_grads = Gradients.from_variables(allreduce["variables"]["full"], gflop_full)
    run_grads = Gradients.from_variables(allreduce["variables"]["run"], gflop_run)
    samples = ", ".join(f"{1e3 * s:.0f}" for s in allreduce["seconds"])
    print(
        f"\nallreduce of the M-CNN's gradients at {FULL_SIZE[0]}x{FULL_SIZE[1]}x3 "
        f"({full_grads.total_bytes / 4e6:.1f} M parameters, {full_grads.total_bytes / 1e6:.1f} MB fp32; "
        f"dense head {100 * full_grads.dense_bytes / full_grads.total_bytes:.1f}% of the bytes), "
        f"2 workers (horovodrun --gloo, localhost), the trainer's DistributedOptimizer, tensor fusion defaults:"
    )
    print(
        f"  median {1e3 * statistics.median(allreduce['seconds']):.0f} ms over {repeats} repeats ({samples} ms; "
        f"rank 0 busy {_share(sum(allreduce['cpu_seconds']), sum(allreduce['seconds']))} of it); "
        f"4-byte allreduce median {1e3 * statistics.median(allreduce['tiny_seconds']):.2f} ms"
    )
    print(f"  -> loopback 'network': {loop.gbit_s:.1f} Gbit/s, {1e6 * loop.latency_s:.0f} us per message")

    # 2. Training images/s per core (1 worker x 1 thread): bf16, then fp32 (next to the 2-worker run).
    steps_of: dict[str, dict] = {}
    for precision in ("bf16", "fp32"):
        if precision == "bf16" and bf16_skip is not None:
            print(f"bf16: skipped: {bf16_skip}")
            continue
        result = _run([*me, "--child", "train", "--threads", "1", "--precision", precision], _env(1))
        steps_of[precision] = result
        print(
            f"{precision}, 1 worker x 1 thread at {size[0]}x{size[1]}x3, batch {args.batch}: "
            f"{result['images_per_s']:.3f} images/s ({result['seconds'] / steps:.2f} s per step, {steps} timed), "
            f"the worker on a core {_share(result['cpu_seconds'], result['seconds'])} of the time: "
            f"{_per_cpu_second(result):.3f} images per CPU-second"
        )
    if "bf16" in steps_of:
        ratio = _per_cpu_second(steps_of["bf16"]) / _per_cpu_second(steps_of["fp32"])
        print(f"bf16 / fp32 per core (images per CPU-second): {ratio:.2f}x")

    # 3. The check: 2 workers x 1 thread training with allreduce vs the model's N=2, C=1 prediction.
    two = _run([*two_workers, *me, "--child", "train", "--threads", "1", "--precision", "fp32"], _env(1))
    one = steps_of["fp32"]
    print(
        f"\ncheck, 2 workers x 1 thread, batch {args.batch} each, at {size[0]}x{size[1]}x3 "
        f"(gradients {run_grads.total_bytes / 1e6:.1f} MB, overlap f = {run_grads.overlap:.3f}), "
        f"the model for N=2, C=1 over the loopback from the 1-worker step:"
    )
    for label, key in (("wall clock", "seconds"), ("CPU time (as on idle cores)", "cpu_seconds")):
        measured = two[key] / two["steps"]
        base = one[key] / one["steps"]
        predicted, exposed = step_seconds(base, run_grads, 2, loop)
        no_overlap = base + ring_allreduce_seconds(run_grads.total_bytes, 2, loop)
        print(
            f"  {label}: measured {measured:.2f} s per step; model {base:.2f} + exposed {1e3 * exposed:.0f} ms "
            f"= {predicted:.2f} s -> measured / model {measured / predicted:.2f} "
            f"(model without overlap {no_overlap:.2f} s: {measured / no_overlap:.2f})"
        )
    print(
        f"  on a core: 2-worker rank 0 {_share(two['cpu_seconds'], two['seconds'])} of its steps, "
        f"1 worker {_share(one['cpu_seconds'], one['seconds'])}"
    )

    # 4. The model at the seed's scale.
    images, wells, plates = bbbc021_images(args.metadata)
    scale = gflop_run / gflop_full
    rates = {p: _per_cpu_second(r) * scale for p, r in steps_of.items()}
    node_batch = args.workers_per_node * args.batch
    print(
        f"\nBBBC021 with the seed's recipe: {images} images (MoA-annotated wells incl. DMSO: {wells} wells on "
        f"{plates} plates, all sites), {args.epochs:g} epochs (schedule {SEED_SCHEDULE}), batch {args.batch} per "
        f"worker x {args.workers_per_node} workers per node; links at {LINKS[0].efficiency:.0%} of line rate"
    )
    per_core = ", ".join(f"{p} {r:.3f}" for p, r in rates.items())
    scaled = (
        f", scaled to {FULL_SIZE[0]}x{FULL_SIZE[1]} by the GFLOP ratio {scale:.3f}" if scale != 1.0 else ""
    )
    print(f"  per core: images per CPU-second of the 1-thread worker above ({per_core}{scaled})")
    print(
        f"  model: allreduce of {full_grads.total_bytes / 1e6:.1f} MB per step, overlap f = {full_grads.overlap:.3f} "
        f"of the backward pass for the dense {full_grads.dense_bytes / 1e6:.1f} MB, convolutions' "
        f"{full_grads.conv_bytes / 1e6:.1f} MB exposed; compute linear in cores"
    )
    for precision, rate in rates.items():
        _print_table(precision, rate, images, args.epochs, node_batch, full_grads)
    seed_rate = SEED_IMAGES_PER_S / (SEED_NODES * SEED_CORES)
    seed_model = time_to_train(
        images, args.epochs, SEED_NODES, SEED_CORES, seed_rate, node_batch, full_grads, LINKS[-1]
    )
    print(
        f"\nthe seed: {SEED_NODES} nodes x {SEED_CORES} cores, {SEED_MINUTES:.0f} min ({SEED_HOURS_ONE_NODE:.0f} h on one), "
        f"{SEED_IMAGES_PER_S:.0f} images/s = {seed_rate:.3f} per core (this CPU fp32: {rates['fp32']:.3f}"
        + (f", bf16: {rates['bf16']:.3f}" if "bf16" in rates else "")
        + f"). The model at the seed's per-core rate over 100GbE: {seed_model.minutes:.1f} min; "
        f"{SEED_MINUTES:.0f} min at {SEED_IMAGES_PER_S:.0f} images/s is "
        f"{SEED_MINUTES * 60 * SEED_IMAGES_PER_S / images:.0f} passes over {images} images."
    )
    print(f"(benchmark took {time.perf_counter() - started:.0f} s; load average {os.getloadavg()})")


if __name__ == "__main__":
    main()
