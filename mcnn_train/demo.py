"""``make demo``: the whole hcs journey on synthetic plates, one command.

::

    python -m mcnn_train.demo --out demo-out

Steps (each is a real ``hcs`` command, printed before it runs; a rerun skips every step
whose output is complete and resumes an interrupted training or scoring run):

1. ``hcs synth``: a simple-mode BBBC021-like screen, 6 MoAs x 3 compounds x 6 doses + DMSO + a
   positive control, 4 replicate 384-well plates in two weeks (batches), 3 sites per well,
   256x320 fields;
2. ``hcs train``: ``mcnn-small`` at 128x128 with **2 Horovod workers** on one plate of each week
   (validation: held-out compounds);
3. ``hcs export``: ONNX, OpenVINO FP32 and OpenVINO INT8 (NNCF, calibrated on a training plate)
   with the model card and the parity report; on a CPU with native BF16 also the BF16 check
   (``--bf16``), so ``hcs score --precision bf16`` / ``auto`` can use it;
4. ``hcs score``: the two held-out plates (one per week) with OpenVINO, with embeddings;
5. ``hcs analyze`` (Z', MoA calls, EC50 vs the generator's truth), ``hcs evaluate``
   (NSC / NSCB) and ``hcs report`` (the HTML report whose path is printed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from mcnn_infer.cpu import native_bf16
from mcnn_infer.errors import HcsError

TRAIN_PLATES = ("Week1/Week1_50001", "Week2/Week2_50003")
SCORE_PLATES = ("Week1/Week1_50002", "Week2/Week2_50004")
#: Six MoAs with distinct phenotypes (the positive control PC-taxol is a microtubule stabiliser),
#: three compounds each so a held-out compound leaves two to learn from; 4 replicate plates.
SYNTH_OPTIONS = (
    "--like simple --size 256x320 --plate-format 384 --replicates 4 --sites 3 --concentrations 6 "
    "--compounds-per-moa 3 --moas 'Actin disruptors,DNA damage,Eg5 inhibitors,Epithelial,"
    "Microtubule stabilizers,Protein synthesis' --seed 0 --workers 2 --preview --overwrite"
)
#: The recipe (mcnn_train/recipe.py): 8 images per worker and step; its schedule's rates are per
#: 8 images and scale with the 2 workers; compound-level validation split.
TRAIN_OPTIONS = "--model mcnn-small --size 128x128 --workers 2 --seed 0"


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


def _hcs() -> list[str]:
    script = Path(sys.executable).with_name("hcs")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hcs_cli"]


def _run(console: Console, title: str, args: list[str]) -> float:
    console.print(Rule(f"[bold]{title}"))
    console.print("$ hcs " + " ".join(shlex.quote(a) for a in args), style="cyan", markup=False)
    start = time.perf_counter()
    result = subprocess.run([*_hcs(), *args], env=os.environ.copy(), check=False)
    if result.returncode != 0:
        raise HcsError(
            f"demo step '{title}' failed (exit code {result.returncode}); fix the error above and rerun make demo"
        )
    return time.perf_counter() - start


def _skip(console: Console, title: str, why: str) -> None:
    console.print(Rule(f"[bold]{title}"))
    console.print(f"[green]already done[/] ({why}); delete it to redo this step")


def run_demo(out: str | os.PathLike[str], epochs: int = 30, console: Console | None = None) -> Path:
    """Run (or resume) the demo into ``out``; return the path of the HTML report."""
    console = console or Console()
    paths = DemoPaths(Path(out).absolute())
    paths.root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    if (paths.screen / "synth.json").exists():
        _skip(console, "1/6 synthetic screen", str(paths.screen / "synth.json"))
    else:
        timings["synth"] = _run(
            console, "1/6 synthetic screen", ["synth", str(paths.screen), *shlex.split(SYNTH_OPTIONS)]
        )

    train_plates = [str(paths.screen / p) for p in TRAIN_PLATES]
    if (paths.run / "card.json").exists() and (paths.run / "model").exists():
        _skip(console, "2/6 train (2 Horovod workers)", str(paths.run / "card.json"))
    elif (paths.run / "config.json").exists():
        timings["train"] = _run(
            console, "2/6 train (2 Horovod workers), resuming", ["train", "--resume", str(paths.run)]
        )
    else:
        timings["train"] = _run(
            console,
            "2/6 train (2 Horovod workers)",
            [
                "train",
                *train_plates,
                "--labels",
                str(paths.screen / "platemap.csv"),
                "--out",
                str(paths.run),
                "--epochs",
                str(epochs),
                *shlex.split(TRAIN_OPTIONS),
            ],
        )

    bf16 = ["--bf16"] if native_bf16() else []
    label = "3/6 export ONNX + OpenVINO FP32 + INT8" + (" + BF16 check" if bf16 else "")
    if _exported(paths.model, bf16):
        _skip(console, label, str(paths.model / "card.json"))
    else:
        timings["export"] = _run(
            console,
            label,
            [
                "export",
                str(paths.run),
                "--out",
                str(paths.model),
                "--int8",
                *bf16,
                "--calibrate",
                train_plates[0],
                "--overwrite",
            ],
        )

    if (paths.results / "run.json").exists():
        _skip(console, "4/6 score the held-out plates", str(paths.results / "run.json"))
    else:
        timings["score"] = _run(
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

    timings["analyze"] = _run(
        console,
        "5/6 analyse: QC, MoA calls, potency vs truth; evaluate: NSC / NSCB",
        ["analyze", str(paths.results), "--truth", str(paths.screen / "truth_compounds.csv")],
    )
    timings["evaluate"] = _run(console, "5/6 evaluate: NSC / NSCB", ["evaluate", str(paths.results)])
    timings["report"] = _run(
        console, "6/6 HTML report", ["report", str(paths.results), "--out", str(paths.report)]
    )

    console.print(Rule("[bold]demo finished"))
    for step, seconds in timings.items():
        console.print(f"  {step:<9} {seconds:7.1f} s")
    console.print(f"\nReport: [bold]{paths.report}[/]  (open it in a browser; it needs no network)")
    return paths.report


def _exported(model_dir: Path, bf16: list[str]) -> bool:
    card = model_dir / "card.json"
    if not card.exists():
        return False
    formats = json.loads(card.read_text()).get("formats", {})
    return {"onnx", "openvino-fp32", "openvino-int8", *(["openvino-bf16"] if bf16 else [])} <= set(formats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcnn_train.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-out", help="folder for everything the demo writes")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run_demo(args.out, epochs=args.epochs, console=console)
    except HcsError as exc:
        console.print(f"[red]demo: {exc}[/]")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
