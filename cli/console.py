"""The rich console the commands print to (wide enough for tables when output is piped)."""

from __future__ import annotations

import shutil

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console at least 140 columns wide, so tables stay readable in logs and pipes."""
    width = max(140, shutil.get_terminal_size((140, 24)).columns)
    return Console(stderr=stderr, width=width, highlight=False)
