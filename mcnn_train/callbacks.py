"""Keras callbacks of the chief worker: progress bar, per-epoch metrics, checkpoints."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tensorflow as tf
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mcnn_infer.atomic import write_text
from mcnn_train.checkpoints import find_checkpoint, read_state, save_checkpoint

#: With fewer validation fields than this the epoch is not chosen on validation loss (each field
#: is more than 1/8 of the set, so the choice would follow a single image): the last epoch is kept.
MIN_SELECTION_FIELDS = 8


class RichProgress(tf.keras.callbacks.Callback):
    """A rich progress bar over all steps of the run: images/s, loss and ETA.

    Parameters
    ----------
    total_epochs, first_epoch, steps_per_epoch : int
        Run geometry (the bar covers epochs ``first_epoch .. total_epochs-1``).
    global_batch : int
        Images per step over all workers (for images/s).
    console : rich.console.Console or None
        Where to draw; None = stderr.
    """

    def __init__(
        self, total_epochs: int, first_epoch: int, steps_per_epoch: int, global_batch: int, console=None
    ):
        super().__init__()
        self.total_steps = (total_epochs - first_epoch) * steps_per_epoch
        self.global_batch = global_batch
        self.epochs = total_epochs
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.1f} img/s"),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.task = None
        self._t0 = 0.0
        self._done = 0

    def on_train_begin(self, logs=None):
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.total_steps, rate=0.0, loss="-")
        self._t0 = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.progress.update(self.task, description=f"epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._done += 1
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        loss = (logs or {}).get("loss")
        self.progress.update(
            self.task,
            advance=1,
            rate=self._done * self.global_batch / elapsed,
            loss=f"{loss:.4f}" if loss is not None else "-",
        )

    def on_train_end(self, logs=None):
        self.progress.stop()


class EpochRecorder(tf.keras.callbacks.Callback):
    """Append one JSON line per epoch to ``metrics.jsonl`` (rewritten atomically) and save checkpoints.

    Records epoch (1-based count of completed epochs), learning rate of the epoch's last step,
    all Keras logs (loss, accuracy, val_loss, val_accuracy; averaged over workers), training
    images/s (global, validation excluded), training seconds and total epoch seconds. Saves
    ``checkpoints/last`` every epoch and ``checkpoints/best`` when ``val_loss`` is lower than in
    every earlier epoch (ties and NaN keep the earlier epoch). Validation accuracy is not the
    criterion: on a small validation set it reaches 1.0 early and stays there while the model
    still improves. With fewer than :data:`MIN_SELECTION_FIELDS` validation fields no ``best``
    is written (:func:`kept_checkpoint` keeps the last epoch). The lowest loss and its epoch are
    in every checkpoint's ``state.json`` (``best_val_loss``, ``best_epoch``), so a resumed run
    continues the same comparison.

    Parameters
    ----------
    run_dir : Path
        Run folder.
    optimizer : optimizer
        The optimizer (for its state and the current learning rate).
    weights_model : tf.keras.Model
        The model whose variables are checkpointed.
    images_per_epoch : int
        Global images per epoch.
    val_fields : int
        Fields of the whole validation set (all workers).
    best_val_loss : float
        Lowest validation loss of earlier epochs (resume: :func:`resumed_best`), ``inf`` for a fresh run.
    best_epoch : int or None
        The epoch of ``best_val_loss`` (None for a fresh run).
    on_epoch_saved : callable or None
        Called with the epoch number after the checkpoint is written (cache flush, tests).
    """

    def __init__(
        self,
        run_dir: Path,
        optimizer,
        weights_model: tf.keras.Model,
        images_per_epoch: int,
        val_fields: int,
        best_val_loss: float = math.inf,
        best_epoch: int | None = None,
        on_epoch_saved: Callable[[int], None] | None = None,
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.optimizer = optimizer
        self.weights_model = weights_model
        self.images_per_epoch = images_per_epoch
        self.select_on_loss = last_epoch_reason(val_fields) is None
        self.best_val_loss = best_val_loss
        self.best_epoch = best_epoch
        self.on_epoch_saved = on_epoch_saved
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self._t0 = 0.0
        self._train_seconds: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        self._train_seconds = None

    def on_test_begin(self, logs=None):
        if self._train_seconds is None:  # validation inside fit: training part of the epoch ends here
            self._train_seconds = time.perf_counter() - self._t0

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._t0
        train_seconds = self._train_seconds or seconds
        logs = {k: float(v) for k, v in (logs or {}).items()}
        step = int(self.optimizer.iterations.numpy())
        lr = self.optimizer.learning_rate
        lr_value = float(lr(step - 1)) if callable(lr) else float(tf.keras.backend.get_value(lr))
        record = {
            "epoch": epoch + 1,
            "step": step,
            "lr": lr_value,
            **logs,
            "images_per_s": self.images_per_epoch / max(train_seconds, 1e-9),
            "train_seconds": train_seconds,
            "seconds": seconds,
        }
        lines = read_metrics(self.metrics_path, before_epoch=epoch + 1)
        lines.append(record)
        write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in lines))
        improved = self.select_on_loss and logs.get("val_loss", math.nan) < self.best_val_loss
        if improved:
            self.best_val_loss, self.best_epoch = logs["val_loss"], epoch + 1
        state = {
            "epoch": epoch + 1,
            "step": step,
            "best_val_loss": self.best_val_loss if self.best_epoch is not None else None,
            "best_epoch": self.best_epoch,
            "metrics": record,
        }
        if improved:
            save_checkpoint(self.run_dir / "checkpoints" / "best", self.weights_model, None, state)
        save_checkpoint(self.run_dir / "checkpoints" / "last", self.weights_model, self.optimizer, state)
        if self.on_epoch_saved is not None:
            self.on_epoch_saved(epoch + 1)


def read_metrics(path: Path, before_epoch: int | None = None) -> list[dict[str, Any]]:
    """Records of ``metrics.jsonl`` (all, or those with ``epoch < before_epoch``)."""
    path = Path(path)
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if before_epoch is not None:
        records = [r for r in records if r["epoch"] < before_epoch]
    return records


def last_epoch_reason(val_fields: int) -> str | None:
    """Why the last epoch is kept instead of the lowest validation loss; None when the loss decides."""
    if val_fields < MIN_SELECTION_FIELDS:
        return f"validation set has {val_fields} fields (< {MIN_SELECTION_FIELDS})"
    return None


def resumed_best(run_dir: Path, last_state: dict[str, Any]) -> tuple[float, int | None]:
    """Lowest validation loss so far and its epoch, for resuming from ``last_state``.

    Runs written before ``best_val_loss`` was recorded start from the loss of their
    ``checkpoints/best`` (``inf`` without one).
    """
    if last_state.get("best_val_loss") is not None:
        return float(last_state["best_val_loss"]), last_state.get("best_epoch")
    folder = find_checkpoint(Path(run_dir) / "checkpoints" / "best")
    best = read_state(folder) if folder is not None else {}
    val_loss = best.get("metrics", {}).get("val_loss")
    return (math.inf, None) if val_loss is None else (float(val_loss), best["epoch"])


def kept_checkpoint(run_dir: Path, val_fields: int) -> tuple[Path, dict[str, Any]]:
    """The checkpoint that holds the model to keep, and the record of why it was chosen.

    Parameters
    ----------
    run_dir : Path
        Run folder after training (``checkpoints/last`` exists).
    val_fields : int
        Fields of the whole validation set.

    Returns
    -------
    folder : Path
        ``checkpoints/best`` (lowest validation loss) or ``checkpoints/last``.
    selection : dict
        ``{"rule": "min val_loss", "epoch", "val_loss", "val_accuracy", "epochs"}`` or
        ``{"rule": "last epoch", "epoch", "reason"}`` (for the console and the model card).
    """
    checkpoints = Path(run_dir) / "checkpoints"
    last = read_state(checkpoints / "last")
    reason = last_epoch_reason(val_fields)
    if reason is None:
        best_folder = find_checkpoint(checkpoints / "best")
        if best_folder is not None:
            best = read_state(best_folder)
            metrics = best.get("metrics", {})
            return checkpoints / "best", {
                "rule": "min val_loss",
                "epoch": best["epoch"],
                "val_loss": metrics.get("val_loss"),
                "val_accuracy": metrics.get("val_accuracy"),
                "epochs": last["epoch"],
            }
        reason = "no epoch had a finite validation loss"
    return checkpoints / "last", {"rule": "last epoch", "epoch": last["epoch"], "reason": reason}


def describe_selection(selection: dict[str, Any]) -> str:
    """One console line for a :func:`kept_checkpoint` selection."""
    if selection["rule"] == "min val_loss":
        accuracy = selection.get("val_accuracy")
        shown = f", val_accuracy {accuracy:.3f}" if accuracy is not None else ""
        return (
            f"kept epoch {selection['epoch']} of {selection['epochs']}: lowest validation loss "
            f"({selection['val_loss']:.4f}{shown})"
        )
    return f"kept the last epoch ({selection['epoch']}): {selection['reason']}"
