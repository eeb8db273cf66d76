"""``hcs train``: train the M-CNN with Horovod data parallelism (see :mod:`mcnn_train.trainer`).

Every recipe option defaults to None and only the options a user gave reach the config; the
defaults, the choices and the numbers in the help are :mod:`mcnn_train.recipe`'s.
"""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import IMAGE_SIZE, PLATE_PATTERN

from mcnn_infer.errors import ConfigError
from mcnn_infer.plates import LAYOUT_CHOICES
from mcnn_infer.zstack import PLANES_HELP
from mcnn_train import recipe
from mcnn_train.models import MODELS


class FieldSize(click.ParamType):
    """``HxW`` in pixels, or ``native`` (the plates' own image size)."""

    name = "HxW|native"

    def convert(self, value, param, ctx):
        if value == recipe.NATIVE_SIZE:
            return value
        return IMAGE_SIZE.convert(value, param, ctx)


FIELD_SIZE = FieldSize()


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
@click.option("--model", type=click.Choice(list(MODELS)), help=f"Architecture (default {recipe.MODEL}).")
@click.option(
    "--preset",
    type=click.Choice(list(recipe.PRESETS)),
    help="Start from a named recipe; options given here override it. plate-controls: train on a plate's "
    "control wells at native resolution (256x256 tiles, balanced classes) and score its doses.",
)
@click.option(
    "--size",
    type=FIELD_SIZE,
    help="Field HxW in pixels every field is resized to, multiples of 128 unless --tile (default: the "
    "model's, "
    + ", ".join(f"{'x'.join(map(str, spec.default_size))} for {name}" for name, spec in MODELS.items())
    + f"); '{recipe.NATIVE_SIZE}' = the plates' own image size.",
)
@click.option(
    "--tile",
    type=IMAGE_SIZE,
    help="Train on random HxW crops (multiples of 128) of each field at --size; the exported model "
    "scores whole fields as the mean over a fixed grid of tiles (default: whole fields).",
)
@click.option(
    "--crops-per-field",
    type=int,
    help=f"Samples per training field and epoch (random tiles with --tile; default {recipe.CROPS_PER_FIELD}).",
)
@click.option(
    "--balance-classes/--no-balance-classes",
    default=None,
    help="Draw every class equally often per epoch (default "
    f"{'on' if recipe.BALANCE_CLASSES else 'off'}).",
)
@click.option("--epochs", type=int, help=f"Total epochs (default {recipe.EPOCHS}; with --resume: the run's).")
@click.option(
    "--batch-size",
    type=int,
    help=f"Images per optimizer step over all workers, split evenly between them (default {recipe.BATCH_SIZE}; "
    "per worker with --scaling weak).",
)
@click.option(
    "--scaling",
    type=click.Choice(recipe.SCALINGS),
    help=f"strong (default {recipe.SCALING!r} is this): the global batch, learning rate and steps per epoch "
    "do not depend on the number of workers, so neither does the model. weak: every worker takes "
    "--batch-size images per step and the learning rate grows with the global batch (Goyal et al. 2017; "
    "more throughput on large data, a different model per worker count).",
)
@click.option(
    "--lr-schedule",
    help=f"'lr;epoch;lr;epoch;...;lr' for --lr-reference-batch images per step (default '{recipe.LR_SCHEDULE}').",
)
@click.option(
    "--lr-reference-batch",
    type=int,
    help="Global batch the schedule's rates are for (default: --batch-size); rates scale linearly.",
)
@click.option("--warmup-epochs", type=float, help=f"Linear warm-up (default {recipe.WARMUP_EPOCHS:g}).")
@click.option(
    "--label-smoothing",
    type=float,
    help=f"Label smoothing of the cross-entropy (default {recipe.LABEL_SMOOTHING:g}).",
)
@click.option("--weight-decay", type=float, help=f"L2 on kernels (default {recipe.WEIGHT_DECAY:g}).")
@click.option(
    "--val-split",
    type=click.Choice(recipe.VAL_SPLITS),
    help=f"Hold out whole compounds or whole plates (default {recipe.VAL_SPLIT}).",
)
@click.option(
    "--val-fraction",
    type=float,
    help=f"Fraction of compounds / plates / control wells held out (default {recipe.VAL_FRACTION:g}).",
)
@click.option(
    "--normalization",
    type=click.Choice(recipe.NORMALIZATIONS),
    help="Intensity percentiles per plate (removes plate-to-plate stain drift) or of the whole training set "
    f"(default {recipe.NORMALIZATION}).",
)
@click.option(
    "--augment/--no-augment",
    default=None,
    help=f"Flips, 90-degree rotations, intensity jitter (default {'on' if recipe.AUGMENT else 'off'}).",
)
@click.option(
    "--intensity-jitter",
    type=float,
    help="Per-channel intensity factors in [1-j, 1+j] when augmenting "
    f"(default {recipe.INTENSITY_JITTER:g}).",
)
@click.option(
    "--workers", type=int, help=f"Local Horovod workers (default {recipe.WORKERS}; with --resume: the run's)."
)
@click.option(
    "--threads-per-worker", type=int, help="Intra-op threads per worker (default: cores / workers)."
)
@click.option(
    "--seed",
    type=int,
    help=f"Seed of split, shuffles, augmentation and weights (default {recipe.SEED}).",
)
@click.option("--max-fields", type=int, help="Use at most this many labelled fields (quick runs).")
@click.option(
    "--layout", type=click.Choice(LAYOUT_CHOICES), help="Force a plate layout instead of detecting it."
)
@PLATE_PATTERN
@click.option("--planes", metavar="max|mean|N", help=PLANES_HELP)
@click.option(
    "--precision",
    type=click.Choice(recipe.PRECISION_CHOICES),
    help=f"Training arithmetic (default {recipe.PRECISION}; with --resume: the run's). bf16 = Keras "
    "mixed_bfloat16 (float32 weights, logits and loss); needs a CPU with native BF16 (avx512_bf16 or "
    "amx_bf16). auto = bf16 where the CPU computes it fast (AMX Xeons, AMD Zen 4), else fp32; the "
    "choice and its reason are printed and kept in the card. The exported model is float32 either way.",
)
@click.option(
    "--micro-batch",
    type=int,
    help=f"Images per gradient computation (default {recipe.MICRO_BATCH}): gradients of micro-batches, "
    "computed by single-threaded ops side by side and added in a fixed order, so 1 or 2 workers train "
    "the same weights bit for bit. Each worker's batch must be a multiple of it.",
)
@click.option(
    "--nondeterministic",
    is_flag=True,
    help="Allow non-deterministic ops and use Keras' own step (multi-threaded ops, no micro-batches; "
    "faster where a worker has more cores than micro-batches; the result then depends on rounding, "
    "so on the worker count and resume).",
)
def command(plate_dirs, data_root, labels, out, resume_dir, nondeterministic, **options) -> None:
    """Train the M-CNN on labelled plates; writes a run folder (model, card.json, metrics, eval/)."""
    from mcnn_train.config import TrainConfig
    from mcnn_train.trainer import resume, train

    if resume_dir is not None:
        if plate_dirs or data_root or labels or out:
            raise ConfigError(
                f"--resume {resume_dir} continues a run with its own data and folder; expected no PLATE_DIRS, "
                "--data, --labels or --out with it"
            )
        run = resume(
            resume_dir, epochs=options["epochs"], workers=options["workers"], precision=options["precision"]
        )
    else:
        if out is None:
            raise ConfigError("--out RUN_DIR is required (the run folder to create)")
        given = {name: value for name, value in options.items() if value is not None}
        if "preset" in given:
            given = {**recipe.PRESETS[given["preset"]], **given}
        if nondeterministic:
            if "micro_batch" in given:
                raise ConfigError("--micro-batch is the deterministic step; expected it without --nondeterministic")
            given["deterministic"] = False
            given["micro_batch"] = None
        run = train(
            TrainConfig(out=out, plates=list(plate_dirs), labels=list(labels), data_root=data_root, **given)
        )
    click.echo(str(run))
