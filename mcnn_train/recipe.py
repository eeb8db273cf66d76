"""The training recipe of ``hcs train``: every default, and the optimizer, loss and metrics.

A change of the recipe is made here and nowhere else: :class:`mcnn_train.config.TrainConfig`
takes its defaults from this module, ``hcs train`` passes only the options a user gave (its
help and choices are read from here), and the default model (:mod:`mcnn_train.default_model`)
states only where it departs from the recipe.

* Optimisation: momentum SGD (:data:`MOMENTUM`) on the gradient averaged over the global batch:
  by default the canonical step of :mod:`mcnn_train.canonical_step` (micro-batches of
  :data:`MICRO_BATCH` images added in a fixed order: the same bits with 1 or 2 workers);
  ``--nondeterministic`` uses Keras' own step with Horovod's DistributedOptimizer; weight decay as L2 kernel regularisation built into the
  model (gradient ``wd * w``, :data:`WEIGHT_DECAY`); softmax cross-entropy on the logits with
  optional label smoothing; accuracy as the metric.
* Learning rate: :data:`LR_SCHEDULE` (``lr;epoch;lr;...``, see :mod:`mcnn_train.schedule`) for
  ``lr_reference_batch`` images per step, scaled linearly to the global batch with a gradual
  warm-up over :data:`WARMUP_EPOCHS`.
* Workers: :data:`SCALING` ``strong`` keeps the answer whatever the number of workers: the
  global batch is :data:`BATCH_SIZE` images per optimizer step, split evenly over the workers, so
  the learning rate, the steps per epoch and the sample stream are those of one worker.
  ``weak`` (Goyal et al. 2017, for large data sets where throughput matters) gives every worker
  :data:`BATCH_SIZE` images, so the global batch and the learning rate grow with the workers
  (:func:`batch_split`).
* Data: validation split by whole compounds
  (:data:`VAL_SPLIT`, :data:`VAL_FRACTION`), per-plate intensity normalisation
  (:data:`NORMALIZATION`), augmentation by flips, 90-degree rotations and intensity jitter.

Importing this module does not import TensorFlow (the CLI reads its values for ``--help``); the
builders below do.
"""

from __future__ import annotations

from typing import Any

#: ``--val-split``: hold out whole compounds per class (controls split by well) or whole plates.
VAL_SPLITS = ("compound", "plate")
#: ``--normalization``: ``plate``: each plate's own intensity percentiles; ``dataset``: the
#: training set's, for every plate.
NORMALIZATIONS = ("plate", "dataset")
#: ``--scaling``: ``strong``: ``batch_size`` is the global batch, split over the workers (the
#: answer does not depend on the worker count); ``weak``: ``batch_size`` per worker, the global
#: batch and (linearly, with warm-up) the learning rate grow with the workers.
SCALINGS = ("strong", "weak")
#: ``--precision`` -> Keras mixed-precision policy. ``bf16`` computes in bfloat16 with float32
#: variables, logits and loss (needs a CPU with native BF16: :func:`mcnn_infer.cpu.native_bf16`).
PRECISION_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}
PRECISIONS = tuple(PRECISION_POLICIES)
#: ``--precision auto``: bf16 where the CPU computes it fast (:func:`mcnn_infer.cpu.fast_bf16`), else fp32.
AUTO_PRECISION = "auto"
PRECISION_CHOICES = (AUTO_PRECISION, *PRECISIONS)

# The recipe: what shapes a trained model.
MODEL = "mcnn"
EPOCHS = 30
#: Images per optimizer step: over all workers (``strong`` scaling) or per worker (``weak``).
BATCH_SIZE = 8
SCALING = SCALINGS[0]
LR_SCHEDULE = "0.01;20;0.001"
WARMUP_EPOCHS = 2.0
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-5
LABEL_SMOOTHING = 0.0
VAL_SPLIT = VAL_SPLITS[0]
VAL_FRACTION = 0.2
NORMALIZATION = NORMALIZATIONS[0]
AUGMENT = True
#: Per-channel multiplicative intensity jitter of the augmentation: factors in [1 - j, 1 + j].
INTENSITY_JITTER = 0.1
PRECISION = PRECISIONS[0]
SEED = 0
#: Native-resolution tiles: None trains and scores whole fields resized to ``size``; ``(h, w)``
#: trains on random h x w crops of each field at ``size`` and scores the field as the mean over a
#: fixed grid of tiles (:mod:`mcnn_train.models.tiled`).
TILE = None
#: Samples drawn from each training field per epoch (random crops when tiling).
CROPS_PER_FIELD = 1
#: Draw every class equally often (when control counts differ, e.g. 16 negative, 8 positive wells).
BALANCE_CLASSES = False

