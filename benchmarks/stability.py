"""Run-to-run spread of the M-CNN readouts: the same recipe trained with several seeds.

Prints, per seed and as mean / sd / min / max over the seeds:

* ``sbs96`` (``make sbs96``, :mod:`mcnn_train.sbs96_example`): the real plate, M-CNN trained on
  the controls of rows A-D: Z' on the held-out controls of rows E-H (the M-CNN's QC score, its
  log-odds, and the classical translocation readout on the same wells), the row EC50s (dose
  index) and, for each scale of the classical readout (ratio, log-ratio, nuclear fraction), how
  many lie in its row range widened by 0.3, the median shift and the rank correlation;
* ``demo`` (``make demo``, :mod:`mcnn_train.demo`): the synthetic screen, scored on the two
  plates the model did not train on: Z' of each plate, NSC and NSCB, the median EC50
  fold-error against the generator's truth.

Usage: ``python benchmarks/stability.py [--what sbs96 demo] [--seeds 0 1 2] [--out stability-out]``
(about 6 minutes per sbs96 seed and 4 per demo seed on 2 cores; a rerun reuses finished seeds).
Every figure is measured on wells or plates the model did not train on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mcnn_train.demo import run_demo
from mcnn_train.sbs96_example import run_example

REPO = Path(__file__).resolve().parents[1]
SBS96 = REPO.parent / "shared" / "data" / "sbs96"


def run_suffix(workers: int, precision: str, default_workers: int) -> str:
    """Folder-name suffix of a run's worker count and precision (empty for the default count and fp32)."""
    return ("" if workers == default_workers else f"-w{workers}") + ("" if precision == "fp32" else f"-{precision}")


def sbs96_seed(out: Path, seed: int, console: Console, workers: int = 1, precision: str = "fp32") -> dict[str, float]:
    """Train, score and compare one seed on the real plate; the figures of that seed."""
    folder = out / f"sbs96-seed{seed}{run_suffix(workers, precision, 1)}"
    summary = run_example(SBS96, folder, seed=seed, console=console, workers=workers, precision=precision)
    ec50 = [g["ec50_x_model"] for g in summary["groups"]]
    z = summary["z_prime_held_out"]
    figures = {
        "Z' M-CNN (prob)": z["model"],
        "Z' M-CNN (log-odds)": z["model_logodds"],
        "row EC50 min": min(ec50),
        "row EC50 max": max(ec50),
    }
    for name, scale in summary["classical_scales"].items():
        figures[f"Z' classical {name}"] = scale["z_prime_held_out"]
        figures[f"classical {name} EC50 min"] = scale["classical_ec50_range"][0]
        figures[f"classical {name} EC50 max"] = scale["classical_ec50_range"][1]
        figures[f"rows within classical {name} +/-{summary['tolerance']}"] = scale["n_groups_within"]
        figures[f"EC50 shift vs classical {name}"] = scale["ec50_shift_model_minus_classical"]
        figures[f"row EC50 Spearman vs classical {name}"] = scale["ec50_spearman"]
        figures[f"dosed wells Pearson r vs classical {name}"] = scale["pearson_r_treated_wells"]
    return figures


def demo_seed(out: Path, seed: int, console: Console, workers: int = 2, precision: str = "fp32") -> dict[str, float]:
    """Run the demo with one training seed (the screen is shared); the figures of that seed."""
    folder = out / f"demo-seed{seed}{run_suffix(workers, precision, 2)}"
    first = out / "demo-seed0" / "screen"
    folder.mkdir(parents=True, exist_ok=True)
    if folder != first.parent and (first / "synth.json").exists() and not (folder / "screen").exists():
        (folder / "screen").symlink_to(first.resolve(), target_is_directory=True)
    report = run_demo(folder, seed=seed, console=console, workers=workers, precision=precision)
    analysis = json.loads((report.parent / "analysis" / "summary.json").read_text())
    evaluation = json.loads((report.parent / "analysis" / "evaluation" / "evaluation.json").read_text())
    figures = {f"Z' {p['plate']}": p["z_prime"] for p in analysis["qc"]["plates"]}
    metrics = evaluation.get("metrics", evaluation)
    for name in ("nsc", "nscb"):
        entry = metrics.get(name, {})
        figures[name.upper()] = entry.get("accuracy", entry.get("score", float("nan")))
    figures["EC50 fold-error (median, all)"] = analysis["potency"]["truth"]["median_fold_error_all"]
    figures["EC50 fold-error (median, trusted)"] = analysis["potency"]["truth"]["median_fold_error_trusted"]
    return figures


def print_table(console: Console, title: str, per_seed: dict[int, dict[str, float]]) -> None:
    table = Table(title=title)
    table.add_column("figure")
    for seed in per_seed:
        table.add_column(f"seed {seed}", justify="right")
    for column in ("mean", "sd", "min", "max"):
        table.add_column(column, justify="right")
    names = list(next(iter(per_seed.values())))
    for name in names:
        values = [per_seed[s][name] for s in per_seed]
        spread = statistics.stdev(values) if len(values) > 1 else float("nan")
        table.add_row(
            name,
            *(f"{v:.3f}" for v in values),
            f"{statistics.fmean(values):.3f}",
            f"{spread:.3f}",
            f"{min(values):.3f}",
            f"{max(values):.3f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", nargs="+", choices=("sbs96", "demo"), default=["sbs96", "demo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("stability-out"))
    parser.add_argument(
        "--workers", type=int, default=None, help="Horovod workers of each training (default: sbs96 1, demo 2)"
    )
    parser.add_argument("--precision", default="fp32", help="training precision: fp32, bf16 or auto")
    args = parser.parse_args(argv)
    # a log file gets the whole table (rich wraps to 80 columns when not writing to a terminal)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    results: dict[str, dict[int, dict[str, float]]] = {}
    runners = {"sbs96": (sbs96_seed, 1), "demo": (demo_seed, 2)}
    for what in args.what:
        runner, default_workers = runners[what]
        workers = args.workers or default_workers
        results[what] = {
            seed: runner(args.out.absolute(), seed, console, workers, args.precision) for seed in args.seeds
        }
    for what, per_seed in results.items():
        print_table(console, f"{what}: {len(per_seed)} seeds (held-out wells / plates only)", per_seed)
    suffix = "" if args.workers is None else f"-w{args.workers}"
    suffix += "" if args.precision == "fp32" else f"-{args.precision}"
    (args.out / f"stability{suffix}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
