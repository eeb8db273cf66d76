"""``hcs analyze``: plate QC, heatmaps, MoA calls, potency and profiles (see mcnn_infer.api.analyze)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from hcs_cli.params import MAX_HILL_OPTION, PROFILE_NORMALIZATION, TRANSLOCATION_SCALE
from rich.console import Console

from mcnn_infer.folder_lock import analysis_locks, folder_lock


@click.command("analyze")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--readout",
    type=click.Choice(["model", "translocation"]),
    default="model",
    show_default=True,
    help="model: PATH is an `hcs score` results folder. translocation: PATH is a plate folder "
    "scored with the classical nuclear-translocation readout (needs --plate-map and --out).",
)
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="truth_compounds.csv of hcs synth: report EC50 fold-errors.",
)
@click.option(
    "--qc-class",
    help="Class whose probability is the Z' score (default: the class of the positive controls).",
)
@click.option(
    "--response-class", help="Class whose log-odds is fitted for every compound (default: per compound)."
)
@click.option("--heatmap-class", help="Class of the score heatmaps (default: the QC class).")
@PROFILE_NORMALIZATION
@MAX_HILL_OPTION
@click.option(
    "--plate-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plate map CSV (translocation readout).",
)
@click.option(
    "--score",
    "translocation_score",
    type=TRANSLOCATION_SCALE,
    help="Translocation readout (default: ratio): the scale of QC, heatmap and potency (all three are written). "
    "ratio = nuclear/perinuclear reporter intensity; log-ratio = its natural log; nuclear-fraction = "
    "nuclear/(nuclear+perinuclear). The ratio is convex in the amount translocated, so its EC50s lie "
    "at higher doses.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (translocation readout; results go to OUT/analysis).",
)
def command(
    path,
    readout,
    truth,
    qc_class,
    response_class,
    heatmap_class,
    normalize,
    max_hill,
    plate_map,
    translocation_score,
    out_dir,
) -> None:
    """Analyse PATH and write tables and figures to <folder>/analysis/."""
    from mcnn_infer import api

    locks = (
        (folder_lock(out_dir) if out_dir is not None else contextlib.nullcontext())
        if readout == "translocation"
        else analysis_locks(path, out_dir)
    )
    with locks:
        result = api.analyze(
            path,
            readout=readout,
            out=out_dir,
            truth=truth,
            qc_class=qc_class,
            response_class=response_class,
            heatmap_class=heatmap_class,
            normalize=normalize,
            plate_map=plate_map,
            score=translocation_score,
            max_hill=max_hill,
        )
    Console(stderr=True).print(f"analysis written to {result.out_dir}", markup=False)
