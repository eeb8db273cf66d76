"""``make sbs96``: the M-CNN on a real plate, judged against the classical readout.

::

    python -m mcnn_train.sbs96_example --plate ../shared/data/sbs96 --out sbs96-out [--seed 0] [--workers 2]

The real 96-well translocation plate (``../shared/data/sbs96``: columns 01-02 negative
controls, 12 positive controls, 03-11 nine doses, rows A-H) is used the way an assay team with
one plate would:

1. a plate map that labels only the **controls of rows A-D** (``cytoplasmic`` / ``nuclear``);
   the other wells keep their role and dose but no label;
2. ``hcs train --preset plate-controls``: the small M-CNN on random 256x256 tiles at native
   resolution (640x640), balanced classes;
3. ``hcs export`` (ONNX + OpenVINO FP32) and ``hcs score`` of the whole plate: the model's
   training and validation wells are flagged ``in_training``;
4. ``hcs analyze --readout translocation``: the classical nuclear-translocation readout (the
   nuclear / perinuclear ratio, its log and the nuclear fraction);
5. ``hcs compare``, the two readouts side by side
   (:func:`mcnn_infer.analysis.readout_comparison.compare_readouts`): Z' on the held-out controls
   of rows E-H, EC50 per row (dose index) against each classical scale, one dose-response plot,
   ``results/analysis/comparison/``; then ``hcs analyze`` and ``hcs report`` of the M-CNN
   results (``results/report.html``, with the comparison as a section).

A rerun skips the steps whose output is complete.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd
from rich.console import Console

from mcnn_infer.analysis.translocation import read_plate_map
from mcnn_infer.atomic import write_table
from mcnn_infer.errors import HcsError
from mcnn_infer.results import ANALYSIS_DIRNAME, COMPARISON_DIRNAME, COMPARISON_FILE
from mcnn_train.cli_steps import run_step, skip_step

PLATE_MAP_NAME = "1049_Metadata.csv"
TRAIN_ROWS = "ABCD"
CLASSES = {"negative": "cytoplasmic", "positive": "nuclear"}
POSITIVE_CLASS = CLASSES["positive"]


def training_plate_map(sbs_map: Path, plate: str, train_rows: str = TRAIN_ROWS) -> pd.DataFrame:
    """An hcs plate map of the SBS plate that labels only the control wells of ``train_rows``.

    Parameters
    ----------
    sbs_map : Path
        ``1049_Metadata.csv`` (``Row, Column, SBS_Doses, SBS_Controls``).
    plate : str
        Plate name (the plate folder's name).
    train_rows : str
        Row letters whose control wells are labelled for training.

    Returns
    -------
    pandas.DataFrame
        ``plate, well, compound, concentration, role, label``: concentration = dose index
        (controls 0), compound = ``row<R>`` for dosed wells, label = the class of a training control.
    """
    sbs = read_plate_map(sbs_map)  # well, role, group (the row), x (the dose index)
    compound = sbs["role"].map({"negative": "DMSO", "positive": "positive control"})
    return pd.DataFrame(
        {
            "plate": plate,
            "well": sbs["well"],
            "compound": compound.fillna("row" + sbs["group"]),
            "concentration": sbs["x"].astype(float),
            "role": sbs["role"],
            "label": sbs["role"].map(CLASSES).where(sbs["group"].isin(list(train_rows))).fillna(""),
        }
    )


def run_example(
    plate: Path,
    out: Path,
    seed: int = 0,
    epochs: int | None = None,
    console: Console | None = None,
    workers: int = 1,
    precision: str = "fp32",
) -> dict:
    """Run (or resume) the example; return the comparison summary (``readout_comparison.json``).

    ``workers`` and ``precision`` are ``hcs train``'s ``--workers`` and ``--precision`` (the
    preset's global batch is the same with any number of workers).
    """
    console = console or Console()
    plate, out = Path(plate).absolute(), Path(out).absolute()
    sbs_map = plate / PLATE_MAP_NAME
    if not sbs_map.is_file():
        raise HcsError(f"{sbs_map}: not found; expected the SBS plate folder with its {PLATE_MAP_NAME}")
    out.mkdir(parents=True, exist_ok=True)
    plate_map = out / "plate_map.csv"
    write_table(training_plate_map(sbs_map, plate.name), plate_map)
    run, model, results = out / "run", out / "model", out / "results"
    classical, comparison = out / "classical", results / ANALYSIS_DIRNAME / COMPARISON_DIRNAME

    if (run / "card.json").exists():
        skip_step(console, "1/5 train on the controls of rows A-D", str(run / "card.json"))
    else:
        args = ["train", str(plate), "--labels", str(plate_map), "--preset", "plate-controls"]
        args += ["--seed", str(seed), "--out", str(run)] + (["--epochs", str(epochs)] if epochs else [])
        args += ["--workers", str(workers), "--precision", precision]
        run_step(console, "1/5 train on the controls of rows A-D", args, job="sbs96")
    if (model / "card.json").exists():
        skip_step(console, "2/5 export", str(model / "card.json"))
    else:
        run_step(console, "2/5 export", ["export", str(run), "--out", str(model), "--overwrite"], job="sbs96")
    if (results / "run.json").exists():
        skip_step(console, "3/5 score the plate", str(results / "run.json"))
    else:
        args = ["score", str(plate), "--model", str(model), "--metadata", str(plate_map)]
        run_step(console, "3/5 score the plate", [*args, "--out", str(results)], job="sbs96")
    classical_summary = classical / "analysis" / "summary.json"
    # results of a version that wrote the ratio only are redone: the comparison needs every scale
    if classical_summary.exists() and "scale_columns" in json.loads(classical_summary.read_text()):
        skip_step(console, "4/5 classical translocation readout", str(classical / "analysis"))
    else:
        args = ["analyze", "--readout", "translocation", str(plate), "--plate-map", str(sbs_map)]
        run_step(
            console, "4/5 classical translocation readout", [*args, "--out", str(classical)], job="sbs96"
        )
    args = ["compare", str(results), str(classical), "--plate-map", str(sbs_map), "--class", POSITIVE_CLASS]
    run_step(console, "5/5 M-CNN vs classical readout", args, job="sbs96")
    run_step(console, "5/5 analyse the M-CNN results", ["analyze", str(results)], job="sbs96")
    run_step(
        console, "5/5 report", ["report", str(results), "--out", str(results / "report.html")], job="sbs96"
    )
    console.print(f"Report with both readouts side by side: [bold]{results / 'report.html'}[/]")
    return json.loads((comparison / COMPARISON_FILE).read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcnn_train.sbs96_example", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--plate", default=os.path.join("..", "shared", "data", "sbs96"), help="SBS plate folder"
    )
    parser.add_argument("--out", default="sbs96-out", help="folder for everything the example writes")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the preset's)")
    parser.add_argument("--workers", type=int, default=1, help="Horovod workers of the training")
    parser.add_argument("--precision", default="fp32", help="training precision (fp32, bf16, auto)")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run_example(
            Path(args.plate), Path(args.out), args.seed, args.epochs, console, args.workers, args.precision
        )
    except HcsError as exc:
        console.print(f"[red]sbs96: {exc}[/]")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
