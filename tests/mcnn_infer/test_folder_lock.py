"""One writer per folder: refusal naming the holder, release on exit and on kill -9, inherited locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcnn_infer.folder_lock import (
    HELD_ENV,
    LOCK_NAME,
    FolderLockedError,
    FolderLockError,
    describe_holder,
    folder_lock,
    folder_locks,
    read_holder,
)

REPO = Path(__file__).resolve().parents[2]

HOLD = textwrap.dedent(
    """
    import sys, time
    from mcnn_infer.folder_lock import folder_lock
    with folder_lock(sys.argv[1], "holder-test"):
        print("locked", flush=True)
        time.sleep(60)
    """
)

TRY = textwrap.dedent(
    """
    import sys
    from mcnn_infer.folder_lock import FolderLockedError, folder_lock
    try:
        with folder_lock(sys.argv[1], "child"):
            print("ok")
    except FolderLockedError as exc:
        print("refused:", exc)
    """
)


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != HELD_ENV}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@pytest.fixture()
def holder(tmp_path):
    """A process holding the lock of ``tmp_path / 'out'``; killed at the end."""
    folder = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield folder, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _try(folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", TRY, str(folder)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_second_writer_is_refused_naming_the_holder(holder):
    folder, proc = holder
    with pytest.raises(FolderLockedError) as info, folder_lock(folder, "second"):
        pass
    message = str(info.value)
    assert str(folder) in message and f"pid {proc.pid}" in message and "holder-test" in message
    assert "\n" not in message
    assert read_holder(folder)["pid"] == proc.pid  # the refused writer changed nothing


def test_kill_9_leaves_a_stale_file_that_does_not_block(holder):
    folder, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert read_holder(folder)["pid"] == proc.pid  # the stale text is still there
    with folder_lock(folder, "resume") as path:
        assert path == folder.resolve() / LOCK_NAME
        assert read_holder(folder)["pid"] == os.getpid()
        assert read_holder(folder)["command"] == "resume"


def test_lock_is_released_after_the_block_and_nested_use_is_allowed(tmp_path):
    folder = tmp_path / "new" / "deep"
    with folder_lock(folder, "first"):
        assert folder.is_dir()
        with folder_lock(folder, "nested"):  # the same process: no self-deadlock
            pass
        assert _try(folder, _env()).startswith("refused:")
    assert HELD_ENV not in os.environ
    assert _try(folder, _env()) == "ok"
    with folder_lock(folder, "again"):
        pass


def test_child_processes_inherit_the_lock(tmp_path):
    folder = tmp_path / "run"
    with folder_lock(folder, "parent"):
        inherited = json.loads(os.environ[HELD_ENV])
        assert list(inherited) == [str(folder.resolve())]
        assert _try(folder, _env(**{HELD_ENV: os.environ[HELD_ENV]})) == "ok"
        # a made-up token does not get in
        forged = json.dumps({str(folder.resolve()): "0" * 16})
        assert _try(folder, _env(**{HELD_ENV: forged})).startswith("refused:")


def test_an_inherited_environment_outliving_its_holder_takes_the_free_lock(tmp_path, holder):
    folder, _proc = holder
    stale_env = None
    other = tmp_path / "other"
    with folder_lock(other, "gone"):
        stale_env = os.environ[HELD_ENV]
    # the holder of `other` has ended; a process with its old environment just locks it
    assert _try(other, _env(**{HELD_ENV: stale_env})) == "ok"
    # and that environment does not open `folder`, which a live process holds
    assert _try(folder, _env(**{HELD_ENV: stale_env})).startswith("refused:")


def test_folder_locks_takes_each_distinct_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    with folder_locks([a, None, b, a], "both") as held:
        assert held == [a.resolve(), b.resolve()]
        assert _try(a, _env()).startswith("refused:") and _try(b, _env()).startswith("refused:")
    assert _try(a, _env()) == "ok"


def test_unwritable_folder_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FolderLockError, match="cannot create the lock file"), folder_lock(blocker / "out"):
        pass


def test_holder_text_garbage_is_unknown(tmp_path):
    (tmp_path / LOCK_NAME).write_text("[1, 2]")
    assert read_holder(tmp_path) is None
    assert describe_holder(None) == "holder unknown"
    with folder_lock(tmp_path, "x"):
        assert read_holder(tmp_path)["command"] == "x"
