"""``hcs train --pattern``: the pattern reaches the labelled fields and is kept in config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcnn_infer.errors import ConfigError, LayoutError
from mcnn_train import run_plan
from mcnn_train.config import TrainConfig
from mcnn_train.labelled_fields import load_labelled_fields
from tests.fixtures.namings import CV7000_PATTERN, KEYS, PLATE, write_namings


def _plate_map(path: Path, wells) -> Path:
    rows = ["plate,well,compound,concentration,role,label"]
    for i, well in enumerate(wells):
        rows.append(
            f"{PLATE},{well},{'DMSO' if i % 2 == 0 else 'taxol'},1,treated,{'DMSO' if i % 2 == 0 else 'MT'}"
        )
    path.write_text("\n".join(rows) + "\n")
    return path


def test_labelled_fields_of_a_pattern_plate(tmp_path):
    wells = ("B02", "B10", "C03", "H12")
    folders = write_namings(tmp_path, wells=wells, sites=2, size=(8, 8))
    labels = _plate_map(tmp_path / "map.csv", wells)
    labelled = load_labelled_fields([folders["pattern"]], [labels], pattern=CV7000_PATTERN)
    assert labelled.channels == KEYS["pattern"]
    assert len(labelled.fields) == 8 and labelled.class_names == ["DMSO", "MT"]
    with pytest.raises(LayoutError, match="no known layout matches"):  # without it the names are unknown
        load_labelled_fields([folders["pattern"]], [labels])


def test_config_keeps_the_pattern_and_checks_it(tmp_path):
    config = TrainConfig(
        out=tmp_path / "run", plates=[tmp_path], labels=[tmp_path / "map.csv"], pattern=CV7000_PATTERN
    )
    resolved = config.resolved()
    data = json.loads(json.dumps(resolved.to_dict()))
    assert data["pattern"] == CV7000_PATTERN
    assert TrainConfig.from_dict(data).pattern == CV7000_PATTERN  # a resumed run reads the same plates
    del data["pattern"]
    assert TrainConfig.from_dict(data).pattern is None  # config.json of runs before the option
    with pytest.raises(LayoutError, match=r"--pattern '\(\?P<well>' does not compile"):
        TrainConfig(out=tmp_path, plates=[tmp_path], labels=[tmp_path], pattern="(?P<well>").resolved()
    with pytest.raises(ConfigError, match="but --layout sbs was also given"):
        TrainConfig(
            out=tmp_path, plates=[tmp_path], labels=[tmp_path], pattern=CV7000_PATTERN, layout="sbs"
        ).resolved()


def test_the_run_plan_reads_plates_with_the_pattern(tmp_path, monkeypatch):
    seen = {}

    def fake(*args):
        seen["args"] = args
        raise ConfigError("stop here")

    monkeypatch.setattr(run_plan, "load_labelled_fields", fake)
    config = TrainConfig(
        out=tmp_path, plates=[tmp_path], labels=[tmp_path], pattern=CV7000_PATTERN
    ).resolved()
    with pytest.raises(ConfigError, match="stop here"):
        run_plan.make_plan(config, workers=1)
    assert CV7000_PATTERN in seen["args"]
