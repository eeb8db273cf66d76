"""``hcs train``: train the M-CNN with Horovod data parallelism and write a run folder.

Run folder (``config.out``)::

    config.json            resolved TrainConfig
    data/                  fields.parquet (labelled fields), plan.json (split, classes, normalisation)
    checkpoints/last/      weights + optimizer + position (``--resume``)
    checkpoints/best/      weights of the epoch with the lowest validation loss
    metrics.jsonl          one line per epoch (loss, accuracy, val_*, lr, images/s)
    tensorboard/           TensorBoard event files
    model/                 SavedModel, serving signature: input ``image`` -> ``logits``, ``embedding``
    model.keras            the same model in Keras format (built-in layers only; safe_mode loads it)
    eval/                  validation: summary.json, predictions/treatments/per_class/confusion CSV, PNG
    card.json              model card (ARCHITECTURE.md)
    cache/                 preprocessed fields (safe to delete)

Optimisation: the recipe's (:mod:`mcnn_train.recipe`: momentum SGD made by the canonical step of
:mod:`mcnn_train.canonical_step`, or with ``--nondeterministic`` by Keras' own step with Horovod's
DistributedOptimizer; L2 weight decay, softmax cross-entropy with optional label smoothing, the
learning rate of :mod:`mcnn_train.schedule` scaled to the global batch with warm-up).

Workers (``--workers``, or the launcher's size under horovodrun / mpirun): with the default
``strong`` scaling the global batch is ``--batch-size``, split evenly over the workers, and every
worker loads its slice of each global step of one sample stream (:mod:`mcnn_train.data`); the
gradients are averaged over the workers, so N workers make the updates one worker makes, and
the model does not depend on N: bit for bit with 1 and 2 workers (the canonical step), to float
rounding with more. Every worker caches all training fields
and its share of the validation fields; epoch metrics are combined as one worker would log them
(:class:`mcnn_train.distributed.WeightedMetricAverage`). ``weak`` scaling gives every worker
``--batch-size`` images per step instead (:func:`mcnn_train.recipe.batch_split`).

The exported model holds the weights of the epoch with the lowest validation loss, or of the
last epoch when the validation set has fewer than :data:`mcnn_train.callbacks.MIN_SELECTION_FIELDS`
fields (:func:`mcnn_train.callbacks.kept_checkpoint`;
the card's ``training.selection`` says which and why).

Precision: ``auto`` (resolved once by the chief: :mod:`mcnn_train.training_precision`),
``fp32``, or ``bf16`` on CPUs with native BF16 (Keras policy ``mixed_bfloat16``, set in
each worker before the model is built: bfloat16 convolutions and dense layers, float32 variables,
logits and loss; no loss scaling, which bfloat16's float32 exponent range does not need). The
exported model is a float32 copy of the kept weights, so ``model/``, ``model.keras`` and every
format exported from them are float32 whatever the training precision.

Set ``HCS_TRAIN_CHECK_DIR`` to make every worker write ``rank<r>.json`` with a checksum of its
final weights and its local / global batch, and ``rank<r>_weights.npz`` with the weights (used
by the multi-worker tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf
from rich.console import Console

from mcnn_infer.atomic import write_json
from mcnn_infer.cpu import cpu_report, require_native_bf16
from mcnn_infer.errors import ConfigError, HcsError
from mcnn_infer.preprocess import tile_offsets
from mcnn_train import distributed, recipe
from mcnn_train.callbacks import (
    EpochRecorder,
    RichProgress,
    describe_selection,
    kept_checkpoint,
    resumed_best,
)
from mcnn_train.card_builder import build_card, write_card
from mcnn_train.checkpoints import find_checkpoint, read_state, restore_checkpoint
from mcnn_train.config import TrainConfig
from mcnn_train.data import (
    inference_dataset,
    labelled_dataset,
    labelled_tiles_dataset,
    shard,
    training_dataset,
)
from mcnn_train.evaluation import evaluate_predictions, write_evaluation
from mcnn_train.field_cache import FieldCache
from mcnn_train.labelled_fields import find_label_files, find_plate_dirs
from mcnn_train.launcher import launch_local
from mcnn_train.models import get_model_spec
from mcnn_train.models.tiled import build_tiled_model
from mcnn_train.recipe import (
    AUTO_PRECISION,
    batch_split,
    build_optimizer_state,
    compile_for_run,
    micro_batches,
)
from mcnn_train.run_lock import run_folder_lock
from mcnn_train.run_plan import RunPlan, make_plan
from mcnn_train.training_precision import resolve_training_precision

_console = Console(stderr=True, highlight=False, soft_wrap=True)
CHECK_DIR_ENV = "HCS_TRAIN_CHECK_DIR"
_HOROVOD_ENV = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


class TrainingError(HcsError):
    """Training stopped because of bad input met while reading data."""


def under_horovod() -> bool:
    """True when this process was started by horovodrun / mpirun as one of several workers."""
    return any(name in os.environ for name in _HOROVOD_ENV)


def train(config: TrainConfig) -> Path:
    """Train (or resume) a run and return its folder.

    With ``config.workers > 1`` outside horovodrun this starts the local Horovod workers
    (:func:`mcnn_train.launcher.launch_local`); under horovodrun/mpirun every process calls
    this and becomes one worker; otherwise it trains in this process.
    """
    config = _with_native_size(config).resolved()
    require_precision(config)
    # one writer per run folder (rank 0 under horovodrun/mpirun; local workers inherit it)
    with run_folder_lock(config.out):
        config = _with_data_paths(config)
        if config.workers > 1 and not under_horovod():
            config.out.mkdir(parents=True, exist_ok=True)
            if not config.resume:
                _check_fresh_out(config.out)
            write_json(config.out / "config.json", config.to_dict())
            launch_local(config.out / "config.json", config.workers, config.threads_per_worker)
            return config.out
        return run_worker(config)


def resume(
    run_dir: Path, epochs: int | None = None, workers: int | None = None, precision: str | None = None
) -> Path:
    """Continue the run in ``run_dir`` from ``checkpoints/last`` (same schedule position and data order).

    Parameters
    ----------
    run_dir : Path
        A run folder written by :func:`train`.
    epochs : int or None
        New total number of epochs (None: the run's).
    workers : int or None
        Local workers (None: the run's). With strong scaling any count continues the same run;
        with weak scaling a different count is refused (it would change the global batch).
    precision : str or None
        None or the run's own precision; a resumed run keeps the precision it was started with.

    Raises
    ------
    ConfigError
        When ``precision`` differs from the run's (``config.json``).
    """
    run_dir = Path(run_dir)
    config = TrainConfig.load(run_dir / "config.json")
    if precision is not None and precision != config.precision:
        raise ConfigError(
            f"--precision {precision}: the run {run_dir} trains in {config.precision} ({run_dir / 'config.json'}); "
            f"expected no --precision or {config.precision} with --resume"
        )
    changes: dict = {"resume": True, "out": run_dir}
    if epochs is not None:
        changes["epochs"] = epochs
    if workers is not None:
        changes["workers"] = workers
    return train(dataclasses.replace(config, **changes))


def require_precision(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` when ``config.precision`` needs CPU features this machine lacks."""
    if config.precision == "bf16":  # auto never needs them: it takes bf16 only where it is native
        require_native_bf16("hcs train --precision bf16")


@contextlib.contextmanager
def keras_policy(name: str):
    """Set the global Keras dtype policy (``float32``, ``mixed_bfloat16``) for the block, then restore it.

    Layers take the policy when they are built, so the model must be built inside the block.
    """
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def _with_data_paths(config: TrainConfig) -> TrainConfig:
    if config.data_root is None:
        return config
    plates = config.plates or find_plate_dirs(Path(config.data_root))
    labels = config.labels or find_label_files(Path(config.data_root))
    return dataclasses.replace(config, plates=list(plates), labels=list(labels))


def _with_native_size(config: TrainConfig) -> TrainConfig:
    """``size="native"`` replaced by the first plate's image (height, width) in pixels."""
    if config.size != recipe.NATIVE_SIZE:
        return config
    from mcnn_infer.images import image_info
    from mcnn_infer.plates import scan_plate

    plates = config.plates or (find_plate_dirs(Path(config.data_root)) if config.data_root else [])
    if not plates:
        raise ConfigError("--size native needs plate folders (or --data ROOT) to read the image size from")
    scan = scan_plate(plates[0], layout=config.layout, pattern=config.pattern)
    first = str(scan.fields.iloc[0][scan.path_columns[0]])
    info = image_info(first)
    return dataclasses.replace(config, size=(info.height, info.width))


def _check_fresh_out(out: Path) -> None:
    if find_checkpoint(out / "checkpoints" / "last") is not None:
        raise ConfigError(
            f"run folder {out} already holds a training run (checkpoints/last); expected an empty or new "
            "--out, or use --resume to continue it"
        )


def _chief_prepare(config: TrainConfig, workers: int) -> RunPlan:
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    if config.resume:
        read_state(out / "checkpoints" / "last")  # raises when there is nothing to resume
        plan = RunPlan.load(out)
        write_json(out / "config.json", config.to_dict())  # e.g. a new total of epochs
        return plan
    _check_fresh_out(out)
    for stale in ("metrics.jsonl", "eval", "model", "model.keras", "card.json", "tensorboard"):
        path = out / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    plan = make_plan(config, workers)
    write_json(out / "config.json", config.to_dict())
    plan.save(out)
    return plan


def _shared_plan(config: TrainConfig, info: distributed.WorkerInfo) -> RunPlan:
    """The chief builds the plan; every worker gets it, or the chief's error (so no worker hangs)."""
    plan: RunPlan | None = None
    error: BaseException | None = None
    if info.is_chief:
        try:
            plan = _chief_prepare(config, info.size)
        except Exception as exc:  # re-raised below after telling the other workers
            error = exc
    message = None if error is None else f"{type(error).__name__}: {error}"
    plan, message = distributed.broadcast_object((plan, message), root_rank=0)
    if error is not None:
        raise error
    if message is not None:
        raise TrainingError(f"worker 0 could not prepare the run {config.out}: {message}")
    return plan


def _weights_checksum(model: tf.keras.Model) -> str:
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def run_worker(config: TrainConfig) -> Path:
    """Train as one Horovod worker (rank 0 of 1 when not under horovodrun); returns the run folder.

    ``--precision auto`` is resolved by the chief and broadcast, so every worker trains alike.
    The Keras dtype policy of the precision is set for the whole run in this process and reset
    afterwards.
    """
    threads = config.threads_per_worker or int(os.environ.get("HCS_THREADS_PER_WORKER", "0")) or None
    info = distributed.init(threads, single_thread_ops=config.micro_batch is not None)
    requested = config.precision
    precision, reason = distributed.broadcast_object(resolve_training_precision(requested), root_rank=0)
    config = dataclasses.replace(config, precision=precision)
    require_precision(config)
    if info.is_chief and (requested == AUTO_PRECISION or precision != "fp32"):
        _console.print(f"training in {precision}: {reason}")
    tf.keras.backend.clear_session()
    with keras_policy(config.keras_policy):
        return _train_worker(config, info, reason)


def _worker_batches(config: TrainConfig, info: distributed.WorkerInfo, n_train: int) -> tuple[int, int, int]:
    """``(global_batch, local_batch, steps_per_epoch)`` of this run; :class:`ConfigError` when it has no step."""
    global_batch, local_batch = batch_split(config.scaling, config.batch_size, info.size)
    micro_batches(local_batch, config.micro_batch, info.size)
    steps = n_train * config.crops_per_field // global_batch
    if steps < 1:
        raise ConfigError(
            f"{n_train} training fields x {config.crops_per_field} crops make no optimizer step of "
            f"{global_batch} images (--batch-size {config.batch_size}, {config.scaling} scaling, "
            f"{info.size} workers): expected a smaller --batch-size or more fields"
        )
    return global_batch, local_batch, steps


def _train_worker(config: TrainConfig, info: distributed.WorkerInfo, precision_reason: str) -> Path:
    tf.keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    plan = _shared_plan(config, info)
    out = config.out
    height, width = config.size
    n_classes = len(plan.class_names)
    labels_all = plan.fields["label"].to_numpy().astype(np.int64)

    global_batch, local_batch, steps = _worker_batches(config, info, len(plan.split.train))
    if info.is_chief:
        _console.print(
            f"{info.size} worker{'s' if info.size > 1 else ''} x {local_batch} images = {global_batch} per step "
            f"({config.scaling} scaling), {steps} steps per epoch"
            + (f", gradients of {config.micro_batch}-image micro-batches summed in a fixed order" if config.micro_batch else "")
        )
    train_rows = np.asarray(plan.split.train, dtype=np.int64)  # every worker draws from all of them
    # each worker validates its share; with fewer validation fields than workers, all of them
    val_rows = (
        shard(plan.split.val, info.rank, info.size)
        if len(plan.split.val) >= info.size
        else np.asarray(plan.split.val, dtype=np.int64)
    )
    local_rows = np.concatenate([train_rows, val_rows])
    cache = FieldCache(
        config.cache_dir,
        [plan.paths(i) for i in local_rows],
        [plan.field_normalization(i) for i in local_rows],
        (height, width),
    )
    train_pos = np.arange(len(train_rows), dtype=np.int64)
    val_pos = np.arange(len(train_rows), len(local_rows), dtype=np.int64)

    spec = get_model_spec(config.model)
    model_h, model_w = config.tile or config.size
    # the model trained (on whole fields, or on tiles when config.tile is set)
    model = spec.build(model_h, model_w, len(plan.channels), n_classes, config.weight_decay)
    train_model, optimizer = compile_for_run(model, config, steps, global_batch, local_batch)
    first_epoch, best_val_loss, best_epoch = 0, np.inf, None
    if config.resume:
        first_epoch, best_val_loss, best_epoch = _restore_last(config, info, model, train_model, optimizer, steps)
    if info.is_chief and config.precision != "fp32":
        _console.print(
            f"training in {config.precision} (Keras policy {config.keras_policy}) on {cpu_report()['model']}"
        )

    val_samples = len(val_rows) * (1 if config.tile is None else len(tile_offsets(config.size, config.tile)))
    callbacks: list[tf.keras.callbacks.Callback] = [*distributed.training_callbacks(val_samples)]
    callbacks.append(tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: cache.flush()))
    if info.is_chief:
        callbacks += [
            RichProgress(config.epochs, first_epoch, steps, global_batch),
            EpochRecorder(
                out,
                optimizer,
                model,
                steps * global_batch,
                val_fields=len(plan.split.val),
                best_val_loss=best_val_loss,
                best_epoch=best_epoch,
            ),
            tf.keras.callbacks.TensorBoard(
                log_dir=str(out / "tensorboard"), write_graph=False, update_freq="epoch", profile_batch=0
            ),
        ]
    train_ds = training_dataset(
        cache,
        train_pos,
        labels_all[train_rows],
        n_classes,
        global_batch,
        local_batch,
        steps,
        first_epoch,
        config.epochs,
        config.seed,
        info.rank,
        config.augment,
        crop=config.tile,
        balance=config.balance_classes,
        jitter=config.intensity_jitter,
    )
    if config.tile is None:
        val_ds = labelled_dataset(cache, val_pos, labels_all[val_rows], n_classes, config.batch_size)
    else:
        val_ds = labelled_tiles_dataset(
            cache,
            val_pos,
            labels_all[val_rows],
            n_classes,
            config.batch_size,
            tile_offsets(config.size, config.tile),
            config.tile,
        )
    try:
        if first_epoch < config.epochs:
            train_model.fit(
                train_ds,
                epochs=config.epochs,
                initial_epoch=first_epoch,
                steps_per_epoch=steps,
                validation_data=val_ds,
                callbacks=callbacks,
                verbose=0,
            )
        _write_rank_check(info, model, local_batch, global_batch, steps, first_epoch, config.epochs)
        distributed.barrier()
        kept, selection = kept_checkpoint(out, len(plan.split.val))
        final = model if config.precision == "fp32" else _float32_copy(spec, model, config.weight_decay)
        restore_checkpoint(kept, final, None)
        if config.tile is not None:  # the whole-field model: the mean over the grid of tiles
            final = build_tiled_model(final, config.size, name=f"{config.model}_tiled")
        logits = final.predict(inference_dataset(cache, val_pos, config.batch_size), verbose=0)[0]
    except tf.errors.OpError as exc:
        raise TrainingError(
            f"training on {out} stopped while reading data: {exc.message.splitlines()[0]}"
        ) from None
    gathered = distributed.allgather_object((val_rows, logits))
    if info.is_chief:
        _finish(
            config,
            plan,
            final,
            spec.widths.embedding_units,
            gathered,
            {
                "workers": info.size,
                "scaling": config.scaling,
                "global_batch": global_batch,
                "local_batch": local_batch,
                "steps_per_epoch": steps,
                "micro_batch": config.micro_batch,
                "optimizer_step": "canonical" if config.micro_batch is not None else "keras",
                "threads": distributed.thread_counts(),
                "precision_reason": precision_reason,
            },
            selection,
        )
    distributed.barrier()
    return out


def _restore_last(
    config: TrainConfig, info, model, train_model, optimizer, steps: int
) -> tuple[int, float, int | None]:
    """Restore weights, optimizer slots and step from ``checkpoints/last``; return the epochs done
    and the best validation loss and its epoch so far.

    Raises :class:`ConfigError` when the checkpoint was made with another number of optimizer
    steps per epoch than ``steps`` (weak scaling resumed with another worker count).
    """
    build_optimizer_state(optimizer, train_model.trainable_variables)
    state = restore_checkpoint(config.out / "checkpoints" / "last", model, optimizer)
    first_epoch = int(state["epoch"])
    if state.get("step") is not None and state["step"] != first_epoch * steps:
        raise ConfigError(
            f"{config.out}: the run made {state['step']} optimizer steps in {first_epoch} epochs, but resumed "
            f"with {info.size} workers it would make {steps} per epoch ({config.scaling} scaling, --batch-size "
            f"{config.batch_size}); expected the worker count the run started with"
        )
    best_val_loss, best_epoch = resumed_best(config.out, state)
    if info.is_chief:
        _console.print(f"resuming {config.out} after epoch {first_epoch} (step {state['step']})")
    return first_epoch, best_val_loss, best_epoch


def _float32_copy(spec, model: tf.keras.Model, weight_decay: float) -> tf.keras.Model:
    """An untrained float32 M-CNN of the same shape as ``model`` (built under the float32 policy)."""
    _, height, width, channels = model.input_shape
    with keras_policy("float32"):
        return spec.build(height, width, channels, model.outputs[0].shape[-1], weight_decay)


def _write_rank_check(info, model, local_batch, global_batch, steps, first_epoch, epochs) -> None:
    folder = os.environ.get(CHECK_DIR_ENV)
    if not folder:
        return
    write_json(
        Path(folder) / f"rank{info.rank}.json",
        {
            "rank": info.rank,
            "size": info.size,
            "local_batch": local_batch,
            "global_batch": global_batch,
            "steps_per_epoch": steps,
            "images_seen": local_batch * steps * (epochs - first_epoch),
            "weights_sha256": _weights_checksum(model),
        },
    )
    np.savez(Path(folder) / f"rank{info.rank}_weights.npz", *model.get_weights())


def _finish(config, plan: RunPlan, model, embedding_units, gathered, execution: dict, selection) -> None:
    """Chief only: evaluation, model export, model card.

    ``execution`` holds how the run was executed (workers, scaling, global and local batch,
    steps per epoch, the precision's reason), recorded in the card.
    """
    out = config.out
    rows = np.concatenate([np.asarray(r) for r, _ in gathered])
    logits = np.concatenate([np.asarray(v) for _, v in gathered])
    # each validation field once (every worker validates all of them when they are fewer than the workers)
    rows, first = np.unique(rows, return_index=True)
    val_fields = plan.fields.iloc[rows].reset_index(drop=True)
    summary, tables = evaluate_predictions(val_fields, logits[first], plan.class_names)
    write_evaluation(out / "eval", summary, tables)
    export_model(model, out, config.size, len(plan.channels))
    tiling = None
    if config.tile is not None:
        tiling = {
            "tile": list(config.tile),
            "offsets": [list(o) for o in tile_offsets(config.size, config.tile)],
            "reduce": "mean of the tiles' logits and embeddings",
        }
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    card = build_card(
        model_name=f"{config.model}-{out.name}",
        architecture=config.model,
        size=config.size,
        channels=plan.channels,
        example_path=plan.paths(int(plan.split.train[0]))[0],
        normalization=plan.normalization,
        class_names=plan.class_names,
        embedding_size=embedding_units,
        training={
            "data": plan.summary,
            "split": {"mode": plan.split.mode, **plan.split.summary},
            "config": config.to_dict(),
            **execution,
            "precision": config.precision,
            "keras_policy": config.keras_policy,
            "cpu": cpu_report(),
            "selection": selection,
            "plate_normalization": {p: n.to_dict() for p, n in plan.plate_normalization.items()},
            "tiling": tiling,
            "wells": training_wells(plan),
        },
        metrics={"final_epoch": history[-1] if history else {}, "validation": summary},
    )
    write_card(card, out)
    _console.print(describe_selection(selection))
    _console.print(
        f"run {out}: validation image accuracy {summary['image_accuracy']:.3f}, "
        f"treatment accuracy {summary['treatment_accuracy']:.3f} (chance {summary['chance_accuracy']:.3f})"
    )


def training_wells(plan: RunPlan) -> dict[str, list[str]]:
    """The ``plate/well`` keys the model trained on and was selected on (``train``, ``validation``).

    Scoring marks these wells (``in_training``) so that plate QC uses only control wells the
    model never saw.
    """

    def keys(rows: np.ndarray) -> list[str]:
        chosen = plan.fields.iloc[np.asarray(rows, dtype=np.int64)]
        return sorted(set((chosen["plate"].astype(str) + "/" + chosen["well"].astype(str)).tolist()))

    return {"train": keys(plan.split.train), "validation": keys(plan.split.val)}


def export_model(model: tf.keras.Model, out: Path, size: tuple[int, int], channels: int) -> None:
    """Write ``out/model`` (SavedModel, signature ``image`` -> ``logits``, ``embedding``) and ``out/model.keras``."""
    height, width = size

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="image")])
    def serve(image):
        logits, embedding = model(image, training=False)
        return {"logits": logits, "embedding": embedding}

    final = out / "model"
    tmp = out / ".model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tf.saved_model.save(model, str(tmp), signatures={"serving_default": serve})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    keras_tmp = out / ".model.tmp.keras"
    model.save(str(keras_tmp))
    os.replace(keras_tmp, out / "model.keras")
