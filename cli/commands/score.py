"""``hcs score``: score plate folders on CPU cores (see mcnn_infer.api.score)."""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import MODEL_DIR, PLATE_PATTERN
from rich.console import Console

from mcnn_infer.folder_lock import folder_lock
from mcnn_infer.formats import AUTO, BACKENDS, DEFAULT_BACKEND, DEFAULT_PRECISION, PRECISIONS
from mcnn_infer.scoring.options import ON_ERROR, score_options
from mcnn_infer.scoring.shard import SHARD_COUNT_ENV, resolve_shard, results_folder
from mcnn_infer.zstack import PLANES_HELP


@click.command("score")
@click.argument("plate_dirs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="RESULTS_DIR for fields/wells/treatments tables (resumed if it holds an unfinished run).",
)
@MODEL_DIR
@click.option("--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND, show_default=True)
@click.option(
    "--precision",
    type=click.Choice([AUTO, *PRECISIONS]),
    default=DEFAULT_PRECISION,
    show_default=True,
    help="fp32 everywhere (same numbers on every CPU); bf16 on CPUs with native BF16 when the export "
    "validated it; int8 when exported; auto: the fastest of these the model card validated and this "
    "CPU runs natively (it says which).",
)
@click.option(
    "--metadata",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="BBBC021 image CSV or plate map CSV (repeatable); adds treatments.",
)
@click.option("--positive", multiple=True, help="Positive-control compound (repeatable).")
@click.option("--embeddings/--no-embeddings", default=False, help="Also write embeddings.parquet.")
@click.option(
    "--thumbnails/--no-thumbnails",
    default=True,
    show_default=True,
    help="Write thumbnails.parquet: each well's first field and QC-flagged fields as small composites "
    "(with class activation maps when the model exports them), shown by hcs report.",
)
@click.option(
    "--shard",
    "shard_text",
    metavar="I/N|auto",
    help="Score shard I of N (0-based). auto: from a Slurm array task (SLURM_ARRAY_TASK_ID, _COUNT or "
    "_MIN/_MAX), a Kubernetes indexed Job (JOB_COMPLETION_INDEX of --shard-count) or mpirun/horovodrun's "
    "rank/size, an error if none is set. Default: as auto when one is set, else all wells. Shards from "
    "the environment write RESULTS_DIR/shard-i-of-n (hcs merge RESULTS_DIR combines them).",
)
@click.option(
    "--shard-count",
    type=click.IntRange(min=1),
    help=f"Completions of the Kubernetes indexed Job (its spec.completions; default ${SHARD_COUNT_ENV}).",
)
@click.option(
    "--on-error",
    type=click.Choice(ON_ERROR),
    default="skip",
    show_default=True,
    help="skip: record a bad field with its reason; fail: stop naming the file.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1024),
    help="Fields per inference request (default: from the model size).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Image loading threads (default: CPU cores, max 8)."
)
@click.option(
    "--threads", type=click.IntRange(min=1), help="Inference threads (default: the runtime's choice)."
)
@click.option("--channel-map", help="Model channel to plate channel, e.g. DAPI=w1,Tubulin=w2,Actin=w4.")
@PLATE_PATTERN
@click.option("--planes", metavar="max|mean|N", help=PLANES_HELP)
@click.option(
    "--allow-bit-depth-mismatch", is_flag=True, help="Score images whose bit depth differs from the card."
)
@click.option("--overwrite", is_flag=True, help="Discard earlier results in --out instead of resuming.")
@click.option(
    "--flush-every",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Fields per result part written to RESULTS_DIR/.parts (resume granularity).",
)
@click.option("--quiet", is_flag=True, help="No progress bars or summary.")
def command(
    plate_dirs,
    out_dir,
    model_dir,
    backend,
    precision,
    metadata,
    positive,
    embeddings,
    thumbnails,
    shard_text,
    shard_count,
    on_error,
    batch_size,
    workers,
    threads,
    channel_map,
    pattern,
    planes,
    allow_bit_depth_mismatch,
    overwrite,
    flush_every,
    quiet,
):
    """Score PLATE_DIR... with an exported model on CPU cores (OpenVINO or ONNX Runtime)."""
    settings = dict(
        backend=backend,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        threads=threads,
        on_error=on_error,
        embeddings=embeddings,
        thumbnails=thumbnails,
        metadata=metadata,
        positive=positive,
        channel_map=channel_map,
        pattern=pattern,
        planes=planes,
        allow_bit_depth_mismatch=allow_bit_depth_mismatch,
        overwrite=overwrite,
        flush_every=flush_every,
    )
    score_options(**settings)  # bad options are refused before the results folder is created
    shard = resolve_shard(shard_text, count=shard_count)
    # a second writer is refused here, before the scoring stack is even imported
    with folder_lock(results_folder(out_dir, shard)):
        from mcnn_infer import api

        console = None if quiet else Console(stderr=True)
        summary = api.score(plate_dirs, out_dir, model_dir, shard=shard, console=console, **settings)
    click.echo(
        f"{summary.counts['ok']} fields scored, {summary.counts['skipped']} skipped, {summary.counts['wells']} wells "
        f"-> {summary.out_dir} ({summary.fields_per_second:.1f} fields/s this run)"
    )