#: ``--size native``: the plates' own image size (no resizing).
NATIVE_SIZE = "native"

#: ``--preset``: named recipes for a kind of data; the options a user gives override them.
#: ``plate-controls``: train on one or two plates' control wells (16-32 wells, 1-9 sites) and
#: score the plate's doses: the small M-CNN on 256x256 tiles at native resolution, 24 random
#: tiles per field and epoch, balanced classes, strong per-channel intensity jitter (x0.4 to
#: x1.6: wells differ in stain and illumination, and a ratio-like readout should not care; on
#: the sbs96 plate it raised the held-out Z' of the worst of 3 seeds from 0.44 to 0.88), label
#: smoothing 0.1 (bounded logits), a schedule that converges within 30 epochs.
PRESETS: dict[str, dict[str, Any]] = {
    "plate-controls": {
        "model": "mcnn-small",
        "size": NATIVE_SIZE,
        "tile": (256, 256),
        "crops_per_field": 24,
        "balance_classes": True,
        "epochs": 30,
        "batch_size": 16,
        "lr_schedule": "0.02;20;0.002",
        "warmup_epochs": 2.0,
        "label_smoothing": 0.1,
        "intensity_jitter": 0.6,
        "val_fraction": 0.2,
    },
}

# How a run is executed (the result does not depend on them, except for the data order).
WORKERS = 1
DETERMINISTIC = True
#: ``--micro-batch``: images per gradient computation of the canonical step
#: (:mod:`mcnn_train.canonical_step`); the per-worker batch must be a multiple of it. Small
#: enough for 2 workers of a batch of 4 to share the step, large enough that a single-threaded
#: op has work (on 2 cores the step ran 1.09x as fast as Keras' own: benchmarks/train_throughput.py).
MICRO_BATCH = 2


