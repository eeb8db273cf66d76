"""A card whose channels differ from a plate's is refused (scorer check and export calibration)."""

from __future__ import annotations

import pytest
from rich.console import Console

from mcnn_infer.card import check_channels, load_card
from mcnn_infer.errors import ChannelMismatchError
from mcnn_infer.plates import scan_plate
from mcnn_train.export import export_run
from tests.fixtures.tiny_plate import make_tiny_plate


@pytest.fixture(scope="module")
def sbs_plate(tmp_path_factory):
    """A 2-channel SBS plate (Channel1, Channel2)."""
    return make_tiny_plate(tmp_path_factory.mktemp("sbs"), layout="sbs", channels=2, size=(128, 128))


def test_exported_card_refuses_plate_with_other_channels(exported, sbs_plate):
    card = load_card(exported)
    scan = scan_plate(sbs_plate)
    with pytest.raises(ChannelMismatchError, match=r"has channels \['Channel1', 'Channel2'\].*w1 \(DAPI\)"):
        check_channels(card, scan.channels, str(sbs_plate))


def test_exported_card_accepts_its_own_channels(exported, calib_plate):
    check_channels(load_card(exported), scan_plate(calib_plate).channels, str(calib_plate))


def test_calibration_plate_with_other_channels_is_refused(tiny_run, sbs_plate, tmp_path):
    with pytest.raises(ChannelMismatchError, match=str(sbs_plate)):
        export_run(tiny_run, tmp_path / "out", ["openvino-int8"], sbs_plate, console=Console(quiet=True))
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def test_hcs_score_refuses_exported_model_on_plate_with_other_channels(hcs, exported, sbs_plate, tmp_path):
    result = hcs("score", sbs_plate, "--out", tmp_path / "results", "--model", exported)
    assert result.exit_code == 2, result.stderr
    assert "hcs: error:" in result.stderr
    assert "Channel1" in result.stderr and "w1 (DAPI)" in result.stderr
