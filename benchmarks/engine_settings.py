"""Inference fields/s of an exported model per precision over batch size x CPU streams, side by side.

Run: ``.venv/bin/python benchmarks/engine_settings.py [--model models/mcnn-small-synth]
[--precisions fp32 bf16 int8] [--batches 1 2 4 8] [--streams 1 2] [--seconds 2] [--rounds 2] [--peak] [--layers]``

Each setting is compiled by :func:`mcnn_infer.runtime.open_engine` exactly as ``hcs score`` compiles
it (explicit inference precision, THROUGHPUT hint, ``streams`` CPU streams or the hint's choice
when ``0``, the runtime's optimal number of requests), fed random [0, 1] inputs of the model's size,
and timed for ``--seconds`` (after a warm-up batch per request); the settings run round-robin for
``--rounds`` rounds and each keeps its best, so they share the machine's noise. Printed per
precision: fields/s of every setting, the best one, and the setting ``hcs score`` would use by
default (batch from :func:`mcnn_infer.runtime.choose_batch_size`, streams from the hint) as a
fraction of the best. Precisions this CPU does not compute natively (bf16 without avx512_bf16 /
amx_bf16) or the card does not list are left out with a line saying why.

``--peak`` also times the matmul peak of each precision (``benchmarks/peak.py``) once per round and
prints every setting's GFLOP/s as a fraction of it (M-CNN cards: GFLOP per field from the
architecture); ``--layers`` (implies ``--peak``) compiles every setting with per-layer profiling
(``profile=True``; its cost is measured by ``benchmarks/layer_efficiency.py``) and prints, per
precision, the fraction of peak of each layer group (``benchmarks/layer_efficiency.py`` groups)
under every setting, so a setting that helps one stage and hurts another shows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.layer_efficiency import GROUPS, engine_layers  # noqa: E402
from benchmarks.peak import open_peaks  # noqa: E402
from benchmarks.seeded_mcnn import gflop_per_image  # noqa: E402
from mcnn_infer.card import load_card  # noqa: E402
from mcnn_infer.cpu import cpu_report, native_bf16  # noqa: E402
from mcnn_infer.errors import ConfigError  # noqa: E402
from mcnn_infer.formats import select_format  # noqa: E402
from mcnn_infer.runtime import choose_batch_size, open_engine  # noqa: E402


def fields_per_second(
    model: Path, precision: str, batch: int, streams: int, seconds: float, layers: bool = False
) -> tuple[float, str, list[dict] | None]:
    """Best-effort throughput of one setting (``streams`` 0: the hint's choice), what compiled, and with
    ``layers`` the group rows of its profiled requests (:func:`benchmarks.layer_efficiency.engine_layers`)."""
    engine = open_engine(
        model, "openvino", precision, batch_size=batch, streams=streams or None, profile=layers
    )
    rng = np.random.default_rng(0)
    inputs = rng.random((batch, *engine.input_shape), dtype=np.float32)
    for k in range(engine.jobs):  # warm-up: one batch per request
        engine.submit(inputs, k)
    engine.drain()
    if layers:
        engine.take_profiles()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        engine.submit(inputs, done)
        engine.poll()
        done += 1
    engine.drain()
    rate = done * batch / (time.perf_counter() - start)
    rows = engine_layers(engine, engine.take_profiles(), None)[0] if layers else None
    return rate, f"{engine.streams} streams, {engine.jobs} requests, {engine.threads} threads", rows


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
    parser.add_argument(
        "--peak", action="store_true", help="Also the fraction of each precision's matmul peak."
    )
    parser.add_argument(
        "--layers", action="store_true", help="Also per-layer-group fraction of peak (profiled)."
    )
    args = parser.parse_args()
    args.peak = args.peak or args.layers
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
    gflop = gflop_per_image(card) if args.peak else None
    with tempfile.TemporaryDirectory(prefix="hcs-settings-") as tmp:
        peaks = open_peaks(Path(tmp), tuple(precisions)) if args.peak else {}
        best, samples = sweep(args, settings, peaks)
        peak = {p: bench.gflops for p, bench in peaks.items()}
        for p, bench in peaks.items():
            print(f"  {p} matmul peak {bench.gflops:.1f} GFLOP/s (rounds {bench.result()['samples_gflops']})")
    report(args, precisions, best, samples, peak, gflop, default_batch)


def report(args, precisions, best, samples, peak, gflop, default_batch) -> None:
    """Print every precision's settings (best round, every round, fraction of peak) and the layer matrix."""
    for precision in precisions:
        rows = {k: v for k, v in best.items() if k[0] == precision}
        top = max(rows, key=lambda k: rows[k][0])
        print(f"{precision}:")
        for (_, batch, streams), (rate, what, _groups) in sorted(rows.items()):
            mark = "  <- best" if (precision, batch, streams) == top else ""
            stream_text = "hint" if streams == 0 else str(streams)
            rounds = ", ".join(f"{v:.2f}" for v in samples[(precision, batch, streams)])
            frac = ""
            if gflop and peak.get(precision):
                frac = f" = {rate * gflop:.1f} GFLOP/s = {rate * gflop / peak[precision]:.0%} of the {precision} peak"
            print(
                f"  batch {batch:>3} streams {stream_text:>4}: {rate:8.2f} fields/s{frac} "
                f"(rounds {rounds}; {what}){mark}"
            )
        default = rows[(precision, default_batch, 0)][0]
        print(
            f"  hcs score's default (batch {default_batch}, streams from the hint): {default:.1f} fields/s = "
            f"{default / rows[top][0]:.2f} of the best"
        )
        if args.layers:
            print_layer_matrix(precision, {k[1:]: v[2] for k, v in rows.items()}, peak.get(precision))


def sweep(args, settings, peaks) -> tuple[dict, dict]:
    """Round-robin over ``settings`` (and the matmul peaks): best (rate, what, rows) and every round's rate."""
    best: dict[tuple[str, int, int], tuple[float, str, list[dict] | None]] = {}
    samples: dict[tuple[str, int, int], list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds):
        for bench in peaks.values():
            bench.time_once()
        for setting in settings:
            rate, what, rows = fields_per_second(args.model, *setting, args.seconds, args.layers)
            samples[setting].append(rate)
            if setting not in best or rate > best[setting][0]:
                best[setting] = (rate, what, rows)
    return best, samples


def print_layer_matrix(precision: str, rows: dict[tuple[int, int], list[dict]], peak: float | None) -> None:
    """Per layer group (rows) and setting (columns): ms per field (profiled, whole machine) and, where the
    group computes, its fraction of ``peak``; groups under 2% of the time in every setting are summed
    into ``the rest`` (ms only); ``all groups`` is the whole profiled model."""
    settings = sorted(rows)
    shown = [
        g for g in GROUPS if any(r["group"] == g and r["share"] >= 0.02 for s in settings for r in rows[s])
    ]
    print(f"  {precision} per layer group: ms per field [fraction of the {precision} matmul peak]:")
    labels = [f"b{b} s{s or 'hint'}" for b, s in settings]
    print("    " + f"{'group':26s}" + "".join(f"{label:>16s}" for label in labels))
    for group in [*shown, "the rest", "all groups"]:
        cells = []
        for setting in settings:
            match = [
                r
                for r in rows[setting]
                if r["group"] == group
                or (group == "the rest" and r["group"] not in shown)
                or group == "all groups"
            ]
            gflop = sum(r["gflop_per_image"] for r in match) if group != "the rest" else 0.0
            ms = sum(r["ms_per_image"] for r in match)
            frac = f" [{gflop / ms * 1e3 / peak:.0%}]" if gflop and peak and ms else ""
            cells.append(f"{ms:.2f}{frac}")
        print("    " + f"{group:26s}" + "".join(f"{c:>16s}" for c in cells))


if __name__ == "__main__":
    main()
