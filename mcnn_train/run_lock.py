"""One writer per training run folder: which process of a run takes the folder lock.

The process that starts a run (``hcs train``, also with ``--workers N``, whose local Horovod
workers inherit the lock through ``$HCS_HELD_FOLDER_LOCKS``) locks ``config.out`` with
:func:`mcnn_infer.folder_lock.folder_lock`. Under an external horovodrun / mpirun every process
runs the same command: only rank 0 locks (its rank from ``HOROVOD_RANK``,
``OMPI_COMM_WORLD_RANK`` or ``PMI_RANK``), so a second run into the same folder is refused by
that rank while the ranks of one run do not refuse each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from mcnn_infer.folder_lock import folder_lock

#: Environment variables holding this process's rank under horovodrun / Open MPI / MPICH.
RANK_ENV = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


def launcher_rank(env: Mapping[str, str] | None = None) -> int | None:
    """This process's rank under an external launcher (None when started without one)."""
    env = os.environ if env is None else env
    for name in RANK_ENV:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


@contextlib.contextmanager
def run_folder_lock(out: Path, env: Mapping[str, str] | None = None) -> Iterator[bool]:
    """Hold the lock of the run folder ``out`` unless this is a rank other than 0 of a launcher.

    Yields
    ------
    bool
        True when this process holds (or inherited) the lock.

    Raises
    ------
    mcnn_infer.folder_lock.FolderLockedError
        Another run writes into ``out``.
    """
    rank = launcher_rank(env)
    if rank not in (None, 0):
        yield False
        return
    with folder_lock(out):
        yield True
