"""One writer per output folder: an advisory file lock plus who holds it.

``folder_lock(folder, command)`` takes an exclusive ``flock`` on ``folder/.hcs.lock`` without
waiting and writes the holder (host, pid, command, start time) into that file. A second
writer is refused at once with :class:`FolderLockedError` naming the holder. The operating
system releases the lock when the holding process ends, however it ends (``kill -9``
included), so a stale file from a killed run never blocks a resume: its text is only
information, the lock is what counts.

Child processes started by the holder (for example the local Horovod workers of
``hcs train --workers N``) inherit the list of held folders in ``$HCS_HELD_FOLDER_LOCKS`` and
do not lock them again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from mcnn_infer.errors import HcsError

#: The lock file inside the locked folder.
LOCK_NAME = ".hcs.lock"
#: Folders held by this process or its parent (os.pathsep-separated absolute paths).
HELD_ENV = "HCS_HELD_FOLDER_LOCKS"


class FolderLockedError(HcsError):
    """Another running process writes into the same folder."""


def _held() -> list[str]:
    return [p for p in os.environ.get(HELD_ENV, "").split(os.pathsep) if p]


def read_holder(folder: Path) -> dict | None:
    """The holder recorded in ``folder/.hcs.lock`` (the last one, which may have ended), or None."""
    try:
        return json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe_holder(holder: dict | None) -> str:
    """One phrase naming a holder: ``pid 123 on host, 'hcs score ...', since <time>``."""
    if not holder:
        return "holder unknown"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, {holder.get('command')!r}, "
        f"since {holder.get('started')}"
    )


@contextlib.contextmanager
def folder_lock(folder: Path, command: str | None = None) -> Iterator[Path]:
    """Hold the one-writer lock of ``folder`` (created if missing) for the ``with`` block.

    Parameters
    ----------
    folder : Path
        The output folder (results, convert output, training run).
    command : str, optional
        What holds it, for the message a second writer gets; default: this process's argv.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    FolderLockedError
        When another live process holds the lock; the message names it.
    """
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    if str(folder) in _held():
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderLockedError(
                f"{folder} is in use by another hcs run ({describe_holder(read_holder(folder))}); "
                "expected one writer per folder: wait for it to end or choose another output folder"
            ) from None
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        previous = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = os.pathsep.join([*_held(), str(folder)])
        try:
            yield path
        finally:
            if previous is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = previous
    finally:
        os.close(fd)  # closing the descriptor releases the lock
