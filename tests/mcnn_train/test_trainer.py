"""End-to-end training runs on tiny synthetic screens (seconds to a minute each on 2 cores)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mcnn_infer.card import load_card
from mcnn_infer.cpu import cpu_report, native_bf16
from mcnn_infer.errors import ConfigError
from mcnn_train.callbacks import MIN_SELECTION_FIELDS
from mcnn_train.config import TrainConfig
from mcnn_train.trainer import resume, train

HCS = str(Path(sys.executable).with_name("hcs"))
QUICK = dict(model="mcnn-small", size=(128, 128), batch_size=4, lr_schedule="0.01", warmup_epochs=0, seed=3)


def _checkpoint_arrays(run: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "last" / "ckpt"))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith(("model/", "optimizer/"))]
    return {n: reader.get_tensor(n) for n in names}


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_float32_export(run: Path) -> None:
    """model/ and model.keras are float32 throughout: signature outputs, graph and every layer."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(run / "model")).signatures["serving_default"]
    assert {k: v.dtype for k, v in serve.structured_outputs.items()} == {
        "logits": tf.float32,
        "embedding": tf.float32,
    }
    assert "DT_BFLOAT16" not in str(serve.graph.as_graph_def())
    keras_model = tf.keras.models.load_model(run / "model.keras", safe_mode=True, compile=False)
    assert {layer.dtype_policy.name for layer in keras_model.layers} == {"float32"}


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _checkpoint_arrays(a), _checkpoint_arrays(b)
    assert wa.keys() == wb.keys() and len(wa) > 20
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


@pytest.fixture(scope="module")
def uninterrupted(mini_screen, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "full"
    return train(TrainConfig(out=out, data_root=mini_screen, epochs=2, **QUICK))


@pytest.mark.slow
def test_run_folder_contents(uninterrupted):
    import tensorflow as tf

    run = uninterrupted
    records = _metrics(run)
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "images_per_s"} <= records[-1].keys()
    card = load_card(run)
    assert card.architecture == "mcnn-small" and card.input.size == (128, 128)
    assert card.input.channels == ["w1", "w2", "w4"] and card.input.bit_depth == 16
    assert card.class_names == ["Actin disruptors", "DMSO", "Eg5 inhibitors", "Microtubule destabilizers"]
    assert card.embedding_size == 128
    assert card.training["split"]["mode"] == "compound"
    assert card.training["data"]["n_fields"] == 40
    assert card.normalization.method == "plate"
    assert sorted(card.training["plate_normalization"]) == ["Week1_50001", "Week1_50002"]
    assert (card.training["precision"], card.training["keras_policy"]) == ("fp32", "float32")
    assert card.training["cpu"] == cpu_report()
    # the kept epoch: lowest validation loss (15 validation fields >= MIN_SELECTION_FIELDS)
    assert card.training["split"]["n_val"] == 15 >= MIN_SELECTION_FIELDS
    best = min(records, key=lambda r: r["val_loss"])
    assert card.training["selection"] == {
        "rule": "min val_loss",
        "epoch": best["epoch"],
        "val_loss": best["val_loss"],
        "val_accuracy": best["val_accuracy"],
        "epochs": 2,
    }
    _assert_float32_export(run)
    assert set(card.metrics["validation"]) >= {"image_accuracy", "treatment_accuracy", "per_class_recall"}
    assert card.software["tensorflow"] == tf.__version__
    loaded = tf.saved_model.load(str(run / "model"))
    serve = loaded.signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["image"]
    out = serve(image=tf.zeros((2, 128, 128, 3)))
    assert out["logits"].shape == (2, 4) and out["embedding"].shape == (2, 128)
    keras_model = tf.keras.models.load_model(run / "model.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(
        keras_model(np.zeros((2, 128, 128, 3), np.float32))[0], out["logits"], rtol=1e-5
    )
    for name in ("confusion.csv", "confusion.png", "per_class.csv", "treatments.csv", "summary.json"):
        assert (run / "eval" / name).is_file()
    assert any((run / "tensorboard").rglob("events.out.tfevents*"))
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(TrainConfig(out=run, data_root=card.training["config"]["data_root"], epochs=2, **QUICK))


