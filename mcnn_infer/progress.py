"""The one progress bar of hcs: description, bar, count, rate (items/s), elapsed time and ETA."""

from __future__ import annotations

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
from rich.text import Text


class RateColumn(ProgressColumn):
    """Completed items per second of a task, e.g. ``12.3 fields/s``."""

    def __init__(self, unit: str = "fields") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        text = f"-- {self.unit}/s" if speed is None else f"{speed:,.1f} {self.unit}/s"
        return Text(text, style="progress.data.speed")


def progress_bar(
    unit: str = "fields", console: Console | None = None, enabled: bool = True, transient: bool = False
) -> Progress:
    """A rich progress display with count, rate in ``unit``/s, elapsed time and ETA.

    ``enabled=False`` gives a display that prints nothing (for ``--no-progress`` / ``--quiet``).
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not enabled,
    )
