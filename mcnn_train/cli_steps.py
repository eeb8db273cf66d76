"""Run ``hcs`` commands as the numbered steps of a scripted job (``make demo``, ``make sbs96``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from mcnn_infer.errors import HcsError


def hcs_command() -> list[str]:
    """The ``hcs`` executable of this environment (or ``python -m hcs_cli``)."""
    script = Path(sys.executable).with_name("hcs")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hcs_cli"]


def run_step(console: Console, title: str, args: list[str], job: str = "demo") -> float:
    """Print the step and its command, run ``hcs ARGS``; return the wall time (s).

    Raises
    ------
    HcsError
        When the command exits with a non-zero code (its own message is above it).
    """
    console.print(Rule(f"[bold]{title}"))
    console.print("$ hcs " + " ".join(shlex.quote(a) for a in args), style="cyan", markup=False)
    start = time.perf_counter()
    result = subprocess.run([*hcs_command(), *args], env=os.environ.copy(), check=False)
    if result.returncode != 0:
        raise HcsError(
            f"{job} step '{title}' failed (exit code {result.returncode}); fix the error above and rerun"
        )
    return time.perf_counter() - start


def skip_step(console: Console, title: str, why: str) -> None:
    """Say that a step's output is already complete."""
    console.print(Rule(f"[bold]{title}"))
    console.print(f"[green]already done[/] ({why}); delete it to redo this step")
