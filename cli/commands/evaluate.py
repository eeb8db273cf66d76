"""``hcs evaluate``: NSC / NSCB 1-NN MoA accuracy, the classifier's accuracy and copairs mAP on labelled plates."""

from __future__ import annotations

from pathlib import Path

import click
from hcs_cli.params import PROFILE_NORMALIZATION
from rich.console import Console

from mcnn_infer.analysis.mean_ap import NULL_SIZE, SEED
from mcnn_infer.folder_lock import analysis_locks


@click.command("evaluate")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@PROFILE_NORMALIZATION
@click.option(
    "--null-size",
    type=click.IntRange(min=100),
    default=NULL_SIZE,
    show_default=True,
    help="Permutations of the mAP null distribution (the smallest p-value is 1 / (N + 1)).",
)
@click.option("--seed", type=int, default=SEED, show_default=True, help="Seed of the mAP null distribution.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default RESULTS_DIR/analysis/evaluation).",
)
def command(results_dir, normalize, null_size, seed, out_dir) -> None:
    """Treatment-level MoA accuracy and mAP of RESULTS_DIR (embeddings + labelled metadata).

    Writes the per-well profiles (embeddings and class probabilities, Parquet with Metadata_
    columns), 1-NN predictions, confusion matrices, mAP tables and plots and evaluation.json.
    """
    from mcnn_infer import api
    from mcnn_infer.analysis.metrics import METRICS

    with analysis_locks(results_dir, out_dir):
        result = api.evaluate(results_dir, normalize=normalize, null_size=null_size, seed=seed, out=out_dir)
    con = Console(highlight=False, soft_wrap=True)
    norm = result["normalization"]
    con.print(
        f"profiles normalised: {norm['name']} ({norm['n_features']} of {norm['n_features_in']} "
        "embedding features kept)",
        markup=False,
    )
    for metric in METRICS:
        entry = result.get(metric.key)
        if entry is None:
            continue
        if metric.section == "map":
            con.print(
                f"{metric.label}: {entry['n_retrieved']} / {entry['n_groups']} "
                f"({entry['fraction_retrieved']:.3f}) at corrected p < {entry['threshold']}, "
                f"mean mAP {entry['mean_map']:.3f}",
                markup=False,
            )
        else:
            con.print(
                f"{metric.key.upper():<10} accuracy {entry['accuracy']:.3f}  (n = {entry['n_queries']})",
                markup=False,
            )
