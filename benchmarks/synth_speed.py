"""Synthetic plate generation speed: fields per second at 1024x1280 and 256x320.

Measured side by side in one run: rendering only (in memory) and rendering + writing
3 TIFFs per field (atomic writes), with 1 and 2 worker processes. Prints a table and the
ratios between the sizes and between worker counts.

Usage: python benchmarks/synth_speed.py [--fields N] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mcnn_infer.synth import generate, simple_design
from mcnn_infer.synth.phenotypes import DMSO_PARAMS
from mcnn_infer.synth.render import render_field
from mcnn_infer.synth.writer import field_truth

SIZES = {"1024x1280": (1024, 1280), "256x320": (256, 320)}


def _design(n: int):
    """The first ``n`` fields of a simple design (one high-dose well per MoA, then more)."""
    design = simple_design(
        plates=1,
        compounds_per_moa=1,
        concentrations=2,
        replicates=1,
        controls=1,
        positive_controls=0,
        concentration_range_um=(1.0, 30.0),
        seed=0,
    )
    design.fields = design.fields.head(n).reset_index(drop=True)
    return design


def render_rate(size: tuple[int, int], n: int) -> float:
    """Fields per second of :func:`render_field` alone on the benchmark design (one process)."""
    design = _design(n)
    truth, inputs = field_truth(design, seed=0)
    styles = [design.compounds[c].arrest_style for c in design.fields["compound"]]
    render_field(DMSO_PARAMS, "bipolar", size, np.random.default_rng(0))  # warm-up
    start = time.perf_counter()
    for i, ((params, acquisition), style) in enumerate(zip(inputs, styles, strict=True)):
        render_field(params, style, size, np.random.default_rng(i), acquisition)
    return len(truth) / (time.perf_counter() - start)


def generate_rate(size: tuple[int, int], n: int, workers: int, root: Path) -> float:
    """Fields per second of :func:`generate` (render + write 3 TIFFs, incl. worker start-up)."""
    result = generate(
        root / f"{size[0]}x{size[1]}_w{workers}", _design(n), size=size, workers=workers, progress=False
    )
    return result.fields_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fields", type=int, default=24, help="fields per measurement at 256x320 (1/4 at full size)"
    )
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        root = Path(tmp)
        rows = []
        for label, size in SIZES.items():
            n = args.fields if size[0] <= 256 else max(3, args.fields // 4)
            rows.append((label, "render only, 1 process", render_rate(size, n)))
            for workers in (1, 2):
                rows.append(
                    (label, f"render + write, {workers} worker(s)", generate_rate(size, n, workers, root))
                )
    print(f"{'size':<10} {'what':<32} {'fields/s':>9}")
    for label, what, rate in rows:
        print(f"{label:<10} {what:<32} {rate:9.2f}")
    rate = {(label, what): value for label, what, value in rows}
    small, big = "256x320", "1024x1280"
    print(
        f"ratio 256x320 / 1024x1280 (render only): {rate[(small, 'render only, 1 process')] / rate[(big, 'render only, 1 process')]:.1f}x"
    )
    for label in SIZES:
        one, two = rate[(label, "render + write, 1 worker(s)")], rate[(label, "render + write, 2 worker(s)")]
        write_share = 1 - one / rate[(label, "render only, 1 process")]
        print(
            f"{label}: 2 workers / 1 worker = {two / one:.2f}x; writing costs {100 * write_share:.0f}% of 1-worker time"
        )


if __name__ == "__main__":
    main()
