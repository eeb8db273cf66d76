"""Faults while scoring: ``kill -9`` at seeded random points, and a full disk.

After every kill each file under its final name in RESULTS_DIR (outputs, ``run.json``, result parts,
the fingerprint) must be complete: Parquet loads, JSON parses, and a final table equals the one of an
uninterrupted run. A rerun of the same command must then give outputs identical to that run (frames
exactly equal, CSV bytes equal). The files are also read *while* the killed run is writing them, so a
partial file under its final name would be seen even if the kill happened to miss the window.

A full disk is produced with a real small tmpfs when this process may mount one (root with
CAP_SYS_ADMIN), and always by simulating ``ENOSPC`` in the writer: the CLI must print one line, exit 2,
keep the earlier results readable, and finish on a rerun once space is freed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from mcnn_infer.scoring.store import FINGERPRINT_FILE, PARTS_DIR
from tests.fixtures.tiny_plate import make_tiny_plate, well_names

TABLES = ("fields", "wells")
#: Options that make a run write many small parts, one loader thread, one inference thread.
RUN_ARGS = ("--quiet", "--batch-size", "2", "--flush-every", "2", "--workers", "1", "--threads", "1")
RUN_OPTIONS = dict(batch_size=2, flush_every=2, workers=1, threads=1)
N_FIELDS = 60  # 30 wells x 2 sites -> 30 parts of 2 fields
FAST_SEEDS = (11, 23, 37)
SLOW_SEEDS = tuple(range(100, 112))


@pytest.fixture(scope="module")
def fault_plate(tmp_path_factory) -> Path:
    return make_tiny_plate(
        tmp_path_factory.mktemp("fault-plate"), wells=well_names(30), sites=2, size=(128, 160), seed=4
    )


@pytest.fixture(scope="module")
def reference(tiny_model, fault_plate, tmp_path_factory) -> Path:
    """RESULTS_DIR of one uninterrupted run with the same options."""
    out = tmp_path_factory.mktemp("fault-ref") / "out"
    score_plates([fault_plate], out, tiny_model, ScoreOptions(**RUN_OPTIONS))
    return out


def _hcs_cmd(*args) -> list[str]:
    return [sys.executable, "-c", "from hcs_cli.main import cli; cli()", *map(str, args)]


def _final_files(out: Path) -> list[Path]:
    """Every file under its final name (temporary files start with a dot)."""
    files = [p for p in out.glob("*") if p.is_file() and not p.name.startswith(".")]
    parts = out / PARTS_DIR
    if parts.is_dir():
        files += [p for p in parts.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted(files)


def check_complete(out: Path, reference: Path) -> int:
    """Assert every final-named file is complete (and equal to the reference's); return how many."""
    checked = 0
    for path in _final_files(out):
        try:
            if path.parent.name == PARTS_DIR:
                if path.name == FINGERPRINT_FILE:
                    assert "digest" in json.loads(path.read_text())
                else:
                    assert path.name.startswith("part-") and path.suffix == ".parquet", path
                    part = pd.read_parquet(path)
                    assert len(part) >= 1 and {"_index", "status"} <= set(part.columns)
                    assert int(part["_index"].min()) == int(path.stem.removeprefix("part-"))
            elif path.name == "run.json":
                counts = json.loads(path.read_text())["counts"]
                assert counts == json.loads((reference / "run.json").read_text())["counts"]
            elif path.suffix == ".parquet":
                pd.testing.assert_frame_equal(
                    pd.read_parquet(path), pd.read_parquet(reference / path.name), check_exact=True
                )
            elif path.suffix == ".csv":
                assert path.read_bytes() == (reference / path.name).read_bytes(), path
            else:
                raise AssertionError(f"unexpected file {path} in RESULTS_DIR")
        except FileNotFoundError:
            continue  # replaced or removed between listing and reading: not a partial file
        checked += 1
    return checked


def assert_same_outputs(a: Path, b: Path) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / f"{name}.parquet"), pd.read_parquet(b / f"{name}.parquet"), check_exact=True
        )
        assert (a / f"{name}.csv").read_bytes() == (b / f"{name}.csv").read_bytes()
    ra, rb = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert ra["counts"] == rb["counts"] and ra["fingerprint"] == rb["fingerprint"]


