from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from rich.console import Console

from mcnn_train.callbacks import (
    MIN_SELECTION_FIELDS,
    EpochRecorder,
    RichProgress,
    describe_selection,
    kept_checkpoint,
    read_metrics,
    resumed_best,
)
from mcnn_train.checkpoints import read_state, restore_checkpoint, save_checkpoint


def test_progress_and_epoch_records(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((4,), name="image")
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="logits")(inputs))
    optimizer = tf.keras.optimizers.legacy.SGD(0.1, momentum=0.9)
    model.compile(
        optimizer,
        tf.keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    x = np.random.default_rng(0).random((16, 4), dtype=np.float32)
    y = tf.one_hot((x[:, 0] > 0.5).astype(int), 2)
    stream = io.StringIO()
    progress = RichProgress(3, 0, 4, 4, console=Console(file=stream, width=120, force_terminal=False))
    recorder = EpochRecorder(tmp_path, optimizer, model, images_per_epoch=16, val_fields=16)
    model.fit(x, y, batch_size=4, epochs=3, validation_data=(x, y), callbacks=[progress, recorder], verbose=0)
    text = stream.getvalue()
    assert "img/s" in text and "loss" in text and "12/12" in text
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert [r["step"] for r in records] == [4, 8, 12]
    assert all(r["lr"] == np.float32(0.1) and r["images_per_s"] > 0 for r in records)
    assert records[0]["train_seconds"] <= records[0]["seconds"]
    last = json.loads((tmp_path / "checkpoints" / "last" / "state.json").read_text())
    best = json.loads((tmp_path / "checkpoints" / "best" / "state.json").read_text())
    assert last["epoch"] == 3
    assert best["best_val_loss"] == min(r["val_loss"] for r in records)
    assert best["epoch"] == best["best_epoch"] == last["best_epoch"]
    assert best["epoch"] == next(r["epoch"] for r in records if r["val_loss"] == best["best_val_loss"])
    assert read_metrics(tmp_path / "metrics.jsonl", before_epoch=2) == records[:1]


def _tiny_model():
    import tensorflow as tf

    inputs = tf.keras.Input((1,), name="image")
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1, name="logits")(inputs))
    return model, tf.keras.optimizers.legacy.SGD(0.1)


def _play_epochs(recorder, model, first_epoch, epochs):
    """Feed epochs (val_loss, val_accuracy) to the recorder; the model's kernel holds the epoch number."""
    recorder.set_model(model)
    for epoch, (val_loss, val_accuracy) in enumerate(epochs, start=first_epoch):
        model.get_layer("logits").kernel.assign([[float(epoch + 1)]])
        recorder.on_epoch_begin(epoch)
        logs = {
            "loss": 1.0 / (epoch + 1),
            "accuracy": 1.0,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        recorder.on_epoch_end(epoch, logs)


def _kept_weights_epoch(folder) -> float:
    model, _ = _tiny_model()
    restore_checkpoint(folder, model, None)
    return float(model.get_layer("logits").kernel.numpy()[0, 0])


def test_saturated_validation_accuracy_keeps_the_lowest_loss_epoch(tmp_path):
    """Accuracy is 1.0 from epoch 1 while the loss keeps falling: the kept epoch is a late one."""
    model, optimizer = _tiny_model()
    recorder = EpochRecorder(tmp_path, optimizer, model, images_per_epoch=8, val_fields=12)
    losses = [0.9, 0.6, 0.4, 0.25, 0.3, 0.5]  # over-fitting after epoch 4
    _play_epochs(recorder, model, 0, [(v, 1.0) for v in losses])
    folder, selection = kept_checkpoint(tmp_path, val_fields=12)
    assert folder == tmp_path / "checkpoints" / "best"
    assert selection == {
        "rule": "min val_loss",
        "epoch": 4,
        "val_loss": 0.25,
        "val_accuracy": 1.0,
        "epochs": 6,
    }
    assert _kept_weights_epoch(folder) == 4.0
    expected = "kept epoch 4 of 6: lowest validation loss (0.2500, val_accuracy 1.000)"
    assert describe_selection(selection) == expected


def test_the_best_loss_survives_a_resume(tmp_path):
    model, optimizer = _tiny_model()
    first = EpochRecorder(tmp_path, optimizer, model, images_per_epoch=8, val_fields=12)
    _play_epochs(first, model, 0, [(0.9, 1.0), (0.4, 1.0), (0.5, 1.0)])
    state = read_state(tmp_path / "checkpoints" / "last")
    assert (state["best_val_loss"], state["best_epoch"]) == (0.4, 2)
    best_val_loss, best_epoch = resumed_best(tmp_path, state)
    resumed = EpochRecorder(
        tmp_path, optimizer, model, 8, val_fields=12, best_val_loss=best_val_loss, best_epoch=best_epoch
    )
    _play_epochs(resumed, model, 3, [(0.45, 1.0), (0.42, 1.0)])  # worse than epoch 2
    folder, selection = kept_checkpoint(tmp_path, val_fields=12)
    assert (selection["epoch"], selection["val_loss"], selection["epochs"]) == (2, 0.4, 5)
    assert _kept_weights_epoch(folder) == 2.0
    assert read_state(tmp_path / "checkpoints" / "last")["best_epoch"] == 2


def test_resume_of_a_run_recorded_before_best_val_loss(tmp_path):
    """Old runs recorded only ``best_val_accuracy``: start from the loss of their best checkpoint."""
    model, _ = _tiny_model()
    save_checkpoint(
        tmp_path / "checkpoints" / "best", model, None, {"epoch": 2, "metrics": {"val_loss": 0.7}}
    )
    assert resumed_best(tmp_path, {"epoch": 3, "best_val_accuracy": 0.9}) == (0.7, 2)
    assert resumed_best(tmp_path / "none", {"epoch": 3, "best_val_accuracy": 0.9}) == (math.inf, None)


@pytest.mark.parametrize(
    "val_fields, losses, reason",
    [
        (
            MIN_SELECTION_FIELDS - 4,
            [0.9, 0.2, 0.5],
            f"validation set has 4 fields (< {MIN_SELECTION_FIELDS})",
        ),
        (0, [math.nan] * 3, f"validation set has 0 fields (< {MIN_SELECTION_FIELDS})"),
        (MIN_SELECTION_FIELDS, [math.nan] * 3, "no epoch had a finite validation loss"),
    ],
)
def test_last_epoch_is_kept_when_validation_cannot_choose(tmp_path, val_fields, losses, reason):
    model, optimizer = _tiny_model()
    recorder = EpochRecorder(tmp_path, optimizer, model, images_per_epoch=8, val_fields=val_fields)
    _play_epochs(recorder, model, 0, [(v, 1.0) for v in losses])
    assert not (tmp_path / "checkpoints" / "best").exists()
    folder, selection = kept_checkpoint(tmp_path, val_fields=val_fields)
    assert folder == tmp_path / "checkpoints" / "last"
    assert selection == {"rule": "last epoch", "epoch": 3, "reason": reason}
    assert _kept_weights_epoch(folder) == 3.0
    assert describe_selection(selection) == f"kept the last epoch (3): {reason}"
