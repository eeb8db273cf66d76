"""benchmarks/model_pair.py: agreement of two exports, a row per precision, bad pairs refused."""

from __future__ import annotations

import re

import pytest

from benchmarks.model_pair import agreement, main
from mcnn_infer.errors import ConfigError
from tests.fixtures.tiny_model import make_tiny_model


def _rows(text: str) -> dict[str, list[float]]:
    pattern = r"^(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)-([\d.]+)\s+([\d.e+-]+)\s+([\d.]+)\s+\["
    return {m.group(1): [float(v) for v in m.groups()[1:]] for m in re.finditer(pattern, text, re.M)}


def test_one_export_against_itself_agrees_exactly_and_each_side_is_timed_once_per_round(tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model", size=(64, 80))
    main([str(model), str(model), "--precisions", "fp32", "int8", "--seconds", "0.2", "--rounds", "3"])
    out = capsys.readouterr().out
    rows = _rows(out)
    assert set(rows) == {"fp32"}, out  # the tiny card lists no int8 format: said, not timed
    assert "int8 skipped: the card lists no openvino int8 format" in out
    before, after, median, low, high, dlogit, top1 = rows["fp32"]
    assert before > 0 and after > 0 and low <= median <= high
    assert dlogit == 0.0 and top1 == 1.0
    rounds = re.search(r"^fp32 .*\[(.*); (.*)\]$", out, re.M)
    assert [len(part.split(", ")) for part in rounds.groups()] == [3, 3], out  # each timed once per round


def test_different_weights_show_as_logit_differences(tmp_path):
    a = make_tiny_model(tmp_path / "a", size=(64, 80), seed=0)
    b = make_tiny_model(tmp_path / "b", size=(64, 80), seed=1)
    dlogit, top1 = agreement(a, b, "fp32", 8)
    assert dlogit > 1e-3
    assert 0.0 <= top1 <= 1.0


def test_exports_of_different_input_sizes_are_refused_naming_both(tmp_path):
    a = make_tiny_model(tmp_path / "a", size=(64, 80))
    b = make_tiny_model(tmp_path / "b", size=(64, 96))
    with pytest.raises(ConfigError, match=r"a takes inputs of \(H, W, C\) \(64, 80, 3\).*b \(64, 96, 3\)"):
        main([str(a), str(b), "--seconds", "0.1", "--rounds", "1"])
