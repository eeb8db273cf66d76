"""``hcs train --workers N``: start N local Horovod workers (horovodrun with Gloo).

Each worker runs :mod:`mcnn_train.worker` with the resolved config file. Thread counts per
worker: ``threads_per_worker`` (default: cores // N, at least 1) for OpenMP and TensorFlow
(:func:`mcnn_train.distributed.init`: inter-op threads running single-threaded ops for the
canonical step, else intra-op threads and 1 inter-op thread). On a cluster the same worker is started by the user:
``horovodrun -np 8 -H host1:4,host2:4 python -m mcnn_train.worker RUN_DIR/config.json``
or ``mpirun -np 8 -H host1:4,host2:4 -x OMP_NUM_THREADS python -m mcnn_train.worker ...``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mcnn_infer.errors import ConfigError, HcsError


class LaunchError(HcsError):
    """The Horovod workers could not be started or one of them failed."""


def default_threads_per_worker(workers: int) -> int:
    """Cores of this machine divided evenly between ``workers`` (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def horovodrun_path() -> str:
    """The ``horovodrun`` next to this Python, else on PATH; :class:`LaunchError` if missing."""
    beside = Path(sys.executable).with_name("horovodrun")
    if beside.exists():
        return str(beside)
    found = shutil.which("horovodrun")
    if not found:
        raise LaunchError(
            f"horovodrun not found beside {sys.executable} or on PATH; expected Horovod 0.28.1 installed "
            "(run `make horovod`)"
        )
    return found


def worker_command(config_path: Path, workers: int) -> list[str]:
    """The horovodrun command line that starts ``workers`` local Gloo workers."""
    return [
        horovodrun_path(),
        "--gloo",
        "-np",
        str(workers),
        "-H",
        f"localhost:{workers}",
        sys.executable,
        "-m",
        "mcnn_train.worker",
        str(config_path),
    ]


def worker_environment(threads_per_worker: int) -> dict[str, str]:
    """Environment of the workers: per-worker OpenMP / TensorFlow thread counts."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads_per_worker)
    env["TF_NUM_INTRAOP_THREADS"] = str(threads_per_worker)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["HCS_THREADS_PER_WORKER"] = str(threads_per_worker)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def launch_local(config_path: Path, workers: int, threads_per_worker: int | None = None) -> None:
    """Run ``workers`` Horovod workers on this machine and wait for them.

    Parameters
    ----------
    config_path : Path
        Resolved training config (JSON) every worker reads.
    workers : int
        Number of local processes (>= 2).
    threads_per_worker : int or None
        Intra-op/OpenMP threads per worker; None divides the cores evenly.

    Raises
    ------
    LaunchError
        When horovodrun is missing or any worker exits with an error.
    """
    if workers < 1:
        raise ConfigError(f"--workers {workers}: expected at least 1")
    threads = threads_per_worker or default_threads_per_worker(workers)
    command = worker_command(Path(config_path), workers)
    result = subprocess.run(command, env=worker_environment(threads), check=False)
    if result.returncode != 0:
        raise LaunchError(
            f"horovodrun with {workers} workers for {config_path} exited with code {result.returncode} "
            "(expected 0; see the worker output above)"
        )
