"""``hcs merge``: combine sharded ``hcs score`` results (see mcnn_infer.scoring.merge.merge_results)."""

from __future__ import annotations

from pathlib import Path

import click

from mcnn_infer.scoring.merge import merge_results


@click.command("merge")
@click.argument(
    "shard_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the merged tables.",
)
@click.option("--allow-missing", is_flag=True, help="Merge even if some shards of the set are absent.")
def command(shard_dirs, out_dir, allow_missing):
    """Merge the RESULTS_DIRs of `hcs score --shard i/n` runs into one results folder."""
    counts = merge_results(shard_dirs, out_dir, allow_missing=allow_missing)
    click.echo(
        f"merged {counts['shards']} shards: {counts['ok']} fields scored, {counts['skipped']} skipped, "
        f"{counts['wells']} wells -> {out_dir}"
    )
