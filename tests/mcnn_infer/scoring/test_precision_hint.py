"""The `--precision auto` hint: from the card and the CPU flags ($HCS_CPU_FLAGS, $HCS_CPU_VENDOR)."""

from __future__ import annotations

import json

import pytest

from mcnn_infer.card import load_card
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from mcnn_infer.scoring.precision_hint import SPEED_KEY, auto_precision_hint
from tests.fixtures.tiny_model import make_tiny_model

ZEN4 = ("avx2,avx512f,avx512_bf16,avx512_vnni", "AuthenticAMD")
NO_BF16 = ("avx2,avx512f", "GenuineIntel")
#: Intel AVX-512 BF16 without AMX: native but slower than fp32, so auto keeps fp32.
COOPER_LAKE = ("avx2,avx512f,avx512_bf16", "GenuineIntel")


@pytest.fixture(scope="module")
def bf16_model(tmp_path_factory):
    return make_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny-bf16", formats=("onnx", "openvino-fp32", "openvino-bf16")
    )


def _cpu(monkeypatch, flags_vendor):
    flags, vendor = flags_vendor
    monkeypatch.setenv("HCS_CPU_FLAGS", flags)
    monkeypatch.setenv("HCS_CPU_VENDOR", vendor)


def _speed(card, factor, flags, vendor, model="EPYC test"):
    present = set(flags.split(","))
    card.formats["openvino-bf16"]["accuracy_check"][SPEED_KEY] = {
        "speedup": factor,
        "cpu": {"model": model, "vendor": vendor, "flags": {f: True for f in present}},
    }
    return card


def test_fp32_on_a_fast_bf16_cpu_gets_the_hint(bf16_model, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    line = auto_precision_hint(load_card(bf16_model), "openvino", "fp32", "fp32")
    assert line is not None and "--precision auto would run bf16" in line
    assert "no speed figure" in line  # the fixture's card has none, and none is invented


@pytest.mark.parametrize("cpu", [NO_BF16, COOPER_LAKE])
def test_no_hint_where_auto_would_keep_fp32(bf16_model, monkeypatch, cpu):
    _cpu(monkeypatch, cpu)
    assert auto_precision_hint(load_card(bf16_model), "openvino", "fp32", "fp32") is None


def test_no_hint_when_auto_was_asked_or_a_reduced_precision_ran(bf16_model, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    card = load_card(bf16_model)
    assert auto_precision_hint(card, "openvino", "auto", "fp32") is None
    assert auto_precision_hint(card, "openvino", "bf16", "bf16") is None


def test_no_hint_for_a_card_without_reduced_precisions(tiny_model, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    assert auto_precision_hint(load_card(tiny_model), "openvino", "fp32", "fp32") is None


def test_the_cards_speed_figure_for_this_kind_of_cpu(bf16_model, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    card = _speed(load_card(bf16_model), 1.9, *ZEN4)
    line = auto_precision_hint(card, "openvino", "fp32", "fp32")
    assert "1.90x the fp32 speed measured at export on this kind of CPU" in line


def test_a_figure_from_another_kind_of_cpu_is_named_as_such(bf16_model, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    card = _speed(load_card(bf16_model), 3.3, "avx512f,avx512_bf16,amx_bf16,amx_int8", "GenuineIntel", "Xeon")
    line = auto_precision_hint(card, "openvino", "fp32", "fp32")
    assert "3.30x fp32, was measured on Xeon" in line and "none for this one" in line


@pytest.mark.parametrize(("cpu", "hinted"), [(ZEN4, True), (NO_BF16, False)])
def test_score_prints_and_records_the_hint(bf16_model, plate_24, tmp_path, monkeypatch, capsys, cpu, hinted):
    from rich.console import Console

    _cpu(monkeypatch, cpu)
    out = tmp_path / "out"
    score_plates([plate_24], out, bf16_model, ScoreOptions(precision="fp32"), console=Console(stderr=True))
    hint = json.loads((out / "run.json").read_text())["precision_hint"]
    printed = capsys.readouterr().err
    assert (hint is not None) == hinted
    assert ("--precision auto would run bf16" in printed) == hinted
    assert "time went" in printed and "bounded by" in printed
