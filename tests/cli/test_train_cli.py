from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_help_lists_models_and_cluster_usage(hcs):
    result = hcs("train", "--help")
    assert result.exit_code == 0
    assert "[mcnn|mcnn-small]" in result.stdout
    assert "horovodrun" in result.stdout and "--workers" in result.stdout


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from hcs_cli.main import cli\ntry:\n cli(['train','--help'])\nexcept SystemExit: pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_bad_size_is_a_one_line_error(hcs, tmp_path: Path):
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--size", "1000x1280")
    assert result.exit_code == 2
    assert "hcs: error: M-CNN input height 1000 is not supported" in result.stderr
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--size", "big")
    assert result.exit_code == 2 and "is not HxW in pixels" in result.stderr


def test_out_is_required_and_resume_takes_no_data(hcs, tmp_path: Path):
    result = hcs("train", "--data", str(tmp_path))
    assert result.exit_code == 2 and "--out RUN_DIR is required" in result.stderr
    result = hcs("train", "--resume", str(tmp_path), "--data", str(tmp_path))
    assert result.exit_code == 2 and "expected no PLATE_DIRS" in result.stderr
    result = hcs("train", "--resume", str(tmp_path))
    assert result.exit_code == 2 and "config.json" in result.stderr


def test_empty_data_root(hcs, tmp_path: Path):
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--model", "mcnn-small")
    assert result.exit_code == 2 and "holds no .tif files" in result.stderr
