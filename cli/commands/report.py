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
def command(results_dir, out) -> None:
    """Write the HTML report of RESULTS_DIR (runs hcs analyze first if analysis/ is missing)."""
    from mcnn_infer.report.render import write_report

    with analysis_locks(results_dir):
        written = write_report(results_dir, out)
    Console(stderr=True).print(f"report written to {written}", markup=False)