@dataclass
class KillOutcome:
    target: str
    killed: bool  # False when the run finished before the kill point was reached
    parts_at_kill: int
    files_checked_live: int


def _kill_point(rng: np.random.Generator, n_parts: int) -> tuple[str, int, float]:
    """A random event to kill after: the fingerprint, the k-th part, or a final output; plus a delay."""
    events = ["fingerprint"] + [f"part {k}" for k in range(1, n_parts + 1)] + ["fields.parquet", "wells.csv"]
    index = int(rng.integers(len(events)))
    return events[index], index, float(rng.uniform(0.0, 0.03))


def _event_reached(out: Path, target: str, index: int, n_parts: int) -> bool:
    parts = out / PARTS_DIR
    if target == "fingerprint":
        return (parts / FINGERPRINT_FILE).exists()
    if target.startswith("part"):
        return len(list(parts.glob("part-*.parquet"))) >= index if parts.is_dir() else False
    return (out / target).exists()


def kill_run(
    args: list[str], out: Path, reference: Path, rng: np.random.Generator, n_parts: int
) -> KillOutcome:
    """Start ``hcs score``, SIGKILL it at a random point, reading its final-named files meanwhile."""
    target, index, delay = _kill_point(rng, n_parts)
    proc = subprocess.Popen(
        _hcs_cmd(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HCS_DEBUG": ""},
    )
    checked = 0
    deadline = time.monotonic() + 180
    try:
        while proc.poll() is None and not _event_reached(out, target, index, n_parts):
            assert time.monotonic() < deadline, f"hcs score never reached {target}"
            if out.is_dir():
                checked += check_complete(out, reference)
            time.sleep(0.002)
        if delay and proc.poll() is None:
            time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    if not killed:
        assert proc.returncode == 0, stderr
    parts = len(list((out / PARTS_DIR).glob("part-*.parquet"))) if (out / PARTS_DIR).is_dir() else 0
    checked += check_complete(out, reference) if out.is_dir() else 0
    return KillOutcome(target, killed, parts, checked)


def _kill_and_resume(tiny_model, fault_plate, reference, out: Path, seed: int, kills: int, hcs=None):
    rng = np.random.default_rng(seed)
    n_parts = len(list((reference / PARTS_DIR).glob("part-*.parquet")))
    args = ["score", fault_plate, "--model", tiny_model, *RUN_ARGS, "--out", out]
    outcomes = [kill_run(args, out, reference, rng, n_parts) for _ in range(kills)]
    if hcs is not None:
        result = hcs(*args)
        code, stderr = result.exit_code, result.stderr
    else:
        done = subprocess.run(_hcs_cmd(*args), capture_output=True, text=True, timeout=300)
        code, stderr = done.returncode, done.stderr
    assert code == 0, stderr
    assert_same_outputs(reference, out)
    check_complete(out, reference)
    return outcomes


def test_reference_has_many_parts(reference):
    """The kill points are spread over the parts of the run: it must write many of them."""
    parts = list((reference / PARTS_DIR).glob("part-*.parquet"))
    assert len(parts) == N_FIELDS // RUN_OPTIONS["flush_every"]
    assert sum(len(pd.read_parquet(p)) for p in parts) == N_FIELDS


@pytest.mark.parametrize("seed", FAST_SEEDS)
def test_sigkill_at_a_random_point_then_rerun(hcs, tiny_model, fault_plate, reference, tmp_path, seed):
    outcomes = _kill_and_resume(tiny_model, fault_plate, reference, tmp_path / "out", seed, kills=1, hcs=hcs)
    print(f"seed {seed}: {outcomes}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_repeated_sigkills_then_rerun(tiny_model, fault_plate, reference, tmp_path, seed):
    """Two kills in a row (the second one kills the resuming run), then a fresh process finishes."""
    outcomes = _kill_and_resume(tiny_model, fault_plate, reference, tmp_path / "out", seed, kills=2)
    print(f"seed {seed}: {outcomes}")


# --- disk full ---------------------------------------------------------------------------------


def _enospc_after(n_ok: int, real):
    calls = {"n": 0}

    def write(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_ok:
            # a partially written file first, as a real full disk leaves one
            Path(path).write_bytes(b"PAR1 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(self, path, *args, **kwargs)

    return write


def _assert_one_line_error(result, needle: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hcs: error: "), result.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def _no_temp_files(out: Path) -> None:
    leftovers = [p for p in out.rglob(".*") if p.is_file() and p.name.endswith(".tmp")]
    assert not leftovers, leftovers


@pytest.mark.parametrize("after_parts", [0, 7])
def test_simulated_disk_full_while_scoring(
    hcs, tiny_model, fault_plate, reference, tmp_path, monkeypatch, after_parts
):
    """ENOSPC on the (after_parts + 1)-th Parquet write: one line, parts so far intact, rerun completes."""
    out = tmp_path / "out"
    args = ["score", fault_plate, "--model", tiny_model, *RUN_ARGS, "--out", out]
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _enospc_after(after_parts, pd.DataFrame.to_parquet))
    result = hcs(*args)
    _assert_one_line_error(result, "No space left on device")
    parts = sorted((out / PARTS_DIR).glob("part-*.parquet"))
    assert len(parts) == after_parts
    check_complete(out, reference)
    _no_temp_files(out)
    assert not (out / "run.json").exists()
    monkeypatch.undo()  # space freed
    result = hcs(*args)
    assert result.exit_code == 0, result.stderr
    assert_same_outputs(reference, out)


def test_simulated_disk_full_keeps_earlier_final_outputs(
    hcs, tiny_model, fault_plate, reference, tmp_path, monkeypatch
):
    """A finished folder rerun on a full disk: the rewrite fails, the old outputs stay byte-identical."""
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p.name: p.read_bytes() for p in _final_files(out) if p.parent == out}
    real_to_csv = pd.DataFrame.to_csv

    def to_csv(self, path=None, *args, **kwargs):
        if path is not None and Path(path).name.startswith(".wells.csv."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    result = hcs("score", fault_plate, "--model", tiny_model, *RUN_ARGS, "--out", out)
    _assert_one_line_error(result, "No space left on device")
    after = {p.name: p.read_bytes() for p in _final_files(out) if p.parent == out}
    assert after.keys() == before.keys()
    for name in ("wells.csv", "wells.parquet", "fields.csv", "run.json"):
        assert after[name] == before[name], name
    _no_temp_files(out)


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str):
    """Mount a tmpfs of ``size`` on ``folder``; skip the test where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the simulated ENOSPC tests cover this case)")
    name = f"hcs-test-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", name, str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the simulated ENOSPC tests cover it")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def _fill(folder: Path, leave: int) -> Path:
    """Fill a file system with a ballast file until ``leave`` bytes (about) remain free."""
    ballast = folder / "ballast.bin"
    free = shutil.disk_usage(folder).free
    with open(ballast, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return ballast


def test_real_disk_full_on_a_small_tmpfs(hcs, tiny_model, fault_plate, reference, tmp_path):
    parts_size = sum(p.stat().st_size for p in (reference / PARTS_DIR).glob("part-*.parquet"))
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        ballast = _fill(disk, leave=parts_size // 2)
        out = disk / "out"
        args = ["score", fault_plate, "--model", tiny_model, *RUN_ARGS, "--out", out]
        result = hcs(*args)
        _assert_one_line_error(result, "No space left on device")
        written = sorted((out / PARTS_DIR).glob("part-*.parquet"))
        assert 0 < len(written) < N_FIELDS // RUN_OPTIONS["flush_every"]
        check_complete(out, reference)
        _no_temp_files(out)
        ballast.unlink()  # space freed
        result = hcs(*args)
        assert result.exit_code == 0, result.stderr
        assert_same_outputs(reference, out)
        shutil.rmtree(out)


# --- soak ----------------------------------------------------------------------------------------


@pytest.mark.soak
def test_soak_scoring_has_no_leaks(tmp_path):
    """benchmarks/soak_score.py for 120 s: flat RSS, no fd/thread leak, no slowdown (``make soak``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "soak_score", Path(__file__).resolve().parents[3] / "benchmarks" / "soak_score.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.soak(seconds=120, fields=96, size=(256, 320), work=tmp_path)
    failed = {name: check["detail"] for name, check in result["checks"].items() if not check["passed"]}
    assert result["ok"], failed
