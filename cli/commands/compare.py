"""``hcs compare``: the M-CNN readout of a plate side by side with its classical readout."""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import MAX_HILL_OPTION, TRANSLOCATION_SCALE
from rich.console import Console

from mcnn_infer.folder_lock import analysis_locks


@click.command("compare")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("classical_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--plate-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The translocation plate map (SBS or hcs format) of the plate: roles, rows, doses.",
)
@click.option(
    "--class",
    "class_name",
    required=True,
    help="The model class of the positive controls; its log-odds is the M-CNN readout.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default RESULTS_DIR/analysis/comparison, shown by `hcs report RESULTS_DIR`).",
)
@click.option(
    "--classical-scale",
    type=TRANSLOCATION_SCALE,
    default="log-ratio",
    show_default=True,
    help="Scale of the classical readout the EC50 verdict is against (every scale is judged in "
    "readout_comparison_scales.csv). log-ratio matches the M-CNN's log-odds.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.3,
    show_default=True,
    help="Widening of the classical row EC50 range (dose index).",
)
@MAX_HILL_OPTION
def command(
    results_dir, classical_dir, plate_map, class_name, out, classical_scale, tolerance, max_hill
) -> None:
    """Judge RESULTS_DIR (hcs score) and CLASSICAL_DIR (hcs analyze --readout translocation) of one
    plate on the same held-out control wells: Z', row EC50s, one dose-response plot, HTML."""
    from mcnn_infer.analysis.readout_comparison import compare_readouts, verdict_line
    from mcnn_infer.report.render import write_comparison_page

    with analysis_locks(results_dir, out):
        summary = compare_readouts(
            results_dir,
            classical_dir,
            plate_map,
            out,
            class_name,
            tolerance=tolerance,
            classical_scale=classical_scale,
            max_hill=max_hill,
        )
        page = write_comparison_page(summary["out_dir"])
    console = Console(stderr=True)
    console.print(verdict_line(summary), markup=False)
    console.print(f"comparison written to {page}", markup=False)
