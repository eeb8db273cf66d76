"""Training throughput of the M-CNN: worker/thread layouts and fp32 vs bf16, side by side.

Prints, measured in one run:
* the CPU and its BF16 / INT8 flags (:func:`mcnn_infer.cpu.cpu_report`),
* the sgemm peak of this machine (float32 matmul GFLOP/s with all cores; the best of
  NumPy/OpenBLAS and TensorFlow) and, on CPUs with native BF16, TensorFlow's bfloat16 matmul peak,
* training images/s at 1024x1280x3 (batch 8 per worker by default) of 1 worker x 2 threads
  and 2 Horovod workers x 1 thread in fp32, and of 1 worker x 2 threads in bf16 (Keras
  ``mixed_bfloat16``, as ``hcs train --precision bf16``; skipped with the reason on CPUs
  without native BF16), with the real trainer's model, optimizer (momentum SGD + Horovod
  DistributedOptimizer) and loss (:func:`mcnn_train.recipe.compile_for_training`), on synthetic
  input already in memory (so data loading is not measured),
* the achieved GFLOP/s (training counted as 3x the forward pass of 51.4 GFLOP per image) and
  its fraction of the matmul peak of the same precision (target for later tuning: at least 40%),
* the same with the canonical step of ``hcs train`` (:mod:`mcnn_train.canonical_step`:
  micro-batches of ``--micro-batch`` images, single-threaded ops side by side) for fp32,
  1 worker x 2 threads; the rows above use Keras' own step (``hcs train --nondeterministic``),
* the ratios 2 workers / 1 worker (fp32), bf16 / fp32 (1 worker x 2 threads) and canonical /
  Keras step.

Usage: ``python benchmarks/train_throughput.py [--size 1024x1280] [--batch 8] [--steps 2]``
(about 3 minutes on 2 cores with the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULT = "RESULT "
N_CLASSES = 13
TRAIN_FLOP_FACTOR = 3.0


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def _tf_matmul_gflops(tf, a, b, repeats: int, rounds: int = 5) -> float:
    """Best of ``rounds`` timings of ``repeats`` square matmuls (a busy machine lowers single rounds)."""
    ta, tb = tf.constant(a), tf.constant(b)
    tf.matmul(ta, tb).numpy()
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeats):
            c = tf.matmul(ta, tb)
        c.numpy()
        best = max(best, 2.0 * a.shape[0] ** 3 * repeats / (time.perf_counter() - t0) / 1e9)
    return best


def child_sgemm(threads: int, n: int = 2048, repeats: int = 8, bf16: bool = False) -> dict:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    flop = 2.0 * n**3
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    numpy_gflops = flop * repeats / (time.perf_counter() - t0) / 1e9
    result = {"numpy_gflops": numpy_gflops, "tf_gflops": _tf_matmul_gflops(tf, a, b, repeats)}
    if bf16:
        result["tf_bf16_gflops"] = _tf_matmul_gflops(
            tf, tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16), repeats
        )
    return result


def child_train(
    threads: int, height: int, width: int, batch: int, steps: int, precision: str, micro_batch: int | None
) -> dict | None:
    import numpy as np
    import tensorflow as tf

    from mcnn_train import distributed, recipe
    from mcnn_train.models import build_model
    from mcnn_train.trainer import keras_policy

    info = distributed.init(threads, single_thread_ops=micro_batch is not None)
    tf.keras.utils.set_random_seed(0)
    with keras_policy(recipe.PRECISION_POLICIES[precision]):
        model = build_model("mcnn", height, width, 3, N_CLASSES, weight_decay=recipe.WEIGHT_DECAY)
        train_model, _ = recipe.compile_for_training(
            model, 0.001, micro_batch=micro_batch, local_batch=batch, global_batch=batch * info.size
        )
    rng = np.random.default_rng(info.rank)
    x = rng.random((batch, height, width, 3), dtype=np.float32)
    y = tf.one_hot(rng.integers(0, N_CLASSES, batch), N_CLASSES)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    times: list[float] = []
    cpu_times: list[float] = []  # this process's CPU seconds (all its threads) per step

    class Timer(tf.keras.callbacks.Callback):
        def on_train_batch_begin(self, b, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, b, logs=None):
            times.append(time.perf_counter() - self.t0)
            cpu_times.append(time.process_time() - self.c0)

    warmup = 1
    train_model.fit(
        data,
        steps_per_epoch=warmup + steps,
        epochs=1,
        verbose=0,
        callbacks=[*distributed.training_callbacks(val_samples=0), Timer()],
    )
    global_batch = int(distributed.allreduce_sum(batch))
    seconds = sum(times[warmup:])
    if not info.is_chief:
        return None
    return {
        "precision": precision,
        "micro_batch": micro_batch,
        "workers": info.size,
        "threads": threads,
        "global_batch": global_batch,
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": sum(cpu_times[warmup:]),
        "images_per_s": global_batch * steps / seconds,
    }


def _run(cmd: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if RESULT in line:
            return json.loads(line.split(RESULT, 1)[1])
    sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
    raise SystemExit(f"benchmark step failed: {' '.join(cmd)} (exit {done.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1024x1280")
    parser.add_argument("--batch", type=int, default=8, help="images per step per worker")
    parser.add_argument("--steps", type=int, default=2, help="timed steps (after 1 warm-up step)")
    parser.add_argument("--child", choices=["sgemm", "train"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--micro-batch", type=int, default=2, help="micro-batch of the canonical-step row")
    parser.add_argument("--canonical", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    if args.child == "sgemm":
        print(RESULT + json.dumps(child_sgemm(args.threads, bf16=args.precision == "bf16")), flush=True)
        return
    if args.child == "train":
        micro = args.micro_batch if args.canonical else None
        result = child_train(args.threads, height, width, args.batch, args.steps, args.precision, micro)
        if result is not None:
            print(RESULT + json.dumps(result), flush=True)
        return

    from mcnn_infer.cpu import cpu_report, require_native_bf16
    from mcnn_infer.errors import ConfigError
    from mcnn_train.launcher import horovodrun_path
    from mcnn_train.models import forward_gflop, get_model_spec

    cpu = cpu_report()
    cores = os.cpu_count() or 1
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--size", args.size, "--batch", str(args.batch), "--steps", str(args.steps), "--child", "train"]
    gflop_image = TRAIN_FLOP_FACTOR * forward_gflop(
        height, width, 3, N_CLASSES, get_model_spec("mcnn").widths
    )
    flags = ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in cpu["flags"].items())
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores; flags ({cpu['flags_source']}): {flags}")
    try:
        require_native_bf16("bf16 training")
        bf16_skip = None
    except ConfigError as exc:
        bf16_skip = str(exc)
    sgemm = _run(
        [*me, "--child", "sgemm", "--threads", str(cores), "--precision", "fp32" if bf16_skip else "bf16"],
        _env(cores),
    )
    peaks = {"fp32": max(sgemm["numpy_gflops"], sgemm["tf_gflops"]), "bf16": sgemm.get("tf_bf16_gflops")}
    configs = [
        ("fp32, 1 worker x 2 threads", [*me, *common, "--threads", "2"], _env(2)),
        (
            "fp32, 2 workers x 1 thread",
            [horovodrun_path(), "--gloo", "-np", "2", "-H", "localhost:2", *me, *common, "--threads", "1"],
            _env(1),
        ),
    ]
    if bf16_skip is None:
        configs.append(
            ("bf16, 1 worker x 2 threads", [*me, *common, "--threads", "2", "--precision", "bf16"], _env(2))
        )
    canonical = f"fp32, 1 worker x 2 threads, canonical step (micro-batch {args.micro_batch})"
    configs.append(
        (canonical, [*me, *common, "--threads", "2", "--canonical", "--micro-batch", str(args.micro_batch)], _env(2))
    )
    print(
        f"M-CNN training throughput at {height}x{width}x3, batch {args.batch} per worker, {args.steps} timed steps"
    )
    print(
        f"sgemm peak ({cores} cores): numpy {sgemm['numpy_gflops']:.1f} GFLOP/s, "
        f"tensorflow {sgemm['tf_gflops']:.1f} GFLOP/s -> peak {peaks['fp32']:.1f} GFLOP/s"
    )
    if peaks["bf16"] is not None:
        print(f"bf16 matmul peak ({cores} cores, tensorflow): {peaks['bf16']:.1f} GFLOP/s")
    print(f"training cost: {gflop_image:.1f} GFLOP per image (3 x forward)")
    results = {}
    for name, cmd, env in configs:
        r = _run(cmd, env)
        achieved = r["images_per_s"] * gflop_image
        results[name] = r["images_per_s"]
        print(
            f"{name:28s} {r['images_per_s']:7.3f} images/s  {achieved:7.1f} GFLOP/s  "
            f"{100 * achieved / peaks[r['precision']]:5.1f}% of {r['precision']} matmul peak  "
            f"(global batch {r['global_batch']}, {r['seconds']:.1f} s for {r['steps']} steps)"
        )
    if bf16_skip is not None:
        print(f"{'bf16, 1 worker x 2 threads':28s} skipped: {bf16_skip}")
    names = list(results)
    print(f"ratio {names[1]} / {names[0]}: {results[names[1]] / results[names[0]]:.2f}x")
    if bf16_skip is None:
        print(f"ratio {names[2]} / {names[0]}: {results[names[2]] / results[names[0]]:.2f}x")
    print(f"ratio canonical / Keras step (fp32, 1 worker x 2 threads): {results[canonical] / results[names[0]]:.2f}x")


if __name__ == "__main__":
    main()
