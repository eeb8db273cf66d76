"""Rich progress bars (fields/s and ETA per plate) and the final summary table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


class RateColumn(ProgressColumn):
    """Fields per second of a task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- fields/s" if speed is None else f"{speed:,.1f} fields/s", style="progress.data.speed")


@contextlib.contextmanager
def plate_progress(console: Console | None) -> Iterator[Progress | None]:
    """A progress display with one bar per plate, or None when ``console`` is None."""
    if console is None:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
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
