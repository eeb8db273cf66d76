"""Two exports of the same model side by side: inference fields/s per precision, and do they agree.

Run: ``.venv/bin/python benchmarks/model_pair.py BEFORE AFTER [--precisions fp32 int8]
[--seconds 6] [--rounds 3] [--check-fields 4]``

For a change to the model's graph that should not change its numbers (such as the M-CNN's chained
down-sampling, ``mcnn_train/models/mcnn.py``): BEFORE and AFTER are model folders exported with the
same weights, one from the old graph and one from the new (``benchmarks/export_formats.py --work
DIR`` keeps its export in ``DIR/model``; the same ``--seed`` gives the same weights). Both must take
inputs of the same size.

Per precision both are compiled by :func:`mcnn_infer.runtime.open_engine` as ``hcs score`` compiles
them (its default batch and streams, the precision explicit) and first run on the same
``--check-fields`` random [0, 1] fields: the largest logit difference and the top-1 agreement say
whether AFTER computes what BEFORE does. Then each is timed for ``--seconds`` per round
(:func:`benchmarks.engine_settings.fields_per_second`), BEFORE and AFTER alternating which goes
first, for ``--rounds`` rounds; printed: the best fields/s of each, AFTER / BEFORE per round
(median and range: shared machines have quiet and busy minutes). Precisions this CPU does not
compute natively or a card does not list are left out with a line saying why.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.engine_settings import fields_per_second, usable  # noqa: E402
from benchmarks.score_throughput import cpu_lines  # noqa: E402
from mcnn_infer.card import load_card  # noqa: E402
from mcnn_infer.cpu import cpu_report  # noqa: E402
from mcnn_infer.errors import ConfigError  # noqa: E402
from mcnn_infer.runtime import choose_batch_size, open_engine  # noqa: E402


def input_shape(model: Path) -> tuple[int, int, int]:
    """(H, W, C) a model folder's card says its input is."""
    spec = load_card(model).input
    return spec.height, spec.width, len(spec.channels)


def agreement(before: Path, after: Path, precision: str, fields: int) -> tuple[float, float]:
    """Largest |logit difference| and top-1 agreement of the two models on ``fields`` random fields.

    Returns
    -------
    (float, float)
        max |logit_after - logit_before| over fields and classes; fraction of fields with the same
        arg-max class.
    """
    shape = input_shape(before)
    inputs = np.random.default_rng(0).random((fields, *shape), dtype=np.float32)
    logits = []
    for model in (before, after):
        engine = open_engine(model, "openvino", precision)
        logits.append(engine.infer(inputs)[0])
        del engine
    if logits[0].shape != logits[1].shape:
        raise ConfigError(
            f"{before} gives {logits[0].shape[1]} logits, {after} gives {logits[1].shape[1]}; expected the same model"
        )
    same = np.argmax(logits[0], axis=1) == np.argmax(logits[1], axis=1)
    return float(np.max(np.abs(logits[1] - logits[0]))), float(np.mean(same))


def timed_rounds(
    before: Path, after: Path, precision: str, batch: int, seconds: float, rounds: int
) -> tuple[list[float], list[float]]:
    """fields/s of every round for BEFORE and AFTER, alternating which of them runs first (by position:
    the same folder given twice is timed twice per round)."""
    models = (before, after)
    rates: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            rates[i].append(fields_per_second(models[i], precision, batch, 0, seconds)[0])
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="model folder exported from the old graph")
    parser.add_argument("after", type=Path, help="model folder exported from the new graph")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per model and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check-fields", type=int, default=4, help="random fields both models infer")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.check_fields < 1:
        parser.error(
            f"--rounds {args.rounds}, --seconds {args.seconds}, --check-fields {args.check_fields}: "
            "expected at least 1 round, positive seconds and at least 1 field"
        )
    shapes = {model: input_shape(model) for model in (args.before, args.after)}
    if shapes[args.before] != shapes[args.after]:
        raise ConfigError(
            f"{args.before} takes inputs of (H, W, C) {shapes[args.before]}, {args.after} "
            f"{shapes[args.after]}; expected two exports of the same model"
        )
    for line in cpu_lines(cpu_report(), "cpu_report()"):
        print(line)
    print(f"before: {args.before}\nafter:  {args.after}")
    kept = []
    for precision in args.precisions:
        notes = [f"{n} ({m})" for m in (args.before, args.after) for n in usable(m, [precision])[1]]
        if notes:
            print(f"  {notes[0]}")
        else:
            kept.append(precision)
    batch = choose_batch_size(*shapes[args.before])
    print(
        f"\n{'precision':<9} {'before f/s':>10} {'after f/s':>10} {'after/before':>12} {'range':>11}"
        f" {'max|dlogit|':>11} {'top-1':>6}  rounds (before; after)"
    )
    for precision in kept:
        dlogit, top1 = agreement(args.before, args.after, precision, args.check_fields)
        old, new = timed_rounds(args.before, args.after, precision, batch, args.seconds, args.rounds)
        ratios = [b / a for a, b in zip(old, new, strict=True)]
        print(
            f"{precision:<9} {max(old):>10.2f} {max(new):>10.2f} {statistics.median(ratios):>12.3f}"
            f" {min(ratios):>5.3f}-{max(ratios):<5.3f} {dlogit:>11.2e} {top1:>6.2f}"
            f"  [{', '.join(f'{v:.2f}' for v in old)}; {', '.join(f'{v:.2f}' for v in new)}]"
        )
    print(
        f"(batch {batch}, streams from the THROUGHPUT hint, as hcs score compiles them; {args.seconds:g} s per round)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
