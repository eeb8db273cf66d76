"""Training throughput of the M-CNN: 1 worker x 2 threads vs 2 Horovod workers x 1 thread.

Prints, measured side by side in one run:
* the sgemm peak of this machine (float32 matmul GFLOP/s with all cores; the best of
  NumPy/OpenBLAS and TensorFlow),
* training images/s of each configuration at 1024x1280x3 (batch 8 per worker by default)
  with the real trainer's model, optimizer (momentum SGD + Horovod DistributedOptimizer) and
  loss, on synthetic input already in memory (so data loading is not measured),
* the achieved GFLOP/s (training counted as 3x the forward pass of 51.4 GFLOP per image) and
  its fraction of the sgemm peak (target for later tuning: at least 40%).

Usage: ``python benchmarks/train_throughput.py [--size 1024x1280] [--batch 8] [--steps 3]``.
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


def child_sgemm(threads: int, n: int = 2048, repeats: int = 8) -> dict:
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
    ta, tb = tf.constant(a), tf.constant(b)
    tf.matmul(ta, tb).numpy()
    t0 = time.perf_counter()
    for _ in range(repeats):
        c = tf.matmul(ta, tb)
    c.numpy()
    tf_gflops = flop * repeats / (time.perf_counter() - t0) / 1e9
    return {"numpy_gflops": numpy_gflops, "tf_gflops": tf_gflops}


def child_train(threads: int, height: int, width: int, batch: int, steps: int) -> dict | None:
    import numpy as np
    import tensorflow as tf

    from mcnn_train import distributed
    from mcnn_train.models import build_model

    info = distributed.init(threads)
    tf.keras.utils.set_random_seed(0)
    model = build_model("mcnn", height, width, 3, N_CLASSES, weight_decay=5e-5)
    train_model = tf.keras.Model(model.input, model.outputs[0])
    optimizer = distributed.distributed_optimizer(tf.keras.optimizers.legacy.SGD(0.001, momentum=0.9))
    train_model.compile(optimizer=optimizer, loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(info.rank)
    x = rng.random((batch, height, width, 3), dtype=np.float32)
    y = tf.one_hot(rng.integers(0, N_CLASSES, batch), N_CLASSES)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    times: list[float] = []

    class Timer(tf.keras.callbacks.Callback):
        def on_train_batch_begin(self, b, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, b, logs=None):
            times.append(time.perf_counter() - self.t0)

    warmup = 1
    train_model.fit(
        data,
        steps_per_epoch=warmup + steps,
        epochs=1,
        verbose=0,
        callbacks=[*distributed.training_callbacks(), Timer()],
    )
    global_batch = int(distributed.allreduce_sum(batch))
    seconds = sum(times[warmup:])
    if not info.is_chief:
        return None
    return {
        "workers": info.size,
        "threads": threads,
        "global_batch": global_batch,
        "steps": steps,
        "seconds": seconds,
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
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    if args.child == "sgemm":
        print(RESULT + json.dumps(child_sgemm(args.threads)), flush=True)
        return
    if args.child == "train":
        result = child_train(args.threads, height, width, args.batch, args.steps)
        if result is not None:
            print(RESULT + json.dumps(result), flush=True)
        return

    from mcnn_train.launcher import horovodrun_path
    from mcnn_train.models import forward_gflop, get_model_spec

    cores = os.cpu_count() or 1
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--size", args.size, "--batch", str(args.batch), "--steps", str(args.steps), "--child", "train"]
    sgemm = _run([*me, "--child", "sgemm", "--threads", str(cores)], _env(cores))
    peak = max(sgemm["numpy_gflops"], sgemm["tf_gflops"])
    gflop_image = TRAIN_FLOP_FACTOR * forward_gflop(
        height, width, 3, N_CLASSES, get_model_spec("mcnn").widths
    )
    configs = [
        ("1 worker x 2 threads", [*me, *common, "--threads", "2"], _env(2)),
        (
            "2 workers x 1 thread",
            [horovodrun_path(), "--gloo", "-np", "2", "-H", "localhost:2", *me, *common, "--threads", "1"],
            _env(1),
        ),
    ]
    print(
        f"M-CNN training throughput at {height}x{width}x3, batch {args.batch} per worker, {args.steps} timed steps"
    )
    print(
        f"sgemm peak ({cores} cores): numpy {sgemm['numpy_gflops']:.1f} GFLOP/s, "
        f"tensorflow {sgemm['tf_gflops']:.1f} GFLOP/s -> peak {peak:.1f} GFLOP/s"
    )
    print(f"training cost: {gflop_image:.1f} GFLOP per image (3 x forward)")
    results = {}
    for name, cmd, env in configs:
        r = _run(cmd, env)
        achieved = r["images_per_s"] * gflop_image
        results[name] = r["images_per_s"]
        print(
            f"{name:22s} {r['images_per_s']:7.3f} images/s  {achieved:7.1f} GFLOP/s  "
            f"{100 * achieved / peak:5.1f}% of sgemm peak  (global batch {r['global_batch']}, "
            f"{r['seconds']:.1f} s for {r['steps']} steps)"
        )
    names = list(results)
    print(f"ratio {names[1]} / {names[0]}: {results[names[1]] / results[names[0]]:.2f}x")


if __name__ == "__main__":
    main()
