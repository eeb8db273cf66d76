"""``hcs train``: train the M-CNN with Horovod data parallelism (see :mod:`mcnn_train.trainer`)."""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import IMAGE_SIZE

from mcnn_infer.errors import ConfigError
from mcnn_train.models import MODELS


@click.command(
    "train",
    epilog=(
        "On one machine `--workers N` starts N Horovod workers (Gloo). On a cluster run the same "
        "command under `horovodrun -np 8 -H a:4,b:4 hcs train ...` or `mpirun -np 8 ... hcs train ...`."
    ),
)
@click.argument("plate_dirs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data",
    "data_root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="BBBC021-like root: plate folders and BBBC021_v1_image.csv / platemap.csv inside.",
)
@click.option(
    "--labels",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Treatment CSV: BBBC021_v1_image.csv (with BBBC021_v1_moa.csv beside it) or a plate map.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder to create.")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Continue the run in this folder from its last checkpoint.",
)
@click.option("--model", type=click.Choice(list(MODELS)), default="mcnn", show_default=True)
@click.option(
    "--size",
    type=IMAGE_SIZE,
    help="Input HxW in pixels, multiples of 128 (default: the model's, 1024x1280 for mcnn).",
)
@click.option("--epochs", type=int, help="Total epochs (default 30; with --resume: the run's).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Images per step per worker.")
@click.option(
    "--lr-schedule",
    default="0.01;20;0.001",
    show_default=True,
    help="'lr;epoch;lr;epoch;...;lr' for --lr-reference-batch images per step.",
)
@click.option(
    "--lr-reference-batch",
    type=int,
    help="Global batch the schedule's rates are for (default: --batch-size); rates scale linearly.",
)
@click.option("--warmup-epochs", type=float, default=2.0, show_default=True)
@click.option("--label-smoothing", type=float, default=0.0, show_default=True)
@click.option("--weight-decay", type=float, default=5e-5, show_default=True)
@click.option("--val-split", type=click.Choice(["compound", "plate"]), default="compound", show_default=True)
@click.option("--val-fraction", type=float, default=0.2, show_default=True)
@click.option(
    "--normalization",
    type=click.Choice(["plate", "dataset"]),
    default="plate",
    show_default=True,
    help="Intensity percentiles per plate (removes plate-to-plate stain drift) or of the whole training set.",
)
@click.option("--augment/--no-augment", default=True, show_default=True)
@click.option("--workers", type=int, help="Local Horovod workers (default 1; with --resume: the run's).")
@click.option(
    "--threads-per-worker", type=int, help="Intra-op threads per worker (default: cores / workers)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-fields", type=int, help="Use at most this many labelled fields (quick runs).")
@click.option("--layout", help="Force a plate layout (metaxpress, sbs, harmony) instead of detecting it.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    help="Training arithmetic (default fp32; with --resume: the run's). bf16 = Keras mixed_bfloat16 "
    "(float32 weights, logits and loss); needs a CPU with native BF16 (avx512_bf16 or amx_bf16). "
    "The exported model is float32 either way.",
)
@click.option(
    "--nondeterministic", is_flag=True, help="Allow non-deterministic ops (faster, resume not bit-exact)."
)
def command(
    plate_dirs,
    data_root,
    labels,
    out,
    resume_dir,
    model,
    size,
    epochs,
    batch_size,
    lr_schedule,
    lr_reference_batch,
    warmup_epochs,
    label_smoothing,
    weight_decay,
    val_split,
    val_fraction,
    normalization,
    augment,
    workers,
    threads_per_worker,
    seed,
    max_fields,
    layout,
    precision,
    nondeterministic,
) -> None:
    """Train the M-CNN on labelled plates; writes a run folder (model, card.json, metrics, eval/)."""
    from mcnn_train.config import TrainConfig
    from mcnn_train.trainer import resume, train

    if resume_dir is not None:
        if plate_dirs or data_root or labels or out:
            raise ConfigError(
                f"--resume {resume_dir} continues a run with its own data and folder; expected no PLATE_DIRS, "
                "--data, --labels or --out with it"
            )
        run = resume(resume_dir, epochs=epochs, workers=workers, precision=precision)
    else:
        if out is None:
            raise ConfigError("--out RUN_DIR is required (the run folder to create)")
        config = TrainConfig(
            out=out,
            plates=list(plate_dirs),
            labels=list(labels),
            data_root=data_root,
            model=model,
            size=size,
            epochs=epochs or 30,
            batch_size=batch_size,
            lr_schedule=lr_schedule,
            lr_reference_batch=lr_reference_batch,
            warmup_epochs=warmup_epochs,
            weight_decay=weight_decay,
            label_smoothing=label_smoothing,
            val_split=val_split,
            val_fraction=val_fraction,
            normalization=normalization,
            augment=augment,
            workers=workers or 1,
            threads_per_worker=threads_per_worker,
            seed=seed,
            max_fields=max_fields,
            layout=layout,
            deterministic=not nondeterministic,
            precision=precision or "fp32",
        )
        run = train(config)
    click.echo(str(run))
