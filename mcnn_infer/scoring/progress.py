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
