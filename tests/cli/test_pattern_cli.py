"""``--pattern`` and the Cellomics layout from the command line: ``hcs plates``, ``hcs score``, ``hcs train``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from mcnn_infer.scoring.options import ScoreOptions
from tests.fixtures.namings import CV7000_PATTERN, KEYS, PLATE, write_namings
from tests.fixtures.tiny_model import make_tiny_model


def _row(stdout: str, plate: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if plate in line)
    return [c.strip() for c in line.strip("│ ").split("│")]


@pytest.fixture()
def namings(tmp_path) -> dict[str, Path]:
    return write_namings(tmp_path / "plates", wells=("B02", "C03"), sites=2)


def test_plates_reports_cellomics_and_pattern_plates(hcs, namings):
    result = hcs("plates", namings["cellomics"])
    assert result.exit_code == 0, result.stderr
    assert _row(result.stdout, PLATE)[:7] == [PLATE, "cellomics", "2", "2", "4", "d0, d1, d2", "80x64 16-bit"]
    result = hcs("plates", namings["pattern"], "--pattern", CV7000_PATTERN)
    assert result.exit_code == 0, result.stderr
    assert _row(result.stdout, PLATE)[:7] == [
        PLATE,
        "pattern",
        "2",
        "2",
        "4",
        "C01, C02, C03",
        "80x64 16-bit",
    ]
    assert "problem" not in result.stdout.split("┘")[-1]


def test_plates_pattern_errors_are_one_line(hcs, namings):
    for args, message in [
        (["--pattern", "(?P<well>"], "hcs: error: --pattern '(?P<well>' does not compile"),
        (["--pattern", r"(?P<well>\w+)\.tif"], "has no channel group; expected a Python regular expression"),
        (["--pattern", CV7000_PATTERN, "--layout", "sbs"], "but layout 'sbs' was also given"),
    ]:
        result = hcs("plates", namings["pattern"], *args)
        assert result.exit_code == 2, args
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    # names the pattern does not match are listed, and with none complete the scan stops
    result = hcs("plates", namings["pattern"], "--pattern", r"(?P<well>[A-P]\d{2})_(?P<channel>w\d)\.tif")
    assert result.exit_code == 2 and "does not follow the pattern layout" in result.stderr


def test_score_with_a_pattern_end_to_end_and_on_resume(hcs, namings, tmp_path):
    model = make_tiny_model(tmp_path / "model", channels=KEYS["pattern"])
    out = tmp_path / "out"
    args = ("score", namings["pattern"], "--model", model, "--out", out, "--quiet")
    result = hcs(*args, "--pattern", CV7000_PATTERN)
    assert result.exit_code == 0, result.stderr
    assert "4 fields scored" in result.stdout
    fields = pd.read_csv(out / "fields.csv")
    assert fields[["plate", "well", "site"]].values.tolist() == [
        [PLATE, "B02", 1],
        [PLATE, "B02", 2],
        [PLATE, "C03", 1],
        [PLATE, "C03", 2],
    ]
    assert (fields["status"] == "ok").all() and fields["path_C03"].str.endswith("Z01C03.tif").all()
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["pattern"] == CV7000_PATTERN
    assert run["plates"][0]["layout"] == "pattern"
    assert (
        json.loads((out / ".parts" / "fingerprint.json").read_text())["options"]["pattern"] == CV7000_PATTERN
    )
    assert "pattern" not in ScoreOptions().result_affecting()  # runs without --pattern keep their fingerprint
    # the same pattern resumes; another pattern (same fields) is another run
    assert hcs(*args, "--pattern", CV7000_PATTERN).exit_code == 0
    other = CV7000_PATTERN.replace(r"L\d{2}", r"L\d\d")
    result = hcs(*args, "--pattern", other)
    assert (
        result.exit_code == 2
        and "holds results of a different run (changed: options.pattern" in result.stderr
    )
    # the equivalent Cellomics plate scores identically (same pixels, same fields)
    cellomics_model = make_tiny_model(tmp_path / "model-d", channels=KEYS["cellomics"])
    out_d = tmp_path / "out-d"
    result = hcs("score", namings["cellomics"], "--model", cellomics_model, "--out", out_d, "--quiet")
    assert result.exit_code == 0, result.stderr
    scores = [c for c in fields.columns if c.startswith("prob_")]
    assert scores, fields.columns.tolist()
    pd.testing.assert_frame_equal(pd.read_csv(out_d / "fields.csv")[scores], fields[scores])


def test_score_refuses_a_bad_pattern_before_reading_anything(hcs, namings, tmp_path):
    result = hcs("score", namings["pattern"], "--out", tmp_path / "out", "--pattern", r"(?P<col>\d+)")
    assert result.exit_code == 2 and "--pattern '(?P<col>\\\\d+)' has no well group" in result.stderr
    assert not (tmp_path / "out").exists()


def test_train_passes_the_pattern_to_the_config(hcs, tmp_path, monkeypatch):
    from mcnn_train.config import TrainConfig

    calls: dict = {}
    fake = types.ModuleType("mcnn_train.trainer")
    fake.train = lambda config: calls.setdefault("config", config).out
    fake.resume = lambda run_dir, **changes: run_dir
    monkeypatch.setitem(sys.modules, "mcnn_train.trainer", fake)
    out = tmp_path / "run"
    result = hcs("train", tmp_path, "--labels", __file__, "--out", out, "--pattern", CV7000_PATTERN)
    assert result.exit_code == 0, result.stderr
    assert calls["config"] == TrainConfig(
        out=out, plates=[tmp_path], labels=[Path(__file__)], pattern=CV7000_PATTERN
    )
    assert "--pattern REGEX" in hcs("train", "--help").stdout
