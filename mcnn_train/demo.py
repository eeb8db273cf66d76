"""``make demo``: the whole hcs journey on synthetic plates, one command.

::

    python -m mcnn_train.demo --out demo-out

Steps (each is a real ``hcs`` command, printed before it runs; a rerun skips every step
whose output is complete and resumes an interrupted training or scoring run):

1. ``hcs synth``: a simple-mode BBBC021-like screen, 6 MoAs x 3 compounds x 6 doses, 4 replicate
   384-well plates in two weeks (batches), 3 sites per well, 256x320 fields; per plate 16 DMSO
   and 16 positive-control wells alternating down the first and last columns (so Z' rests on
   32 control wells and an edge effect hits both kinds alike);
2. ``hcs train``: ``mcnn-small`` with **2 Horovod workers** on one plate of each week
   (validation: held-out compounds), at native resolution (256x320) on random 128x128 tiles;
   the exported model scores whole fields as the mean over a 2x3 grid of tiles;
3. ``hcs export``: ONNX, OpenVINO FP32 and OpenVINO INT8 (NNCF, calibrated on a training plate)
   with the model card and the parity report; on a CPU with native BF16 also the BF16 check
   (``openvino-bf16``), so ``hcs score --precision bf16`` / ``auto`` can use it;
4. ``hcs score``: the two held-out plates (one per week) with OpenVINO, with embeddings;
5. ``hcs analyze`` (Z', MoA calls, EC50 vs the generator's truth), ``hcs evaluate``
   (NSC / NSCB) and ``hcs report`` (the HTML report whose path is printed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from mcnn_infer.cpu import native_bf16
from mcnn_infer.errors import HcsError
from mcnn_infer.formats import FORMATS
from mcnn_train.cli_steps import run_step, skip_step

TRAIN_PLATES = ("Week1/Week1_50001", "Week2/Week2_50003")
SCORE_PLATES = ("Week1/Week1_50002", "Week2/Week2_50004")
#: Six MoAs with distinct phenotypes (the positive control PC-taxol is a microtubule stabiliser),
#: three compounds each so a held-out compound leaves two to learn from; 4 replicate plates.
SYNTH_OPTIONS = (
    "--like simple --size 256x320 --plate-format 384 --replicates 4 --sites 3 --concentrations 6 "
    "--compounds-per-moa 3 --moas 'Actin disruptors,DNA damage,Eg5 inhibitors,Epithelial,"
    "Microtubule stabilizers,Protein synthesis' --controls 16 --positive-controls 16 "
    "--control-layout interleaved --seed 0 --workers 2 --preview --overwrite"
)
#: The recipe (mcnn_train/recipe.py) with a global batch of 16 images per step, the schedule's rates
#: written for 8 (so they run doubled, after a warm-up); compound-level validation split. Strong
#: scaling: the same model with any number of workers (the demo uses 2, :data:`WORKERS`).
#: Native-resolution tiles rather than fields downscaled to 128x128: the same cost per training
#: step, better NSC and EC50s (README "What the demo produces").
TRAIN_OPTIONS = "--model mcnn-small --size native --tile 128x128 --batch-size 16 --lr-reference-batch 8"
#: Horovod workers of the demo's training (``--workers``): both cores of a small machine.
WORKERS = 2
#: Training epochs and seed unless ``--epochs`` / ``--seed`` say otherwise.
EPOCHS = 30
SEED = 0


@dataclass(frozen=True)
class DemoPaths:
    """Where each step of the demo writes."""

    root: Path

    @property
    def screen(self) -> Path:
        return self.root / "screen"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def report(self) -> Path:
        return self.results / "report.html"


def run_demo(
    out: str | os.PathLike[str],
    epochs: int = EPOCHS,
    console: Console | None = None,
    seed: int = SEED,
    workers: int = WORKERS,
    precision: str = "fp32",
) -> Path:
    """Run (or resume) the demo into ``out``; return the path of the HTML report.

    ``seed`` is the training seed (split, weights, data order); the screen is the same for every
    seed. ``workers`` and ``precision`` are ``hcs train``'s ``--workers`` and ``--precision``.
    """
    console = console or Console()
    paths = DemoPaths(Path(out).absolute())
    paths.root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    if (paths.screen / "synth.json").exists():
        skip_step(console, "1/6 synthetic screen", str(paths.screen / "synth.json"))
    else:
        timings["synth"] = run_step(
            console, "1/6 synthetic screen", ["synth", str(paths.screen), *shlex.split(SYNTH_OPTIONS)]
        )

    train_plates = [str(paths.screen / p) for p in TRAIN_PLATES]
    train_title = f"2/6 train ({workers} Horovod worker{'s' if workers > 1 else ''}, {precision})"
    if (paths.run / "card.json").exists() and (paths.run / "model").exists():
        skip_step(console, train_title, str(paths.run / "card.json"))
    elif (paths.run / "config.json").exists():
        timings["train"] = run_step(
            console, f"{train_title}, resuming", ["train", "--resume", str(paths.run)]
        )
    else:
        timings["train"] = run_step(
            console,
            train_title,
            [
                "train",
                *train_plates,
                "--labels",
                str(paths.screen / "platemap.csv"),
                "--out",
                str(paths.run),
                "--epochs",
                str(epochs),
                "--seed",
                str(seed),
                *shlex.split(TRAIN_OPTIONS),
                "--workers",
                str(workers),
                "--precision",
                precision,
            ],
        )

    formats = ["openvino-int8", *(["openvino-bf16"] if native_bf16() else [])]
    label = "3/6 export ONNX + OpenVINO FP32 + INT8" + (" + BF16 check" if len(formats) > 1 else "")
    if _exported(paths.model, formats):
        skip_step(console, label, str(paths.model / "card.json"))
    else:
        timings["export"] = run_step(
            console,
            label,
            [
                "export",
                str(paths.run),
                "--out",
                str(paths.model),
                "--formats",
                ",".join(formats),
                "--calibrate",
                train_plates[0],
                "--overwrite",
            ],
        )

    if (paths.results / "run.json").exists():
        skip_step(console, "4/6 score the held-out plates", str(paths.results / "run.json"))
    else:
        timings["score"] = run_step(
            console,
            "4/6 score the held-out plates",
            [
                "score",
                *[str(paths.screen / p) for p in SCORE_PLATES],
                "--model",
                str(paths.model),
                "--metadata",
                str(paths.screen / "platemap.csv"),
                "--embeddings",
                "--out",
                str(paths.results),
            ],
        )

    timings["analyze"] = run_step(
        console,
        "5/6 analyse: QC, MoA calls, potency vs truth; evaluate: NSC / NSCB",
        ["analyze", str(paths.results), "--truth", str(paths.screen / "truth_compounds.csv")],
    )
    timings["evaluate"] = run_step(console, "5/6 evaluate: NSC / NSCB", ["evaluate", str(paths.results)])
    timings["report"] = run_step(
        console, "6/6 HTML report", ["report", str(paths.results), "--out", str(paths.report)]
    )

    console.print(Rule("[bold]demo finished"))
    for step, seconds in timings.items():
        console.print(f"  {step:<9} {seconds:7.1f} s")
    console.print(f"\nReport: [bold]{paths.report}[/]  (open it in a browser; it needs no network)")
    return paths.report


def _exported(model_dir: Path, formats: list[str]) -> bool:
    card = model_dir / "card.json"
    if not card.exists():
        return False
    written = json.loads(card.read_text()).get("formats", {})
    return {*formats, *(f.name for f in FORMATS.values() if f.always)} <= set(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcnn_train.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-out", help="folder for everything the demo writes")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs")
    parser.add_argument("--seed", type=int, default=SEED, help="training seed")
    parser.add_argument("--workers", type=int, default=WORKERS, help="Horovod workers of the training")
    parser.add_argument("--precision", default="fp32", help="training precision (fp32, bf16, auto)")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run_demo(
            args.out, epochs=args.epochs, console=console, seed=args.seed, workers=args.workers,
            precision=args.precision,
        )
    except HcsError as exc:
        console.print(f"[red]demo: {exc}[/]")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
