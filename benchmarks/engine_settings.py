"""Inference fields/s of an exported model per precision over batch size x CPU streams, side by side.

Run: ``.venv/bin/python benchmarks/engine_settings.py [--model models/mcnn-small-synth]
[--precisions fp32 bf16 int8] [--batches 1 2 4 8] [--streams 1 2] [--seconds 2] [--rounds 2]``

Each setting is compiled by :func:`mcnn_infer.runtime.open_engine` exactly as ``hcs score`` compiles
it (explicit inference precision, THROUGHPUT hint, ``streams`` CPU streams or the hint's choice
when ``0``, the runtime's optimal number of requests), fed random [0, 1] inputs of the model's size,
and timed for ``--seconds`` (after a warm-up batch per request); the settings run round-robin for
``--rounds`` rounds and each keeps its best, so they share the machine's noise. Printed per
precision: fields/s of every setting, the best one, and the setting ``hcs score`` would use by
default (batch from :func:`mcnn_infer.runtime.choose_batch_size`, streams from the hint) as a
fraction of the best. Precisions this CPU does not compute natively (bf16 without avx512_bf16 /
amx_bf16) or the card does not list are left out with a line saying why.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mcnn_infer.card import load_card  # noqa: E402
from mcnn_infer.cpu import cpu_report, native_bf16  # noqa: E402
from mcnn_infer.errors import ConfigError  # noqa: E402
from mcnn_infer.formats import select_format  # noqa: E402
from mcnn_infer.runtime import choose_batch_size, open_engine  # noqa: E402


def fields_per_second(
    model: Path, precision: str, batch: int, streams: int, seconds: float
) -> tuple[float, str]:
    """Best-effort throughput of one setting (``streams`` 0: the hint's choice) and what compiled."""
    engine = open_engine(model, "openvino", precision, batch_size=batch, streams=streams or None)
    rng = np.random.default_rng(0)
    inputs = rng.random((batch, *engine.input_shape), dtype=np.float32)
    for k in range(engine.jobs):  # warm-up: one batch per request
        engine.submit(inputs, k)
    engine.drain()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        engine.submit(inputs, done)
        engine.poll()
        done += 1
    engine.drain()
    rate = done * batch / (time.perf_counter() - start)
    return rate, f"{engine.streams} streams, {engine.jobs} requests, {engine.threads} threads"


def usable(model: Path, precisions: list[str]) -> tuple[list[str], list[str]]:
    formats = list(load_card(model).formats)
    keep, notes = [], []
    for precision in precisions:
        try:
            select_format("openvino", precision, formats)
        except ConfigError:
            notes.append(f"{precision} skipped: the card lists no openvino {precision} format")
            continue
        if precision == "bf16" and not native_bf16():
            notes.append("bf16 skipped: this CPU has no native BF16")
            continue
        keep.append(precision)
    return keep, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "mcnn-small-synth")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 32])
    parser.add_argument(
        "--streams", type=int, nargs="+", default=[0, 1, 2], help="0: the THROUGHPUT hint's choice"
    )
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cpu = cpu_report()
    flags = ", ".join(f for f, on in cpu["flags"].items() if on)
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores ({flags}); model {args.model}")
    precisions, notes = usable(args.model, args.precisions)
    for note in notes:
        print(f"  {note}")
    card = load_card(args.model)
    default_batch = choose_batch_size(card.input.height, card.input.width, len(card.input.channels))
    settings = [(p, b, s) for p in precisions for b in args.batches for s in args.streams]
    if (default_batch not in args.batches) or 0 not in args.streams:
        settings += [(p, default_batch, 0) for p in precisions]
    best: dict[tuple[str, int, int], tuple[float, str]] = {}
    for _ in range(args.rounds):
        for setting in settings:
            rate, what = fields_per_second(args.model, *setting, args.seconds)
            if setting not in best or rate > best[setting][0]:
                best[setting] = (rate, what)
    for precision in precisions:
        rows = {k: v for k, v in best.items() if k[0] == precision}
        top = max(rows, key=lambda k: rows[k][0])
        print(f"{precision}:")
        for (_, batch, streams), (rate, what) in sorted(rows.items()):
            mark = "  <- best" if (precision, batch, streams) == top else ""
            stream_text = "hint" if streams == 0 else str(streams)
            print(f"  batch {batch:>3} streams {stream_text:>4}: {rate:8.1f} fields/s ({what}){mark}")
        default = rows[(precision, default_batch, 0)][0]
        print(
            f"  hcs score's default (batch {default_batch}, streams from the hint): {default:.1f} fields/s = "
            f"{default / rows[top][0]:.2f} of the best"
        )


if __name__ == "__main__":
    main()
