from __future__ import annotations

import sys
from pathlib import Path

from mcnn_train.launcher import default_threads_per_worker, worker_command, worker_environment


def test_worker_command_uses_gloo_on_localhost(tmp_path):
    cmd = worker_command(tmp_path / "config.json", 3)
    assert Path(cmd[0]).name == "horovodrun"
    assert cmd[1:6] == ["--gloo", "-np", "3", "-H", "localhost:3"]
    assert cmd[6:] == [sys.executable, "-m", "mcnn_train.worker", str(tmp_path / "config.json")]


def test_thread_environment_per_worker():
    env = worker_environment(2)
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["TF_NUM_INTRAOP_THREADS"] == "2"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"
    assert default_threads_per_worker(1000) == 1
