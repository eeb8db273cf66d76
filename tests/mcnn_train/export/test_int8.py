"""INT8 refusal below the documented top-1 agreement, and the calibration split."""

from __future__ import annotations

import pytest
from rich.console import Console

from mcnn_infer.card import load_card
from mcnn_train.export import QuantizationError, export_run
from mcnn_train.export.calibration import MIN_FIELDS, plate_fields
from tests.fixtures.tiny_plate import make_tiny_plate
from tests.mcnn_train.export.tiny_run import make_run


def test_calibration_and_holdout_use_disjoint_wells(exported, calib_plate):
    fields = plate_fields(calib_plate, load_card(exported))
    calib_wells = set(fields.calibration["well"])
    held_wells = set(fields.holdout["well"])
    assert not calib_wells & held_wells
    assert (len(fields.calibration), len(fields.holdout)) == (16, 8)
    batch = next(fields.batches(fields.holdout, batch=3))
    assert batch.shape == (3, 128, 128, 3) and batch.dtype.name == "float32"
    assert batch.min() >= 0.0 and batch.max() <= 1.0


def test_too_small_plate_is_refused(exported, tmp_path):
    plate = make_tiny_plate(tmp_path, wells=("B02", "B03", "B04"), size=(128, 128))
    with pytest.raises(QuantizationError, match=rf"gives 2 calibration fields .*at least {MIN_FIELDS}"):
        plate_fields(plate, load_card(exported))


def test_int8_refused_when_agreement_is_below_threshold(calib_plate, tmp_path):
    run = make_run(tmp_path / "run", tied_logits=True)
    with pytest.raises(
        QuantizationError, match=r"agrees with FP32 on .*% of 8 held-out fields.*at least 95\.0%"
    ):
        export_run(run, tmp_path / "out", ["openvino-int8"], calib_plate, console=Console(quiet=True))
    assert not (tmp_path / "out").exists()
