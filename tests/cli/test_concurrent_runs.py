"""One writer per results folder: a second ``hcs score`` is refused at once; analyze waits its turn."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcnn_infer.folder_lock import LOCK_NAME, read_holder
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names

SLOW_ARGS = ["--quiet", "--batch-size", "2", "--flush-every", "2", "--workers", "1"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("lock-model") / "m")


def _hcs_process(*args) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from hcs_cli.main import cli; cli()", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with the sha256 of its content."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _wait_for_parts(proc: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 120
    while not list((out / ".parts").glob("part-*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.01)


def test_second_score_into_the_same_folder_is_refused_before_any_work(hcs, model, tmp_path, monkeypatch):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(48), sites=2, size=(128, 160))
    out = tmp_path / "out"
    first = _hcs_process("score", plate, "--model", model, "--out", out, *SLOW_ARGS)
    try:
        _wait_for_parts(first, out)
        assert read_holder(out)["pid"] == first.pid

        # the second run must not scan a plate or open a model: refused before any work
        import mcnn_infer.scoring.pipeline as pipeline

        def no_work(*args, **kwargs):
            raise AssertionError("the second run started working")

        monkeypatch.setattr(pipeline, "prepare_run", no_work)
        # freeze the first run for the comparison (SIGSTOP), so only the second could change the folder
        first.send_signal(signal.SIGSTOP)
        before = _snapshot(out)
        started = time.monotonic()
        second = hcs("score", plate, "--model", model, "--out", out, *SLOW_ARGS)
        refused_after = time.monotonic() - started
        after = _snapshot(out)
        first.send_signal(signal.SIGCONT)
        assert second.exit_code == 2, second.stderr
        message = second.stderr.strip()
        assert "in use by another hcs run" in message and f"pid {first.pid}" in message
        assert str(out.resolve()) in message and "score" in message
        assert len(message.splitlines()) == 1
        assert after == before, "the refused run changed the results folder"
        print(f"second hcs score refused after {refused_after:.3f} s")
    finally:
        first.send_signal(signal.SIGCONT)
        code = first.wait(timeout=300)
    assert code == 0, first.stderr.read().decode()
    assert (out / "run.json").is_file()


def test_kill_9_then_resume_through_the_stale_lock(model, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(24), sites=2, size=(128, 160))
    out = tmp_path / "out"
    args = ["score", plate, "--model", model, "--out", out, *SLOW_ARGS]
    proc = _hcs_process(*args)
    _wait_for_parts(proc, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "run.json").exists(), "the run finished before it was killed; make the plate bigger"
    assert (out / LOCK_NAME).is_file() and read_holder(out)["pid"] == proc.pid  # stale holder left behind
    resumed = _hcs_process(*args)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()
    assert read_holder(out)["pid"] == resumed.pid
    assert "already scored" not in stderr.decode()  # --quiet
    assert (out / "run.json").is_file()
    assert "96 fields scored" in stdout.decode() or "48 fields scored" in stdout.decode()


def test_analyze_and_report_of_a_quiet_results_folder_still_work(hcs, model, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(12), sites=1)
    out = tmp_path / "out"
    assert hcs("score", plate, "--model", model, "--out", out, "--quiet").exit_code == 0
    analyzed = hcs("analyze", out)
    assert analyzed.exit_code == 0, analyzed.stderr
    reported = hcs("report", out)
    assert reported.exit_code == 0, reported.stderr
    assert (out / "analysis" / "report.html").is_file() or list(out.rglob("report.html"))


def test_analyze_is_refused_while_a_score_writes_the_folder(hcs, model, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(48), sites=2, size=(128, 160))
    out = tmp_path / "out"
    first = _hcs_process("score", plate, "--model", model, "--out", out, *SLOW_ARGS)
    try:
        _wait_for_parts(first, out)
        analyzed = hcs("analyze", out)
        assert analyzed.exit_code == 2 and f"pid {first.pid}" in analyzed.stderr
        assert not (out / "analysis").exists()
    finally:
        first.kill()
        first.wait(timeout=60)


HOLD = (
    "import sys, time\n"
    "from mcnn_infer.folder_lock import folder_lock\n"
    "with folder_lock(sys.argv[1], 'holder-test'):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(120)\n"
)


@pytest.mark.parametrize("command", ["convert", "merge", "score-shard", "analyze-translocation"])
def test_every_writer_refuses_a_held_folder(hcs, model, tmp_path, command):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(2))
    out = tmp_path / "out"
    target = out / "shard-001-of-002" if command == "score-shard" else out
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _snapshot(out)
        if command == "convert":
            result = hcs("convert", plate, "--to", "ome-zarr", out)
        elif command == "merge":
            result = hcs("merge", tmp_path, "--out", out)
        elif command == "analyze-translocation":
            plate_map = tmp_path / "map.csv"
            plate_map.write_text("plate,well,compound,concentration,role,label\nP1,A01,DMSO,0,negative,\n")
            result = hcs("analyze", plate, "--readout", "translocation", "--plate-map", plate_map, "--out", out)
        else:  # rank 1 of 2 under mpirun writes its own shard folder
            os.environ.update(OMPI_COMM_WORLD_RANK="1", OMPI_COMM_WORLD_SIZE="2")
            try:
                result = hcs("score", plate, "--model", model, "--out", out, "--quiet")
            finally:
                del os.environ["OMPI_COMM_WORLD_RANK"], os.environ["OMPI_COMM_WORLD_SIZE"]
        assert result.exit_code == 2, result.stdout + result.stderr
        assert f"pid {holder.pid}" in result.stderr and "holder-test" in result.stderr
        assert _snapshot(out) == before
    finally:
        holder.kill()
        holder.wait(timeout=60)
