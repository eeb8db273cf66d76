"""Fixtures of the scoring tests: tiny models (no TensorFlow) and tiny plates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """3-channel (w1, w2, w4) 64x80 model, ONNX + OpenVINO FP32, 16-bit."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny3")


@pytest.fixture(scope="session")
def plate_model(tmp_path_factory) -> Path:
    """The same network as ``tiny_model`` with per-plate normalisation (method ``plate``)."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny3-plate", normalization="plate")


@pytest.fixture(scope="session")
def plate_24(tmp_path_factory) -> Path:
    """MetaXpress plate P1: 24 wells x 2 sites, 64x80 uint16."""
    return make_tiny_plate(tmp_path_factory.mktemp("plates"), wells=well_names(24), sites=2)


def plate_map(path: Path, plate: str, wells: list[str]) -> Path:
    """Write a plate map: column 1 DMSO (negative), others compound C<k> at 2 concentrations."""
    lines = ["plate,well,compound,concentration,role,label"]
    for well in wells:
        col = int(well[1:])
        if col == 1:
            lines.append(f"{plate},{well},DMSO,0,negative,DMSO")
        else:
            lines.append(f"{plate},{well},C{col % 3},{1 + col % 2},treated,MoA{col % 3}")
    path.write_text("\n".join(lines) + "\n")
    return path
