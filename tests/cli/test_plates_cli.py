"""`hcs plates`, `hcs --help` and `hcs --version` from the command line."""

from __future__ import annotations

import subprocess
import sys


def test_plates_reports_the_real_sbs_plate(hcs, shared_data):
    result = hcs("plates", shared_data / "sbs96")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "sbs96" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[:5] == ["sbs96", "sbs", "96", "1", "96"]
    assert cells[5] == "Channel1, Channel2" and cells[6] == "640x640 8-bit"


def test_errors_are_one_readable_line(hcs, tmp_path):
    result = hcs("plates", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("hcs: error: plate folder") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_console_script_help_and_version():
    exe = [sys.executable, "-c", "from hcs_cli.main import cli; cli()"]
    help_text = subprocess.run([*exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("plates", "synth", "train", "export", "score", "report"):
        assert command in help_text
    version = subprocess.run([*exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("hcs, version ")


def test_help_does_not_import_tensorflow():
    code = "import sys; from hcs_cli.main import cli\ntry:\n cli(['--help'])\nexcept SystemExit: pass\nprint('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
