"""``hcs evaluate``: NSC / NSCB 1-NN MoA accuracy and the classifier's accuracy on labelled plates."""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import PROFILE_NORMALIZATION
from rich.console import Console


@click.command("evaluate")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@PROFILE_NORMALIZATION
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default RESULTS_DIR/analysis/evaluation).",
)
def command(results_dir, normalize, out_dir) -> None:
    """Treatment-level MoA accuracy of RESULTS_DIR (embeddings + labelled metadata)."""
    from mcnn_infer.analysis.pipeline import evaluate_results

    result = evaluate_results(results_dir, out_dir=out_dir, normalize=normalize)
    con = Console()
    for mode in ("nsc", "nscb", "classifier"):
        if mode in result:
            con.print(
                f"{mode.upper():<10} accuracy {result[mode]['accuracy']:.3f}  (n = {result[mode]['n_queries']})"
            )