def batch_split(scaling: str, batch_size: int, workers: int) -> tuple[int, int]:
    """The global batch and each worker's batch (images per optimizer step) of a run.

    Parameters
    ----------
    scaling : str
        ``strong`` (``batch_size`` is the global batch) or ``weak`` (``batch_size`` per worker).
    batch_size : int
        ``--batch-size``.
    workers : int
        Number of workers that run (``--workers``, or the launcher's size under horovodrun / mpirun).

    Returns
    -------
    (int, int)
        ``(global_batch, local_batch)``.

    Raises
    ------
    ConfigError
        Strong scaling with a batch that ``workers`` does not divide.
    """
    from mcnn_infer.errors import ConfigError

    if scaling == "weak":
        return batch_size * workers, batch_size
    if batch_size % workers:
        examples = sorted({max(workers, batch_size // workers * workers), -(-batch_size // workers) * workers})
        raise ConfigError(
            f"--batch-size {batch_size} cannot be split evenly over {workers} workers (strong scaling keeps "
            f"the global batch): expected a multiple of {workers}, e.g. {' or '.join(map(str, examples))}"
        )
    return batch_size, batch_size // workers


def micro_batches(local_batch: int, micro_batch: int | None, workers: int) -> int:
    """Micro-batches per worker and step of the canonical step (0 without one).

    Parameters
    ----------
    local_batch : int
        Images per step on one worker (:func:`batch_split`).
    micro_batch : int or None
        ``--micro-batch``; None = Keras' own step.
    workers : int
        Number of workers (for the message).

    Raises
    ------
    ConfigError
        ``local_batch`` is not a multiple of ``micro_batch``.
    """
    from mcnn_infer.errors import ConfigError

    if micro_batch is None:
        return 0
    if local_batch % micro_batch:
        divisors = [d for d in range(1, local_batch + 1) if local_batch % d == 0]
        raise ConfigError(
            f"each of {workers} worker(s) takes {local_batch} images per step, which is not a multiple of "
            f"--micro-batch {micro_batch}: expected --micro-batch one of {divisors}, or a --batch-size "
            f"that gives each worker a multiple of {micro_batch}"
        )
    return local_batch // micro_batch


def make_optimizer(learning_rate: Any, momentum: float = MOMENTUM, allreduce: bool = True):
    """Momentum SGD (Keras legacy optimizer), wrapped by Horovod's DistributedOptimizer.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule
        Learning rate (the run's schedule, :func:`mcnn_train.schedule.make_schedule`).
    momentum : float
        SGD momentum.
    allreduce : bool
        Wrap it (gradients averaged over the workers by the optimizer); False when the training
        step sums them itself (:mod:`mcnn_train.canonical_step`).
    """
    import tensorflow as tf

    from mcnn_train import distributed

    sgd = tf.keras.optimizers.legacy.SGD(learning_rate=learning_rate, momentum=momentum)
    return distributed.distributed_optimizer(sgd) if allreduce else sgd


def make_loss(label_smoothing: float = LABEL_SMOOTHING):
    """Softmax cross-entropy on the (float32) logits, with label smoothing."""
    import tensorflow as tf

    return tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)


def make_metrics() -> list:
    """The metrics Keras logs per epoch (``accuracy``, ``val_accuracy`` in ``metrics.jsonl``)."""
    import tensorflow as tf

    return [tf.keras.metrics.CategoricalAccuracy(name="accuracy")]


def compile_for_training(
    model,
    learning_rate: Any,
    momentum: float = MOMENTUM,
    label_smoothing: float = LABEL_SMOOTHING,
    micro_batch: int | None = None,
    local_batch: int | None = None,
    global_batch: int | None = None,
):
    """The logits-only training view of ``model``, compiled with the recipe's optimizer and loss.

    The loss is the cross-entropy of :func:`make_loss` plus the model's L2 losses. Under
    ``mixed_bfloat16`` Keras adds no loss scaling (it wraps the optimizer only for
    ``mixed_float16``), so the optimizer updates the float32 variables with the float32
    gradients directly.

    Parameters
    ----------
    model : tf.keras.Model
        The M-CNN (outputs ``[logits, embedding]``).
    learning_rate : float or LearningRateSchedule
        Learning rate (the run's schedule).
    momentum, label_smoothing : float
        SGD momentum and label smoothing.
    micro_batch : int or None
        Images per gradient computation of the canonical step
        (:class:`mcnn_train.canonical_step.CanonicalStepModel`, with ``local_batch`` and
        ``global_batch``: images per step on this worker and over all); None = Keras' own step
        with Horovod's DistributedOptimizer.

    Returns
    -------
    train_model : tf.keras.Model
        ``image -> logits``, sharing the layers (and weights) of ``model``.
    optimizer : optimizer
        The optimizer.
    """
    import tensorflow as tf

    name = f"{model.name}_train"
    optimizer = make_optimizer(learning_rate, momentum, allreduce=micro_batch is None)
    if micro_batch is None:
        train_model = tf.keras.Model(model.input, model.outputs[0], name=name)
    else:
        from mcnn_train.canonical_step import CanonicalStepModel, keep_addition_order

        keep_addition_order()
        train_model = CanonicalStepModel(
            model.input,
            model.outputs[0],
            name=name,
            micro_batch=micro_batch,
            local_batch=local_batch,
            global_batch=global_batch,
        )
    train_model.compile(optimizer=optimizer, loss=make_loss(label_smoothing), metrics=make_metrics())
    return train_model, optimizer


def compile_for_run(model, config, steps_per_epoch: int, global_batch: int, local_batch: int):
    """:func:`compile_for_training` with a run's values (a resolved :class:`~mcnn_train.config.TrainConfig`).

    The learning rate is ``config.lr_schedule`` for ``config.lr_reference_batch`` images per step,
    scaled linearly to ``global_batch`` (images per step summed over the workers that run) with
    a warm-up of ``config.warmup_epochs`` (:func:`mcnn_train.schedule.make_schedule`). The step
    is the canonical one when ``config.micro_batch`` is set.
    """
    from mcnn_train.schedule import make_schedule

    schedule = make_schedule(
        config.lr_schedule,
        steps_per_epoch,
        global_batch,
        config.lr_reference_batch or config.batch_size,
        config.warmup_epochs,
    )
    return compile_for_training(
        model,
        schedule,
        config.momentum,
        config.label_smoothing,
        micro_batch=config.micro_batch,
        local_batch=local_batch,
        global_batch=global_batch,
    )


def build_optimizer_state(optimizer, variables) -> None:
    """Create the optimizer's step counter and momentum slots for ``variables`` now.

    Keras creates them at the first update; a resumed run needs them before it restores its
    checkpoint, so they are restored (and checked) at once. Public Keras API only
    (``iterations``, ``add_slot``); the slots are those the recipe's SGD creates itself
    (``momentum``, when the momentum is not 0). Hyperparameter variables are restored as well:
    at once when they exist, else when Keras creates them.
    """
    _ = optimizer.iterations  # created on first access
    if float(optimizer.momentum):
        for variable in variables:
            optimizer.add_slot(variable, "momentum")
