"""One writer per output folder: an advisory file lock plus who holds it.

``folder_lock(folder, command)`` takes an exclusive ``flock`` on ``folder/.hcs.lock`` without
waiting and writes the holder (host, pid, command, start time) into that file. A second
writer is refused at once with :class:`FolderLockedError` naming the holder. The operating
system releases the lock when the holding process ends, however it ends (``kill -9``
included), so a stale file from a killed run never blocks a resume: its text is only
information, the lock is what counts.

Child processes started by the holder (for example the local Horovod workers of
``hcs train --workers N``) inherit ``$HCS_HELD_FOLDER_LOCKS`` (JSON: folder -> the holder's
random token) and do not lock those folders again. A child trusts it only while the lock is
still held *and* the lock file names the same token: an environment inherited from a holder
that has ended (or copied into another shell) never lets a second writer in, it just takes
the free lock itself. A ``with folder_lock(...)`` nested inside another on the same folder in
one process is a no-op for the same reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from mcnn_infer.errors import HcsError

#: The lock file inside the locked folder.
LOCK_NAME = ".hcs.lock"
#: Folders held by this process or an ancestor: JSON object {absolute folder: holder token}.
HELD_ENV = "HCS_HELD_FOLDER_LOCKS"


class FolderLockError(HcsError):
    """The one-writer lock of a folder cannot be taken (unwritable folder, file system without locks)."""


class FolderLockedError(FolderLockError):
    """Another running process writes into the same folder."""


def _held() -> dict[str, str]:
    """Folders (and tokens) held by this process or the process that started it."""
    try:
        held = json.loads(os.environ.get(HELD_ENV) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in held.items()} if isinstance(held, dict) else {}


def read_holder(folder: Path) -> dict | None:
    """The holder recorded in ``folder/.hcs.lock`` (the last one, which may have ended), or None."""
    try:
        holder = json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def describe_holder(holder: dict | None) -> str:
    """One phrase naming a holder: ``pid 123 on host, 'hcs score ...', since <time>``."""
    if not holder:
        return "holder unknown"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, {holder.get('command')!r}, "
        f"since {holder.get('started')}"
    )


def default_command() -> str:
    """This process's command line, as the holder's ``command`` (``hcs ...`` also under ``python -m``)."""
    name = Path(sys.argv[0]).name
    if name in ("__main__.py", "main.py", "-c", ""):
        name = "hcs"
    return " ".join([name, *sys.argv[1:]])


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], command: str | None = None) -> Iterator[Path]:
    """Hold the one-writer lock of ``folder`` (created if missing) for the ``with`` block.

    Parameters
    ----------
    folder : path
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
    FolderLockError
        When the folder or its lock file cannot be created or locked.
    """
    folder = Path(folder).resolve()
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise FolderLockError(
            f"cannot create the lock file {path} ({exc.strerror or exc}); expected a writable output folder"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(folder)
            token = _held().get(str(folder))
            if token and holder and holder.get("token") == token:
                yield path  # held by this process or the one that started it
                return
            raise FolderLockedError(
                f"{folder} is in use by another hcs run ({describe_holder(holder)}); expected one "
                "writer per folder: wait for it to end or choose another output folder"
            ) from None
        except OSError as exc:
            raise FolderLockError(
                f"cannot lock {path} ({exc.strerror or exc}); expected a local or NFSv4 file system "
                "that supports flock"
            ) from exc
        token = secrets.token_hex(8)
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": command or default_command(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "token": token,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        previous = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = json.dumps({**_held(), str(folder): token})
        try:
            yield path
        finally:
            if previous is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = previous
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def folder_locks(folders, command: str | None = None) -> Iterator[list[Path]]:
    """Hold the locks of several folders (None entries and repeats skipped), in the order given."""
    seen: list[Path] = []
    with contextlib.ExitStack() as stack:
        for folder in folders:
            if folder is None or Path(folder).resolve() in seen:
                continue
            seen.append(Path(folder).resolve())
            stack.enter_context(folder_lock(folder, command))
        yield seen


def analysis_locks(results_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None):
    """The locks of an analysis of ``results_dir`` (``hcs analyze``, ``report``, ``compare``, ``evaluate``).

    The results folder is locked, so an analysis never reads a folder that ``hcs score`` or
    ``hcs merge`` is writing (nor writes ``analysis/`` beside another analysis), unless it is
    read-only to this user (then no hcs run of this user writes it either); ``out_dir`` (when
    given) is locked too.
    """
    read_only = not os.access(results_dir, os.W_OK)
    return folder_locks([None if read_only else results_dir, out_dir])
