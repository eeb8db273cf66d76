"""Checkpoints of a run: ``checkpoints/last`` (weights + optimizer + position, for ``--resume``)
and ``checkpoints/best`` (weights of the epoch with the lowest validation loss).

A checkpoint folder is written under a temporary name and swapped into place, so a crash
leaves either the previous or the new checkpoint, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import tensorflow as tf

from mcnn_infer.atomic import write_json
from mcnn_infer.errors import HcsError

STATE_FILE = "state.json"
PREFIX = "ckpt"


class CheckpointError(HcsError):
    """A checkpoint that is missing, damaged or not written by ``hcs train``."""


def _swap_in(tmp: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(
    folder: Path,
    model: tf.keras.Model,
    optimizer: tf.keras.optimizers.Optimizer | None,
    state: dict[str, Any],
) -> None:
    """Write model (and optimizer) variables plus ``state`` (JSON) to ``folder`` atomically.

    Parameters
    ----------
    folder : Path
        Final checkpoint folder, e.g. ``RUN/checkpoints/last``.
    model : tf.keras.Model
        Model whose variables are saved.
    optimizer : optimizer or None
        Saved too when given (momentum slots and the step counter).
    state : dict
        JSON-serialisable position, e.g. ``{"epoch": 3, "best_val_loss": 0.4, "best_epoch": 2}``.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    objects = {"model": model}
    if optimizer is not None:
        objects["optimizer"] = optimizer
    tf.train.Checkpoint(**objects).write(str(tmp / PREFIX))
    write_json(tmp / STATE_FILE, state)
    _swap_in(tmp, folder)


def find_checkpoint(folder: Path) -> Path | None:
    """The checkpoint folder to restore from (``folder`` or its ``.old`` left by a crash), or None."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def read_state(folder: Path) -> dict[str, Any]:
    """The validated ``state.json`` of a checkpoint folder.

    Raises
    ------
    CheckpointError
        No checkpoint, invalid JSON, or ``epoch``/``step``/``best_val_loss``/``best_epoch``
        (``best_val_accuracy`` in runs written before) of the wrong type.
    """
    found = find_checkpoint(folder)
    if found is None:
        raise CheckpointError(
            f"no checkpoint in {folder}: expected {STATE_FILE} and {PREFIX}.* written by hcs train"
        )
    path = found / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint state {path} is not valid JSON ({exc}); expected the file written by hcs train"
        ) from None
    checks = (
        ("epoch", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
        (
            "step",
            lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
            "an integer >= 0",
        ),
        ("best_val_loss", lambda v: v is None or isinstance(v, int | float), "a number"),
        (
            "best_epoch",
            lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
            "an integer >= 1",
        ),
        ("best_val_accuracy", lambda v: v is None or isinstance(v, int | float), "a number"),
    )
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint state {path} is a {type(state).__name__}, expected a JSON object")
    for key, ok, expected in checks:
        value = state.get(key) if key != "epoch" else state.get(key, "missing")
        if not ok(value):
            raise CheckpointError(f"checkpoint state {path}: {key!r} is {value!r} (expected {expected})")
    return state


def restore_checkpoint(
    folder: Path, model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer | None
) -> dict[str, Any]:
    """Load variables saved by :func:`save_checkpoint` into ``model``/``optimizer``; return the state.

    The optimizer's slot variables must exist already
    (:func:`mcnn_train.recipe.build_optimizer_state`) so they are restored now and checked. TensorFlow verifies a CRC32C of every tensor, so a
    truncated or bit-flipped checkpoint fails here.

    Raises
    ------
    CheckpointError
        Missing, damaged or mismatching checkpoint files (message names the folder).
    """
    state = read_state(folder)
    found = find_checkpoint(folder)
    objects = {"model": model}
    if optimizer is not None:
        objects["optimizer"] = optimizer
    try:
        status = tf.train.Checkpoint(**objects).read(str(found / PREFIX))
        status.assert_existing_objects_matched()
        if optimizer is None:
            status.expect_partial()  # the optimizer's slots in the file are not wanted here
    except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as exc:
        reason = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        raise CheckpointError(
            f"checkpoint {found} cannot be restored ({type(exc).__name__}: {reason}); expected intact files "
            "written by hcs train for this model (delete the run folder to start over)"
        ) from None
    return state
