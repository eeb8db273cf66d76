"""The default-model recipe: overrides, and the whole synth -> train -> export chain on a tiny recipe."""

from __future__ import annotations

import pytest
from rich.console import Console

from mcnn_infer.card import load_card
from mcnn_train import default_model


def test_recipe_overrides_do_not_touch_the_shipped_recipe():
    recipe = default_model._recipe(seed=7, epochs=3)
    assert recipe["seed"] == 7 and recipe["train"]["epochs"] == 3
    assert default_model.RECIPE["seed"] == 0 and default_model.RECIPE["train"]["epochs"] != 3


@pytest.mark.slow
def test_default_model_chain_on_a_tiny_recipe(tmp_path, monkeypatch):
    tiny = default_model._recipe(seed=3, epochs=1)
    tiny["synth"] = dict(
        tiny["synth"],
        size=[128, 160],
        compounds_per_moa=1,
        concentrations=1,
        replicates=1,
        sites=1,
        moas=["Actin disruptors", "Eg5 inhibitors"],
    )
    tiny["calibration_plate"] = dict(tiny["calibration_plate"], concentrations=2)
    tiny["train"] = dict(tiny["train"], size=[128, 128], batch_size=4)
    tiny["export"] = dict(tiny["export"], min_agreement=0.01)  # an untrained model: only the chain is tested
    monkeypatch.setattr(default_model, "RECIPE", tiny)
    out = default_model.build_default_model(
        tmp_path / "model", work=tmp_path / "work", console=Console(quiet=True)
    )
    card = load_card(out)
    assert card.model_name == default_model.MODEL_NAME
    assert set(card.formats) == {"onnx", "openvino-fp32", "openvino-int8"}
    assert card.training["reproduce"]["command"] == default_model.COMMAND
    assert card.training["reproduce"]["recipe"]["seed"] == 3
    assert card.input.channels == ["w1", "w2", "w4"] and (card.input.height, card.input.width) == (128, 128)
