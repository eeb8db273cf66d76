from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcnn_infer.errors import ConfigError
from mcnn_train.config import TrainConfig


def test_resolve_fills_defaults_and_round_trips(tmp_path):
    cfg = TrainConfig(out=tmp_path / "run", data_root=tmp_path, model="mcnn-small", batch_size=4).resolved()
    assert cfg.size == (256, 256)
    assert cfg.lr_reference_batch == 4
    assert cfg.cache_dir == tmp_path / "run" / "cache"
    assert (cfg.precision, cfg.keras_policy) == ("fp32", "float32")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.load(path) == cfg


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"size": (1000, 1280)}, "multiple of 128"),
        ({"epochs": 0}, "epochs 0"),
        ({"val_fraction": 1.5}, "validation"),
        ({"model": "vgg"}, "unknown model"),
        ({"lr_schedule": "abc"}, "number"),
        ({"val_split": "well"}, "split"),
        ({"label_smoothing": 1.0}, "label smoothing"),
        ({"data_root": None}, "no training data"),
        ({"precision": "fp16"}, "precision 'fp16' is out of range"),
    ],
)
def test_bad_values_raise_config_error(tmp_path, changes, match):
    base = dict(out=tmp_path / "r", data_root=tmp_path, model="mcnn-small")
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{**base, **changes}).resolved()


def test_load_reports_missing_and_unknown_keys(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"out": "x", "colour": "red"}))
    with pytest.raises(ConfigError, match="colour"):
        TrainConfig.load(bad)
    assert TrainConfig.from_dict({"out": "x"}).out == Path("x")


def test_precision_round_trips_and_old_configs_are_fp32(tmp_path):
    cfg = TrainConfig(
        out=tmp_path / "run", data_root=tmp_path, model="mcnn-small", precision="bf16"
    ).resolved()
    assert cfg.keras_policy == "mixed_bfloat16"
    assert TrainConfig.from_dict(cfg.to_dict()).precision == "bf16"
    old = {k: v for k, v in cfg.to_dict().items() if k != "precision"}
    assert TrainConfig.from_dict(old).precision == "fp32"


def test_defaults_are_the_recipes(tmp_path):
    from mcnn_train import recipe

    cfg = TrainConfig(out=tmp_path / "run", data_root=tmp_path)
    expected = {
        "model": recipe.MODEL,
        "epochs": recipe.EPOCHS,
        "batch_size": recipe.BATCH_SIZE,
        "lr_schedule": recipe.LR_SCHEDULE,
        "warmup_epochs": recipe.WARMUP_EPOCHS,
        "momentum": recipe.MOMENTUM,
        "weight_decay": recipe.WEIGHT_DECAY,
        "label_smoothing": recipe.LABEL_SMOOTHING,
        "val_split": recipe.VAL_SPLIT,
        "val_fraction": recipe.VAL_FRACTION,
        "normalization": recipe.NORMALIZATION,
        "augment": recipe.AUGMENT,
        "precision": recipe.PRECISION,
        "seed": recipe.SEED,
        "workers": recipe.WORKERS,
        "deterministic": recipe.DETERMINISTIC,
    }
    assert {name: getattr(cfg, name) for name in expected} == expected
    assert not hasattr(cfg, "global_batch")  # the workers that run are known only to the worker
