"""Shared test fixtures: the real data beside the repo, and an in-process `hcs` runner."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import mcnn_infer  # noqa: F401  (before any test module imports openvino: no telemetry sender threads)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HCS_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (read-only real data: sbs96 plate, BBBC021 metadata and one field)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (CI puts ../shared beside the clone)")
    return SHARED_DATA


@pytest.fixture()
def sbs96_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the real 96-well SBS plate."""
    target = tmp_path / "sbs96"
    shutil.copytree(shared_data / "sbs96", target)
    return target


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture()
def hcs(capsys):
    """Run ``hcs ARGS...`` in-process; returns exit code, stdout and stderr."""
    from hcs_cli.errors import run_guarded
    from hcs_cli.main import _group

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = run_guarded(_group, [str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
