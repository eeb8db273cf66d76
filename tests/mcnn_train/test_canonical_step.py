"""The canonical step: micro-batch gradients added in a fixed tree (bitwise across worker counts:
the 2-process test is ``test_trainer.py::test_two_workers_train_the_model_one_worker_trains``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_train.config import TrainConfig


def test_tree_sum_adds_left_half_to_right_half():
    """Float32 rounding tells the orders apart: the tree gives 0, a running sum would give 1."""
    import tensorflow as tf

    from mcnn_train.canonical_step import tree_sum

    parts = [[tf.constant([v], tf.float32)] for v in (1e8, 1.0, -1e8, 1.0)]
    assert float(tree_sum(parts)[0][0]) == float((np.float32(1e8) + np.float32(1)) + (np.float32(-1e8) + np.float32(1)))
    assert float(tree_sum(parts)[0][0]) == 0.0
    assert float(tree_sum(parts[:3])[0][0]) == 0.0  # (1e8 + 1) + -1e8: odd counts split left-heavy
    assert float(tree_sum(parts[:1])[0][0]) == 1e8


def _models(micro_batch: int | None):
    import tensorflow as tf

    from mcnn_train import distributed
    from mcnn_train.models import get_model_spec
    from mcnn_train.recipe import compile_for_training

    distributed.init()
    tf.keras.utils.set_random_seed(5)
    model = get_model_spec("mcnn-small").build(128, 128, 3, 4, weight_decay=5e-4)
    train_model, _ = compile_for_training(model, 0.05, micro_batch=micro_batch, local_batch=4, global_batch=4)
    return model, train_model


def test_canonical_step_makes_the_update_of_the_whole_batch():
    """One step on 4 images as 2 micro-batches of 2: the update Keras' own step makes (to rounding),
    and the same loss and accuracy logged."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.random((4, 128, 128, 3), dtype=np.float32)
    y = tf.one_hot([0, 1, 2, 3], 4)
    results = {}
    for micro in (None, 2):
        model, train_model = _models(micro)
        before = [w.copy() for w in model.get_weights()]
        logs = train_model.train_on_batch(x, y, return_dict=True)
        results[micro] = (before, model.get_weights(), logs)
    (b0, w0, l0), (b1, w1, l1) = results[None], results[2]
    for a, b in zip(b0, b1, strict=True):
        np.testing.assert_array_equal(a, b)  # same start
    moved = [not np.array_equal(a, b) for a, b in zip(b0, w0, strict=True)]
    assert sum(moved) > 20
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert l1["loss"] == pytest.approx(l0["loss"], rel=1e-5)
    assert l1["accuracy"] == pytest.approx(l0["accuracy"])


def test_micro_batch_must_divide_each_workers_batch(tmp_path):
    base = {"out": tmp_path / "r", "data_root": tmp_path, "batch_size": 12, "workers": 2}
    with pytest.raises(ConfigError, match=r"takes 6 images per step.*--micro-batch 4: expected --micro-batch one of \[1, 2, 3, 6\]"):
        TrainConfig(**base, micro_batch=4).resolved()
    assert TrainConfig(**base, micro_batch=3).resolved().micro_batch == 3
    assert TrainConfig(**base, micro_batch=None).resolved().micro_batch is None
    with pytest.raises(ConfigError, match="micro-batch 0 is out of range"):
        TrainConfig(**base, micro_batch=0).resolved()


def test_runs_from_before_the_canonical_step_resume_with_keras_step():
    assert TrainConfig.from_dict({"out": "x"}).micro_batch is None
    assert TrainConfig(out=Path("x")).micro_batch == 2
    assert TrainConfig.from_dict(TrainConfig(out=Path("x"), micro_batch=4).to_dict()).micro_batch == 4
