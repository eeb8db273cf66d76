from __future__ import annotations

import os

import numpy as np
import pytest

from mcnn_train.checkpoints import (
    CheckpointError,
    find_checkpoint,
    read_state,
    restore_checkpoint,
    save_checkpoint,
)
from mcnn_train.models import build_model
from mcnn_train.recipe import build_optimizer_state


def test_save_restore_and_crash_recovery(tmp_path):
    import tensorflow as tf

    model = build_model("mcnn-small", 128, 128, 1, 2)
    optimizer = tf.keras.optimizers.legacy.SGD(0.1, momentum=0.9)
    build_optimizer_state(optimizer, model.trainable_variables)
    optimizer.iterations.assign(7)
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:  # momentum slots with values a restore must bring back
        optimizer.get_slot(variable, "momentum").assign(
            rng.standard_normal(variable.shape).astype(np.float32)
        )
    folder = tmp_path / "checkpoints" / "last"
    save_checkpoint(folder, model, optimizer, {"epoch": 1, "step": 3})
    save_checkpoint(folder, model, optimizer, {"epoch": 2, "step": 7})  # replaces the first one
    assert read_state(folder) == {"epoch": 2, "step": 7}
    assert sorted(p.name for p in folder.parent.iterdir()) == ["last"]

    other = build_model("mcnn-small", 128, 128, 1, 2)
    other_opt = tf.keras.optimizers.legacy.SGD(0.1, momentum=0.9)
    build_optimizer_state(other_opt, other.trainable_variables)
    assert restore_checkpoint(folder, other, other_opt) == {"epoch": 2, "step": 7}
    assert int(other_opt.iterations.numpy()) == 7
    assert len(other_opt.weights) == len(optimizer.weights) == 1 + len(model.trainable_variables)
    for v, w in zip(model.trainable_variables, other.trainable_variables, strict=True):
        np.testing.assert_array_equal(optimizer.get_slot(v, "momentum"), other_opt.get_slot(w, "momentum"))
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    # a crash between the two renames leaves only last.old: it is still found
    os.replace(folder, folder.with_name("last.old"))
    assert find_checkpoint(folder) == folder.with_name("last.old")
    assert read_state(folder)["epoch"] == 2
    with pytest.raises(CheckpointError, match="no checkpoint"):
        read_state(tmp_path / "nothing")


def test_single_process_collectives():
    from mcnn_train import distributed

    info = distributed.init()
    assert (info.rank, info.size, info.is_chief) == (0, 1, True)
    assert distributed.allgather_object({"a": 1}) == [{"a": 1}]
    assert distributed.broadcast_object("x") == "x"
    assert distributed.allreduce_sum(3) == 3.0


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda f: (f / "state.json").write_text("{epoch"), "not valid JSON"),
        (lambda f: (f / "state.json").write_text('{"epoch": "one"}'), "'epoch' is 'one'"),
        (lambda f: (f / "ckpt.index").unlink(), "cannot be restored"),
        (lambda f: _truncate(next(f.glob("ckpt.data-*"))), "cannot be restored"),
    ],
)
def test_damaged_checkpoints_raise_checkpoint_error(tmp_path, damage, match):
    model = build_model("mcnn-small", 128, 128, 1, 2)
    folder = tmp_path / "last"
    save_checkpoint(folder, model, None, {"epoch": 1, "step": 2})
    damage(folder)
    with pytest.raises(CheckpointError, match=match) as info:
        restore_checkpoint(folder, build_model("mcnn-small", 128, 128, 1, 2), None)
    assert str(folder) in str(info.value)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
