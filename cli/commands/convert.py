"""``hcs convert PLATE... --to ome-zarr OUT``: plates -> OME-Zarr HCS plates (see mcnn_infer.convert)."""

from __future__ import annotations

import click
from hcs_cli.console import make_console
from hcs_cli.params import PLATE_PATTERN
from rich.table import Table

from mcnn_infer.convert import DEFAULT_NGFF_VERSION, NGFF_VERSIONS, TARGETS, convert_plates
from mcnn_infer.plates import LAYOUT_CHOICES

SHOWN_PROBLEMS = 10


@click.command("convert")
@click.argument("plates", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@click.argument("out", type=click.Path(path_type=str))
@click.option(
    "--to", "to", type=click.Choice(TARGETS), default=TARGETS[0], show_default=True, help="Output format."
)
@click.option(
    "--ngff-version",
    type=click.Choice(NGFF_VERSIONS),
    default=DEFAULT_NGFF_VERSION,
    show_default=True,
    help="OME-NGFF version: 0.4 (Zarr v2) or 0.5 (Zarr v3).",
)
@click.option(
    "--levels",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Resolution levels per image (1: full resolution only; each further level halves y and x).",
)
@click.option(
    "--layout", type=click.Choice(LAYOUT_CHOICES), help="Force the input layout instead of detecting it."
)
@PLATE_PATTERN
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=str), help="Root folder for manifest paths."
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace stores hcs convert wrote from other input or options (else resume).",
)
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def command(plates, out, to, ngff_version, levels, layout, pattern, root, overwrite, quiet) -> None:
    """Convert PLATES (folders of any layout, manifests) to OUT/<plate>.zarr; a re-run resumes."""
    console = make_console(stderr=True)
    summary = convert_plates(
        plates,
        out,
        to=to,
        ngff_version=ngff_version,
        levels=levels,
        layout=layout,
        root=root,
        overwrite=overwrite,
        console=None if quiet else console,
        pattern=pattern,
    )
    if quiet:
        return
    table = Table(title=f"OME-Zarr {ngff_version} plates", header_style="bold")
    for name in ("plate", "store", "written", "resumed", "failed"):
        table.add_column(name, justify="right" if name in {"written", "resumed", "failed"} else "left")
    for p in summary.plates:
        table.add_row(p.name, str(p.store), str(p.written), str(p.resumed), str(p.failed))
    console.print(table)
    problems = summary.problems
    if len(problems):
        console.print(f"[yellow]{len(problems)} problem(s), listed in {summary.problems_file}:[/]")
        for row in problems.head(SHOWN_PROBLEMS).itertuples():
            console.print(
                f"  {row.plate} {row.well or ''} s{row.site}: {row.problem} ({row.path})", markup=False
            )
        if len(problems) > SHOWN_PROBLEMS:
            console.print(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    click.echo(
        f"{summary.written} fields written, {summary.resumed} already complete, {len(problems)} problems "
        f"-> {summary.out_dir} ({summary.seconds:.1f} s)"
    )
