"""Rich progress bars (fields/s and ETA per plate) and the final summary table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mcnn_infer.progress import progress_bar


@contextlib.contextmanager
def plate_progress(console: Console | None) -> Iterator[Progress | None]:
    """A progress display with one bar per plate, or None when ``console`` is None."""
    if console is None:
        yield None
        return
    with progress_bar("fields", console=console) as progress:
        yield progress


def summary_table(rows: list[dict], title: str) -> Table:
    """Per-plate summary: plate, fields, ok, skipped, scored now, resumed."""
    table = Table(title=title)
    for name in ("plate", "fields", "ok", "skipped", "processed now", "from earlier run"):
        table.add_column(name, justify="left" if name == "plate" else "right")
    for row in rows:
        table.add_row(
            str(row["plate"]),
            str(row["fields"]),
            str(row["ok"]),
            str(row["skipped"]),
            str(row["scored_now"]),
            str(row["resumed"]),
        )
    return table


def stage_table(report: dict) -> Table:
    """Where the time went (:meth:`mcnn_infer.scoring.stage_times.StageClock.report`): per stage, where it
    runs, CPU seconds in total and per field, wall seconds; the caption names the bounding stage."""
    fields = report["fields"]
    table = Table(
        title=f"where the scoring loop's time went: {fields} fields in {report['wall_seconds']:.2f} s wall, "
        f"{report['process_cpu_seconds']:.2f} CPU-s",
        caption=f"bounded by {report['bound_by']}: {report['bound_reason']}",
    )
    for name in ("stage", "runs in", "CPU s", "CPU ms/field", "wall s"):
        table.add_column(name, justify="left" if name in ("stage", "runs in") else "right")
    for key, row in report["stages"].items():
        if key == "thumbnails" and not row["cpu_seconds"] and not row["wall_seconds"]:
            continue
        mark = " *" if key == report["bound_by"] else ""
        table.add_row(
            row["label"] + mark,
            row["where"],
            f"{row['cpu_seconds']:.2f}",
            f"{row['cpu_ms_per_field']:.1f}",
            f"{row['wall_seconds']:.2f}",
        )
    return table
