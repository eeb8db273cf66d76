from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

NO_BF16 = "avx2,avx512f"  # $HCS_CPU_FLAGS of a CPU without native BF16 (mcnn_infer.cpu)


def test_help_lists_models_and_cluster_usage(hcs):
    result = hcs("train", "--help")
    assert result.exit_code == 0
    assert "[mcnn|mcnn-small]" in result.stdout
    assert "horovodrun" in result.stdout and "--workers" in result.stdout


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from hcs_cli.main import cli\ntry:\n cli(['train','--help'])\nexcept SystemExit: pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_bad_size_is_a_one_line_error(hcs, tmp_path: Path):
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--size", "1000x1280")
    assert result.exit_code == 2
    assert "hcs: error: M-CNN input height 1000 is not supported" in result.stderr
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--size", "big")
    assert result.exit_code == 2 and "is not HxW in pixels" in result.stderr


def test_out_is_required_and_resume_takes_no_data(hcs, tmp_path: Path):
    result = hcs("train", "--data", str(tmp_path))
    assert result.exit_code == 2 and "--out RUN_DIR is required" in result.stderr
    result = hcs("train", "--resume", str(tmp_path), "--data", str(tmp_path))
    assert result.exit_code == 2 and "expected no PLATE_DIRS" in result.stderr
    result = hcs("train", "--resume", str(tmp_path))
    assert result.exit_code == 2 and "config.json" in result.stderr


def test_empty_data_root(hcs, tmp_path: Path):
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--model", "mcnn-small")
    assert result.exit_code == 2 and "holds no .tif files" in result.stderr


def test_bf16_needs_a_cpu_with_native_bf16(hcs, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HCS_CPU_FLAGS", NO_BF16)
    args = ["train", "--data", str(tmp_path), "--model", "mcnn-small", "--precision", "bf16"]
    result = hcs(*args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hcs: error: hcs train --precision bf16 needs a CPU")
    assert "native BF16" in lines[0] and "avx512_bf16" in lines[0] and "avx2, avx512f" in lines[0]
    assert not (tmp_path / "run").exists()


def test_resume_keeps_the_precision_of_the_run(hcs, tmp_path: Path, monkeypatch):
    from mcnn_train.config import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(out=run, data_root=tmp_path, model="mcnn-small", precision="bf16").resolved()
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    result = hcs("train", "--resume", str(run), "--precision", "fp32")
    assert result.exit_code == 2
    assert "--precision fp32: the run" in result.stderr and "trains in bf16" in result.stderr
    monkeypatch.setenv("HCS_CPU_FLAGS", NO_BF16)  # the run's bf16 is checked on resume too
    result = hcs("train", "--resume", str(run))
    assert result.exit_code == 2 and "needs a CPU with native BF16" in result.stderr


@pytest.fixture()
def captured(monkeypatch) -> dict:
    """``hcs train`` with a stand-in trainer: records the config (or resume arguments) it gets."""
    calls: dict = {}
    fake = types.ModuleType("mcnn_train.trainer")
    fake.train = lambda config: calls.setdefault("config", config).out
    fake.resume = lambda run_dir, **changes: calls.setdefault("resume", changes) and run_dir
    monkeypatch.setitem(sys.modules, "mcnn_train.trainer", fake)
    return calls


def test_only_the_options_given_reach_the_config(hcs, tmp_path: Path, captured):
    from mcnn_train.config import TrainConfig

    out = tmp_path / "run"
    assert hcs("train", "--data", str(tmp_path), "--out", str(out)).exit_code == 0
    assert captured.pop("config") == TrainConfig(out=out, data_root=tmp_path)  # the recipe's defaults
    args = ["--epochs", "0", "--no-augment", "--nondeterministic", "--seed", "0", "--layout", "manifest"]
    assert hcs("train", "--data", str(tmp_path), "--out", str(out), *args).exit_code == 0
    assert captured.pop("config") == TrainConfig(
        out=out,
        data_root=tmp_path,
        epochs=0,
        augment=False,
        deterministic=False,
        micro_batch=None,  # --nondeterministic: Keras' own step
        seed=0,
        layout="manifest",
    )  # --epochs 0 reaches the config (which refuses it) instead of becoming the default
    assert hcs("train", "--data", str(tmp_path), "--out", str(out), "--micro-batch", "4").exit_code == 0
    assert captured.pop("config") == TrainConfig(out=out, data_root=tmp_path, micro_batch=4)
    refused = hcs("train", "--data", str(tmp_path), "--out", str(out), "--micro-batch", "4", "--nondeterministic")
    assert refused.exit_code == 2 and "--micro-batch is the deterministic step" in refused.stderr
    assert not captured
    assert hcs("train", "--resume", str(tmp_path), "--epochs", "4").exit_code == 0
    assert captured.pop("resume") == {"epochs": 4, "workers": None, "precision": None}


def test_choices_come_from_the_tables(hcs, tmp_path: Path, captured):
    from mcnn_infer.plates import LAYOUT_CHOICES
    from mcnn_train import recipe

    text = hcs("train", "--help").stdout
    tables = (LAYOUT_CHOICES, recipe.NORMALIZATIONS, recipe.VAL_SPLITS, recipe.PRECISION_CHOICES, recipe.SCALINGS)
    for choices in (*tables, recipe.PRESETS):
        assert "[" + "|".join(choices) + "]" in text
    result = hcs("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--layout", "opera")
    assert result.exit_code == 2 and "opera" in result.stderr and not captured


def test_a_preset_gives_its_values_and_the_options_given_override_them(hcs, tmp_path: Path, captured):
    from mcnn_train import recipe
    from mcnn_train.config import TrainConfig

    out = tmp_path / "run"
    args = ["--data", str(tmp_path), "--out", str(out), "--preset", "plate-controls", "--epochs", "5"]
    assert hcs("train", *args, "--tile", "128x128").exit_code == 0
    preset = recipe.PRESETS["plate-controls"]
    expected = TrainConfig(
        out=out, data_root=tmp_path, **{**preset, "epochs": 5, "tile": (128, 128)}, preset="plate-controls"
    )
    assert captured.pop("config") == expected
    assert expected.size == "native" and expected.balance_classes
