"""``hcs report``: one self-contained HTML report per results folder."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from mcnn_infer.folder_lock import analysis_locks


@click.command("report")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file (default RESULTS_DIR/report.html).",
)
@click.option(
    "--images/--no-images",
    default=True,
    show_default=True,
    help="Embed the field thumbnails and activation maps hcs score kept (--no-images: tables and plots only).",
)
def command(results_dir, out, images) -> None:
    """Write the HTML report of RESULTS_DIR (runs hcs analyze first if analysis/ is missing)."""
    from mcnn_infer import api

    with analysis_locks(results_dir):
        path = api.report(results_dir, out, images=images)
    Console(stderr=True).print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)", markup=False)
