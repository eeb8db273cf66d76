"""Session fixtures: one tiny run, one calibration plate, one full export shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from tests.fixtures.tiny_plate import make_tiny_plate, well_names
from tests.mcnn_train.export.tiny_run import make_run

PLATE_SIZE = (128, 128)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """An untrained mcnn-small run folder at 128x128x3 (w1, w2, w4)."""
    return make_run(tmp_path_factory.mktemp("export") / "run")


@pytest.fixture(scope="session")
def calib_plate(tmp_path_factory) -> Path:
    """A 12-well, 2-site MetaXpress plate (w1, w2, w4) at 128x128: 16 calibration + 8 held-out fields."""
    return make_tiny_plate(tmp_path_factory.mktemp("plates"), wells=well_names(12), sites=2, size=PLATE_SIZE)


@pytest.fixture(scope="session")
def exported(tiny_run, calib_plate, tmp_path_factory) -> Path:
    """The tiny run exported with every format (ONNX, OpenVINO FP32/FP16/INT8, SavedModel; the BF16
    check where the CPU has native BF16)."""
    from mcnn_infer.cpu import native_bf16
    from mcnn_infer.formats import FORMATS
    from mcnn_train.export import export_run

    out = tmp_path_factory.mktemp("models") / "tiny"
    return export_run(
        tiny_run,
        out,
        [name for name in FORMATS if name != "openvino-bf16" or native_bf16()],
        calibrate=calib_plate,
        console=Console(quiet=True),
    )
