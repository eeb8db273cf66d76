"""What one poll of ``hcs watch`` costs on a full plate: the snapshot (size + mtime of every file)
and the name-only scan that counts complete fields.

Writes an empty-file MetaXpress plate (the scan reads names, not pixels) of WELLS x SITES x
CHANNELS files into a temp folder and times :func:`mcnn_infer.watch.take_snapshot` and
:func:`mcnn_infer.watch.completion.count_fields` (best of ``--repeat``). The watcher scans only a
plate that did not change since the previous poll, and only once per change.

Usage::

    .venv/bin/python benchmarks/watch_poll.py                      # 384 wells x 9 sites x 4 channels
    .venv/bin/python benchmarks/watch_poll.py --wells 1536 --sites 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mcnn_infer.watch import take_snapshot
from mcnn_infer.watch.completion import count_fields

ROWS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def write_plate(folder: Path, wells: int, sites: int, channels: int) -> int:
    """Empty ``<plate>_<well>_s<site>_w<c>.tif`` files; returns how many."""
    cols = {96: 12, 384: 24, 1536: 48}.get(wells, 24)
    folder.mkdir(parents=True)
    n = 0
    for k in range(wells):
        well = f"{ROWS[k // cols]}{k % cols + 1:02d}"
        for site in range(1, sites + 1):
            for c in range(1, channels + 1):
                (folder / f"{folder.name}_{well}_s{site}_w{c}.tif").touch()
                n += 1
    return n


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=384)
    parser.add_argument("--sites", type=int, default=9)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plate = Path(tmp) / "Plate1"
        files = write_plate(plate, args.wells, args.sites, args.channels)
        snap = best(lambda: take_snapshot(plate), args.repeat)
        count = count_fields(plate)
        scan = best(lambda: count_fields(plate), args.repeat)
        print(
            f"{files} files, {count.fields} fields ({count.layout}): snapshot {snap * 1000:.0f} ms, "
            f"field count (scan) {scan * 1000:.0f} ms (best of {args.repeat})"
        )


if __name__ == "__main__":
    main()
