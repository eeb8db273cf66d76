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


def init(threads_per_worker: int | None = None) -> WorkerInfo:
    """Initialise Horovod and pin this worker's threads.

    Parameters
    ----------
    threads_per_worker : int or None
        Intra-op threads of this worker; None divides the host's cores by the local workers.
    """
    hvd = _hvd()
    hvd.init()
    info = WorkerInfo(hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size())
    if threads_per_worker is None and info.local_size > 1:
        threads_per_worker = max(1, (os.cpu_count() or 1) // info.local_size)
    # RuntimeError: TensorFlow was already initialised in this process (e.g. a second run in tests).
    with contextlib.suppress(RuntimeError):
        configure_threads(threads_per_worker)
    return info


def distributed_optimizer(optimizer: tf.keras.optimizers.Optimizer) -> tf.keras.optimizers.Optimizer:
    """Wrap ``optimizer`` so gradients are averaged over all workers before each update."""
    return _hvd().DistributedOptimizer(optimizer)


def training_callbacks() -> list[tf.keras.callbacks.Callback]:
    """Callbacks every worker needs: broadcast initial state from rank 0, average epoch metrics."""
    hvd = _hvd()
    return [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        hvd.callbacks.MetricAverageCallback(),
    ]


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
    hvd = _hvd_tf()
    if hvd.size() == 1:
        return float(value)
    total = hvd.allreduce(tf.constant(float(value), tf.float64), op=hvd.Sum, name="hcs_allreduce_sum")
    return float(np.asarray(total))


def barrier() -> None:
    """Wait until every worker reaches this point."""
    hvd = _hvd_tf()
    if hvd.size() > 1:
        hvd.allreduce(tf.constant(0.0), op=hvd.Sum, name="hcs_barrier")
