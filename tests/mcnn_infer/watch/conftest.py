from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny 3-channel (w1, w2, w4) 64x80 model."""
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny", formats=("onnx",))


@pytest.fixture(scope="module")
def staging(tmp_path_factory) -> Path:
    """Finished plates the simulated instrument copies: P1, P2, P3 (MetaXpress, 4 wells, 12 files each)."""
    root = tmp_path_factory.mktemp("staging")
    for seed, plate in enumerate(("P1", "P2", "P3")):
        make_tiny_plate(root, plate=plate, seed=seed)
    return root
