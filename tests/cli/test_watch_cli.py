"""`hcs watch` from the command line: --once, SIGTERM during a plate and a restart, a second watcher refused."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from mcnn_infer.folder_lock import HELD_ENV
from mcnn_infer.watch import Watcher, WatchSettings, WatchState
from tests.fixtures.acquisition import copy_slowly
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny", formats=("onnx",))


def test_once_processes_the_complete_plates_and_exits(hcs, tmp_path, model):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    staging = tmp_path / "staging"
    for plate in ("P1", "P2", "P3"):
        make_tiny_plate(staging, plate=plate)
    shutil.copytree(staging / "P1", inbox / "P1")
    shutil.copytree(staging / "P2", inbox / "P2")
    copy_slowly(staging / "P3", inbox / "P3", pause=0, limit=5)
    args = ["watch", inbox, "--model", model, "--out", out, "--expect", "4", "--poll", "0.2", "--once"]
    first = hcs(*args, "--backend", "onnxruntime")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == f"2 plates done, 0 failed, 1 waiting -> {out}"
    assert (out / "P1" / "report.html").is_file() and (out / "P2" / "analysis" / "summary.json").is_file()
    events = [
        line.split(" hcs watch: ", 1)[1] for line in first.stderr.splitlines() if " hcs watch: " in line
    ]
    assert "plate P1: complete (4 of 4 expected fields); scoring -> " + str(out / "P1") in events
    assert not (out / "P3").exists()
    again = hcs(*args, "--backend", "onnxruntime")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == f"0 plates done, 0 failed, 1 waiting -> {out}"
    assert "2 plates done before" in again.stderr and "scoring" not in again.stderr
    bad = hcs("watch", inbox, "--model", model, "--out", inbox / "results", "--once")
    assert bad.exit_code == 2 and "inside the inbox" in bad.stderr


def _start(*args: object) -> tuple[subprocess.Popen, queue.Queue]:
    """``hcs ARGS`` in a subprocess (not holding this process's locks); its stderr lines in a queue."""
    env = {k: v for k, v in os.environ.items() if k != HELD_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hcs_cli.main import cli; cli()", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    return proc, lines


def _wait_for(lines: queue.Queue, text: str, seen: list[str], timeout: float = 120.0) -> str:
    while True:
        line = lines.get(timeout=timeout)  # queue.Empty after `timeout`: the test fails, never hangs
        seen.append(line)
        if text in line:
            return line


def test_sigterm_abandons_the_plate_cleanly_a_restart_resumes_it_and_a_second_watcher_is_refused(
    tmp_path, model
):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    inbox.mkdir()
    plate = make_tiny_plate(tmp_path / "staging", plate="BIG", wells=well_names(32), sites=3)
    n_fields = 32 * 3
    watcher, lines = _start(
        "watch", inbox, "--model", model, "--out", out, "--expect", n_fields, "--poll", "0.2",
        "--backend", "onnxruntime", "--workers", "1", "--no-report",
    )  # fmt: skip
    seen: list[str] = []
    try:
        _wait_for(lines, "watching", seen)
        second = subprocess.run(
            [sys.executable, "-c", "from hcs_cli.main import cli; cli()", "watch", str(inbox), "--model",
             str(model), "--out", str(tmp_path / "other"), "--once"],
            capture_output=True, text=True, timeout=120, env={k: v for k, v in os.environ.items() if k != HELD_ENV},
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert f"{inbox.absolute()} is in use by another hcs run (pid {watcher.pid}" in second.stderr
        shutil.move(plate, inbox / "BIG")  # the whole plate appears at once
        _wait_for(lines, "plate BIG: complete", seen)
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=120) == 0
    finally:
        watcher.kill()
        watcher.wait(timeout=30)
    while not lines.empty():
        seen.append(lines.get())
    log = "".join(seen)
    assert "stopped by SIGTERM" in log, log
    status = WatchState(out).status("BIG")
    parts = sorted((out / "BIG" / ".parts").glob("part-*.parquet"))
    before = sum(len(pd.read_parquet(p)) for p in parts)
    if "plate BIG: stopped by SIGTERM while scoring" in log:
        assert status == "scoring"
    else:  # the signal came after the last field (a very fast machine): nothing is left to do
        assert status in ("analysing", "done") and before == n_fields
    # the restart resumes the plate: every field scored exactly once over both runs
    events: list[str] = []
    restarted = Watcher(
        inbox, out, model, WatchSettings(poll=0.2, expect=n_fields, report=False),
        {"backend": "onnxruntime", "workers": 1}, log=events.append,
    )  # fmt: skip
    summary = restarted.run(once=True)
    assert WatchState(out).status("BIG") == "done"
    record = WatchState(out).get("BIG")
    if status == "scoring":
        assert summary.done == ["BIG"]
        assert record["scored_now"] == [n_fields - before], (before, record)
        assert any(e.startswith("plate BIG: complete (resuming: interrupted while scoring)") for e in events)
    fields = pd.read_parquet(out / "BIG" / "fields.parquet")
    assert len(fields) == n_fields and (fields["status"] == "ok").all()
