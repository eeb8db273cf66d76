"""The shipped default model ``models/mcnn-small-synth``: complete, verified, consistent across formats.

Runs without TensorFlow (the scorer's view of the model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcnn_infer.card import load_card, verify_files
from mcnn_infer.formats import FORMATS
from mcnn_infer.runtime import open_engine
from mcnn_infer.synth import synthesize
from mcnn_train.default_model import COMMAND, MODEL_NAME
from mcnn_train.export.calibration import plate_fields
from mcnn_train.export.embedded import read_onnx_card, read_openvino_card

SHIPPED = Path(__file__).resolve().parents[3] / "models" / MODEL_NAME
MAX_MB = 5.0


@pytest.fixture(scope="module")
def card():
    if not (SHIPPED / "card.json").is_file():
        pytest.fail(f"the default model is missing at {SHIPPED}; rebuild it with `make model` ({COMMAND})")
    return load_card(SHIPPED)


def test_shipped_model_is_complete_small_and_verified(card):
    assert card.model_name == MODEL_NAME and card.architecture == "mcnn-small"
    assert set(card.formats) == {"onnx", "openvino-fp32", "openvino-int8"}
    for name in card.formats:
        verify_files(card, SHIPPED, name)
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file()) / 1e6
    assert size < MAX_MB, f"{SHIPPED} is {size:.1f} MB (expected < {MAX_MB} MB)"
    assert card.training["reproduce"]["command"] == COMMAND
    assert card.input.channels == ["w1", "w2", "w4"]
    int8 = card.formats["openvino-int8"]["accuracy_check"]
    assert int8["top1_agreement"] >= int8["min_top1_agreement"] >= 0.95
    assert all(r["passed"] for r in card.parity["formats"].values() if r["checked"])


def test_embedded_cards_match(card):
    for embedded in (
        read_onnx_card(SHIPPED / "model.onnx"),
        read_openvino_card(SHIPPED / "openvino" / "model.xml"),
    ):
        assert embedded.class_names == card.class_names and embedded.normalization == card.normalization


def test_formats_agree_on_fresh_synthetic_fields(card, tmp_path):
    synthesize(
        tmp_path,
        like="simple",
        plates=1,
        compounds_per_moa=1,
        concentrations=1,
        replicates=1,
        controls=4,
        positive_controls=2,
        moas=["Actin disruptors"],
        sites=2,
        size=(256, 320),
        seed=99,
        progress=False,
    )
    plate = sorted({p.parent for p in tmp_path.rglob("*.tif")})[0]
    fields = plate_fields(plate, card, calibration_fields=8, holdout_fields=8)
    batch = fields.load(fields.calibration)
    results = {}
    for name in card.formats:
        fmt = FORMATS[name]
        results[name] = open_engine(SHIPPED, fmt.runtime, fmt.precision).infer(batch)
    np.testing.assert_allclose(results["onnx"][0], results["openvino-fp32"][0], atol=1e-4)  # f32 vs f32
    assert results["onnx"][1].shape == (len(batch), card.embedding_size)
    agree = np.mean(results["openvino-int8"][0].argmax(1) == results["openvino-fp32"][0].argmax(1))
    assert agree >= 0.75, f"INT8 agrees with FP32 on {agree:.0%} of {len(batch)} fresh fields"
