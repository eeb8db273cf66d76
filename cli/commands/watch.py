"""``hcs watch INBOX --out RESULTS``: score plates as the instrument finishes them (see mcnn_infer.watch)."""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import MODEL_DIR, PLATE_PATTERN

from mcnn_infer.formats import AUTO, BACKENDS, DEFAULT_BACKEND, DEFAULT_PRECISION, PRECISIONS
from mcnn_infer.scoring.options import ON_ERROR
from mcnn_infer.watch.watcher import DEFAULT_POLL, DEFAULT_QUIET, WatchSettings, watch


@click.command("watch")
@click.argument("inbox", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="RESULTS: one results folder (tables, analysis/, report.html) per plate, and watch-state.json.",
)
@MODEL_DIR
@click.option(
    "--expect",
    type=click.IntRange(min=1),
    help="A plate is complete when this many fields (all channels of a site) have arrived.",
)
@click.option(
    "--fields-per-well",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --metadata: a plate is complete when the wells it lists for the plate have this many "
    "fields each (in total).",
)
@click.option(
    "--quiet",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_QUIET,
    show_default=True,
    help="Seconds without any file change after which a plate is complete anyway.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_POLL,
    show_default=True,
    help="Seconds between polls; a plate is read only when no file changed size or mtime across two.",
)
@click.option(
    "--marker",
    multiple=True,
    metavar="NAME",
    help="File name (glob) that marks a plate complete, e.g. 'transfer.done' (repeatable); Harmony's "
    "Index.idx.xml / Index.xml count without it.",
)
@click.option("--once", is_flag=True, help="Process the plates complete now and exit (for cron).")
@click.option(
    "--metadata",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="BBBC021 image CSV or plate map CSV (repeatable): treatments, and the wells each plate expects.",
)
@click.option("--positive", multiple=True, help="Positive-control compound (repeatable).")
@click.option("--embeddings/--no-embeddings", default=False, help="Also write embeddings.parquet (profiles).")
@click.option("--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND, show_default=True)
@click.option("--precision", type=click.Choice([AUTO, *PRECISIONS]), default=DEFAULT_PRECISION, show_default=True)
@click.option("--on-error", type=click.Choice(ON_ERROR), default="skip", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), help="Image loading threads.")
@click.option("--threads", type=click.IntRange(min=1), help="Inference threads.")
@PLATE_PATTERN
@click.option("--report/--no-report", default=True, help="Analyse and write report.html for each plate.")
def command(
    inbox,
    out_dir,
    model_dir,
    expect,
    fields_per_well,
    quiet,
    poll,
    marker,
    once,
    metadata,
    positive,
    embeddings,
    backend,
    precision,
    on_error,
    workers,
    threads,
    pattern,
    report,
):
    """Watch INBOX (a folder instruments write plate folders or OME-Zarr stores into) and score, analyse
    and report each plate once its acquisition is complete. One log line per plate event on stderr;
    SIGTERM / Ctrl-C stops (a plate being scored resumes on the next start)."""
    settings = WatchSettings(
        quiet=quiet, poll=poll, expect=expect, fields_per_well=fields_per_well, markers=marker, report=report
    )
    options = {
        "metadata": list(metadata),
        "positive": list(positive),
        "embeddings": embeddings,
        "backend": backend,
        "precision": precision,
        "on_error": on_error,
        "workers": workers,
        "threads": threads,
        "pattern": pattern,
    }
    summary = watch(inbox, out_dir, model_dir, settings, options, once=once)
    click.echo(
        f"{len(summary.done)} plates done, {len(summary.failed)} failed, {len(summary.waiting)} waiting -> {out_dir}"
    )
