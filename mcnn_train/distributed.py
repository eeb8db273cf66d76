"""Everything Horovod, in one small module so the data-parallel engine can be swapped.

No other module imports ``horovod``. A process started without ``horovodrun`` is a
single worker (rank 0 of 1); under ``horovodrun``/``mpirun`` each process is one worker.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from mcnn_infer.errors import ConfigError


@dataclass(frozen=True)
class WorkerInfo:
    """Where this process sits in the job.

    Attributes
    ----------
    rank, size : int
        Global rank and number of workers.
    local_rank, local_size : int
        Rank and number of workers on this host.
    """

    rank: int
    size: int
    local_rank: int
    local_size: int

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


def _hvd():
    try:
        import horovod.tensorflow.keras as hvd
    except ImportError as exc:
        raise ConfigError(
            f"Horovod is not importable ({exc}); expected horovod 0.28.1 built against TensorFlow "
            "(run `make horovod`)"
        ) from exc
    return hvd


def _hvd_tf():
    _hvd()  # same import check
    import horovod.tensorflow as hvd_tf

    return hvd_tf


def configure_threads(intra_op: int | None, inter_op: int | None = None) -> None:
    """Pin TensorFlow's thread pools; must run before TensorFlow executes any op.

    Parameters
    ----------
    intra_op : int or None
        Threads used inside one op (matmul, convolution); None keeps TensorFlow's default.
    inter_op : int or None
        Ops run concurrently; defaults to 1 when ``intra_op`` is given (data-parallel CNN
        training gains nothing from concurrent ops and loses cache locality).
    """
    if intra_op is None:
        return
    if intra_op < 1:
        raise ConfigError(f"threads per worker {intra_op} must be >= 1")
    os.environ.setdefault("OMP_NUM_THREADS", str(intra_op))
    tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
    tf.config.threading.set_inter_op_parallelism_threads(int(inter_op or 1))


def init(threads_per_worker: int | None = None, single_thread_ops: bool = False) -> WorkerInfo:
    """Initialise Horovod and pin this worker's threads.

    Parameters
    ----------
    threads_per_worker : int or None
        Threads of this worker; None divides the host's cores by the local workers.
    single_thread_ops : bool
        Run every op on one thread and use the worker's threads to run independent ops side by
        side (the micro-batches of :mod:`mcnn_train.canonical_step`): an op's result then does not
        depend on the thread count. Otherwise each op uses all the worker's threads.
    """
    hvd = _hvd()
    hvd.init()
    info = WorkerInfo(hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size())
    if threads_per_worker is None and (info.local_size > 1 or single_thread_ops):
        threads_per_worker = max(1, (os.cpu_count() or 1) // info.local_size)
    # RuntimeError: TensorFlow was already initialised in this process (e.g. a second run in tests).
    with contextlib.suppress(RuntimeError):
        if single_thread_ops:
            configure_threads(1, threads_per_worker)
        else:
            configure_threads(threads_per_worker)
    return info


def thread_counts() -> dict[str, int]:
    """TensorFlow's intra-op and inter-op thread counts in this process (0 = TensorFlow's default)."""
    return {
        "intra_op": int(tf.config.threading.get_intra_op_parallelism_threads()),
        "inter_op": int(tf.config.threading.get_inter_op_parallelism_threads()),
    }


def distributed_optimizer(optimizer: tf.keras.optimizers.Optimizer) -> tf.keras.optimizers.Optimizer:
    """Wrap ``optimizer`` so gradients are averaged over all workers before each update."""
    return _hvd().DistributedOptimizer(optimizer)


def allreduce_gradient_sum(gradients: list[tf.Tensor]) -> list[tf.Tensor]:
    """In-graph sum of this worker's gradients over all workers (one fused Horovod allreduce).

    With two workers every element is ``a + b``, one rounding whatever the order; with more,
    Horovod's ring adds the workers' values in an order that rotates over the tensor's chunks.

    Parameters
    ----------
    gradients : list of tf.Tensor
        This worker's (dense) gradients, one per trainable variable, each of its variable's shape.
    """
    if size() == 1:
        return list(gradients)
    hvd = _hvd_tf()
    return list(hvd.grouped_allreduce(list(gradients), op=hvd.Sum, name="hcs_gradient_sum"))


class WeightedMetricAverage(tf.keras.callbacks.Callback):
    """Epoch metrics of all workers combined as one worker with all the data would log them.

    Keras logs each worker's means over its own samples. Training metrics come from equal local
    batches and steps, so their plain mean over workers is the global mean; validation metrics
    come from validation shards that may differ in size by one, so they are weighted by each
    worker's number of validation samples. This keeps ``val_loss`` (and so the epoch kept for
    export) the same whatever the number of workers.

    Parameters
    ----------
    val_samples : int
        This worker's number of validation samples.
    """

    def __init__(self, val_samples: int):
        super().__init__()
        self.val_samples = float(val_samples)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or size() == 1:
            return
        keys = sorted(k for k, v in logs.items() if np.ndim(v) == 0)
        weights = np.array([self.val_samples if k.startswith("val_") else 1.0 for k in keys])
        values = np.array([float(logs[k]) for k in keys])
        totals = allreduce_sum_array(np.concatenate([values * weights, weights]))
        for i, key in enumerate(keys):
            logs[key] = float(totals[i] / totals[len(keys) + i])


def training_callbacks(val_samples: int) -> list[tf.keras.callbacks.Callback]:
    """Callbacks every worker needs: broadcast initial state from rank 0, combine epoch metrics.

    Parameters
    ----------
    val_samples : int
        This worker's number of validation samples (:class:`WeightedMetricAverage`).
    """
    hvd = _hvd()
    return [hvd.callbacks.BroadcastGlobalVariablesCallback(0), WeightedMetricAverage(val_samples)]


def size() -> int:
    """Number of workers in the job (1 outside horovodrun / mpirun)."""
    return _hvd_tf().size()


def broadcast_object(obj: Any, root_rank: int = 0) -> Any:
    """Send a picklable object from ``root_rank`` to every worker; returns it on all of them."""
    hvd = _hvd_tf()
    if hvd.size() == 1:
        return obj
    return hvd.broadcast_object(obj, root_rank=root_rank)


def allgather_object(obj: Any) -> list[Any]:
    """Gather one picklable object per worker; every worker gets the list ordered by rank."""
    hvd = _hvd_tf()
    if hvd.size() == 1:
        return [obj]
    return hvd.allgather_object(obj)


def allreduce_sum(value: float | int) -> float:
    """Sum a scalar over all workers."""
    return float(allreduce_sum_array(np.array([float(value)]))[0])


def allreduce_sum_array(values: np.ndarray) -> np.ndarray:
    """Element-wise sum of a float64 vector ``(n,)`` over all workers (same ``n`` on each)."""
    values = np.asarray(values, dtype=np.float64)
    hvd = _hvd_tf()
    if hvd.size() == 1:
        return values
    total = hvd.allreduce(tf.constant(values), op=hvd.Sum, name=f"hcs_allreduce_sum_{values.size}")
    return np.asarray(total)


def barrier() -> None:
    """Wait until every worker reaches this point."""
    hvd = _hvd_tf()
    if hvd.size() > 1:
        hvd.allreduce(tf.constant(0.0), op=hvd.Sum, name="hcs_barrier")