@pytest.mark.slow
def test_resume_reaches_the_same_weights(uninterrupted, mini_screen, tmp_path):
    """Stop after epoch 1, resume to epoch 2: bit-identical to the uninterrupted run (deterministic ops,
    data order and augmentation seeded by epoch and position, optimizer state + step restored)."""
    out = train(TrainConfig(out=tmp_path / "split", data_root=mini_screen, epochs=1, **QUICK))
    resume(out, epochs=2)
    _assert_same_weights(uninterrupted, out)
    assert [r["epoch"] for r in _metrics(out)] == [1, 2]
    # the best validation loss survives the resume: same kept epoch as without interruption
    assert load_card(out).training["selection"] == load_card(uninterrupted).training["selection"]


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(mini_screen, tmp_path):
    """A real interruption: SIGKILL the `hcs train` process once epoch 1 is checkpointed, then `--resume`.

    The reference is the same command run to the end in its own process: `hcs train` pins its
    threads (single-threaded ops for the canonical step), which this test process, whose
    TensorFlow is already initialised, cannot do for an in-process run.
    """
    args = [HCS, "train", "--data", str(mini_screen), "--model", "mcnn-small", "--size", "128x128"]
    args += ["--batch-size", "4", "--lr-schedule", "0.01", "--warmup-epochs", "0", "--seed", "3", "--epochs", "2"]
    full = tmp_path / "full"
    done = subprocess.run([*args, "--out", str(full)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoints" / "last" / "state.json"
    deadline = time.time() + 240
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL) if proc.poll() is None else None
    proc.wait()
    assert json.loads(state.read_text())["epoch"] >= 1
    done = subprocess.run([HCS, "train", "--resume", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same_weights(full, out)


@pytest.mark.slow
@pytest.mark.skipif(
    not native_bf16(), reason="this CPU has no native BF16 (avx512_bf16 / amx_bf16): bf16 training is refused"
)
def test_bf16_run_resumes_in_bf16_and_exports_float32(uninterrupted, mini_screen, tmp_path):
    import tensorflow as tf

    out = train(
        TrainConfig(out=tmp_path / "bf16", data_root=mini_screen, epochs=1, precision="bf16", **QUICK)
    )
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    resume(out, epochs=3)  # precision comes from config.json
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    assert TrainConfig.load(out / "config.json").precision == "bf16"
    card = load_card(out)
    assert (card.training["precision"], card.training["keras_policy"]) == ("bf16", "mixed_bfloat16")
    assert card.training["cpu"]["native_bf16"] is True
    assert card.training["config"]["precision"] == "bf16"
    records = _metrics(out)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    losses = [r["loss"] for r in records]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    # bfloat16 compute follows the float32 run of the same seed closely (1.3110 vs 1.3096 here)
    assert abs(records[1]["loss"] - _metrics(uninterrupted)[1]["loss"]) < 0.05
    assert card.training["selection"]["epoch"] == min(records, key=lambda r: r["val_loss"])["epoch"]
    _assert_float32_export(out)


@pytest.mark.slow
def test_learns_better_than_chance(train_screen, tmp_path):
    out = train(
        TrainConfig(
            out=tmp_path / "learn",
            data_root=train_screen,
            model="mcnn-small",
            size=(128, 128),
            # 16 epochs at 0.01 with a 1-epoch warm-up: validation accuracy of the kept (lowest
            # validation loss) epoch 0.63 / 0.90 / 0.97 for seeds 0 / 1 / 2 here; 10 epochs at 0.02
            # without warm-up sometimes diverged mid-run
            epochs=16,
            batch_size=8,
            lr_schedule="0.01;12;0.003",
            warmup_epochs=1,
            seed=0,
        )
    )
    summary = json.loads((out / "eval" / "summary.json").read_text())
    # 4 classes; chance (majority class of the validation split) is about 0.27.
    assert summary["image_accuracy"] >= max(0.55, 2 * summary["chance_accuracy"]), summary


@pytest.mark.slow
@pytest.mark.horovod
def test_two_workers_train_the_model_one_worker_trains(mini_screen, tmp_path):
    """Strong scaling with the canonical step: 1 worker x 8 images and 2 Horovod processes x 4
    images train the same weights, bit for bit.

    The global batch (8), the learning rate and the steps per epoch are the same, each global step
    holds the same samples with the same crops and augmentation, and the gradients of 2-image
    micro-batches, computed by single-threaded ops, are added in one fixed tree
    (:mod:`mcnn_train.canonical_step`); the M-CNN has no batch normalisation. Both runs are
    ``hcs train`` processes, so each pins its own threads (1 worker: 2 threads).
    """
    runs = {}
    for workers in (1, 2):
        check = tmp_path / f"check{workers}"
        env = {**os.environ, "HCS_TRAIN_CHECK_DIR": str(check)}
        args = [HCS, "train", "--data", str(mini_screen), "--out", str(tmp_path / f"w{workers}")]
        args += ["--workers", str(workers), "--threads-per-worker", "2" if workers == 1 else "1"]
        args += ["--model", "mcnn-small", "--size", "128x128", "--batch-size", "8", "--epochs", "2"]
        args += ["--lr-schedule", "0.01", "--warmup-epochs", "0", "--seed", "3", "--micro-batch", "2"]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[workers] = check

    ranks = [json.loads((runs[2] / f"rank{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((runs[1] / "rank0.json").read_text())
    assert [r["size"] for r in ranks] == [2, 2] and single["size"] == 1
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]  # the workers agree exactly
    assert [r["local_batch"] for r in ranks] == [4, 4] and single["local_batch"] == 8
    assert ranks[0]["global_batch"] == single["global_batch"] == 8
    assert ranks[0]["steps_per_epoch"] == single["steps_per_epoch"] > 1
    w1 = np.load(runs[1] / "rank0_weights.npz")
    w2 = np.load(runs[2] / "rank0_weights.npz")
    assert len(w1.files) == len(w2.files) > 20
    assert sum(not np.allclose(w1[name], 0) for name in w1.files) > 10  # it trained
    different = [name for name in w1.files if not np.array_equal(w1[name], w2[name])]
    assert not different, f"{len(different)} weights differ, e.g. {different[:3]}"
    assert single["weights_sha256"] == ranks[0]["weights_sha256"]
    # the same kept epoch, the same validation losses and the record of how it ran
    cards = [load_card(tmp_path / run).training for run in ("w1", "w2")]
    assert [c["workers"] for c in cards] == [1, 2] and [c["local_batch"] for c in cards] == [8, 4]
    assert {c["global_batch"] for c in cards} == {8} and {c["scaling"] for c in cards} == {"strong"}
    assert {c["optimizer_step"] for c in cards} == {"canonical"} and {c["micro_batch"] for c in cards} == {2}
    assert [c["threads"] for c in cards] == [{"intra_op": 1, "inter_op": 2}, {"intra_op": 1, "inter_op": 1}]
    assert cards[0]["selection"]["epoch"] == cards[1]["selection"]["epoch"]
    losses = [[m["val_loss"] for m in _metrics(tmp_path / run)] for run in ("w1", "w2")]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)


def test_batch_that_does_not_split_over_the_workers_is_refused(mini_screen, tmp_path):
    with pytest.raises(ConfigError, match=r"--batch-size 6 cannot be split evenly over 4 workers.*e\.g\. 4 or 8"):
        train(TrainConfig(out=tmp_path / "r", data_root=mini_screen, **{**QUICK, "batch_size": 6}, workers=4))
    weak = TrainConfig(out=tmp_path / "r", data_root=mini_screen, **{**QUICK, "batch_size": 6}, workers=4, scaling="weak")
    assert weak.resolved().batch_size == 6  # weak scaling: 6 per worker, 24 in all


def test_tile_training_exports_a_whole_field_model(mini_screen, tmp_path):
    import tensorflow as tf

    out = train(
        TrainConfig(
            out=tmp_path / "tiles",
            data_root=mini_screen,
            epochs=1,
            **{**QUICK, "size": (256, 256)},
            tile=(128, 128),
            crops_per_field=2,
            balance_classes=True,
        )
    )
    card = load_card(out)
    assert (card.input.height, card.input.width) == (256, 256)  # the scorer feeds whole fields
    tiling = card.training["tiling"]
    assert tiling["tile"] == [128, 128] and tiling["offsets"] == [[0, 0], [0, 128], [128, 0], [128, 128]]
    wells = card.training["wells"]
    assert wells["train"] and wells["validation"] and not set(wells["train"]) & set(wells["validation"])
    serve = tf.saved_model.load(str(out / "model")).signatures["serving_default"]
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [None, 256, 256, 3]
    config = json.loads((out / "config.json").read_text())
    assert config["tile"] == [128, 128] and config["balance_classes"] is True


def test_tile_and_native_size_are_checked(mini_screen, tmp_path):
    with pytest.raises(ConfigError, match="--tile 256x256 is larger than the field size 128x128"):
        TrainConfig(out=tmp_path / "x", data_root=mini_screen, **QUICK, tile=(256, 256)).resolved()
    with pytest.raises(ConfigError, match="crops per field 0"):
        TrainConfig(out=tmp_path / "x", data_root=mini_screen, **QUICK, crops_per_field=0).resolved()
    from mcnn_train.trainer import _with_native_size

    native = _with_native_size(
        TrainConfig(out=tmp_path / "x", data_root=mini_screen, **{**QUICK, "size": "native"})
    )
    assert native.size == (128, 128)
