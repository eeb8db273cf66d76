"""`hcs plates PATH...`: detect layouts and summarise plate folders or manifests."""

from __future__ import annotations

import click
from hcs_cli.console import make_console
from hcs_cli.params import PLATE_PATTERN
from rich.table import Table

from mcnn_infer.plates import LAYOUT_CHOICES
from mcnn_infer.plates.inspect import inspect_plates


@click.command("plates")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--layout", type=click.Choice(LAYOUT_CHOICES), help="Force a layout instead of detecting it."
)
@PLATE_PATTERN
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=str), help="Root folder for manifest paths."
)
@click.option("--problems/--no-problems", default=True, help="List missing, duplicate and unusable files.")
def command(
    paths: tuple[str, ...], layout: str | None, pattern: str | None, root: str | None, problems: bool
) -> None:
    """Detect the layout of plate folders (or manifest CSVs) and summarise them."""
    console = make_console()
    report = inspect_plates(paths, layout=layout, root=root, pattern=pattern)
    table = Table(title="Plates", header_style="bold")
    numbers = {"wells", "sites", "time points", "z-planes", "fields", "problems", "ignored"}
    for name in ("plate", "layout", "wells", "sites", "fields", "channels", "image", "time points", "z-planes",
                 "problems", "ignored"):
        table.add_column(name, justify="right" if name in numbers else "left")
    for s in report.summaries:
        image = f"{s.width}x{s.height} {s.bit_depth}-bit" if s.height else "-"
        table.add_row(
            s.plate,
            s.layout,
            str(s.wells),
            str(s.sites),
            str(s.fields),
            ", ".join(s.channels),
            image,
            str(s.timepoints),
            str(s.planes),
            str(s.problems),
            str(s.ignored),
        )
    console.print(table)
    for s in report.summaries:
        if s.image_problem:
            console.print(f"[yellow]{s.plate}: {s.image_problem}[/]")
        if s.planes > 1:
            console.print(
                f"{s.plate}: {s.planes} z-planes per field; hcs score and hcs train read them as you choose: "
                "--planes max, --planes mean or --planes N",
                markup=False,
            )
    if problems and len(report.problems):
        shown = report.problems.head(20)
        console.print(f"[yellow]{len(report.problems)} problem(s):[/]")
        for row in shown.itertuples():
            console.print(
                f"  {row.plate} {row.well or ''} s{row.site}: {row.problem} ({row.path})", markup=False
            )
        if len(report.problems) > len(shown):
            console.print(f"  ... and {len(report.problems) - len(shown)} more")
