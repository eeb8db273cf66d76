from __future__ import annotations

import io
import json

import numpy as np
from rich.console import Console

from mcnn_train.callbacks import EpochRecorder, RichProgress, read_metrics


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
    recorder = EpochRecorder(tmp_path, optimizer, model, images_per_epoch=16)
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
    assert best["best_val_accuracy"] == max(r["val_accuracy"] for r in records)
    assert best["epoch"] == next(
        r["epoch"] for r in records if r["val_accuracy"] == best["best_val_accuracy"]
    )
    assert read_metrics(tmp_path / "metrics.jsonl", before_epoch=2) == records[:1]
