"""Entry point of the ``hcs`` command.

Sub-commands live in ``hcs_cli.commands.<name>`` and are imported only when
used, so ``hcs --help`` and the scorer never import TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click
from hcs_cli.errors import run_guarded

from mcnn_infer import __version__

# TensorFlow's C++ start-up chatter (CUDA probes on CPU machines) hides the progress bars;
# warnings and errors still show. Inherited by Horovod workers. Set it to 0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> one-line help; the module hcs_cli.commands.<name> defines `command`.
COMMANDS: dict[str, str] = {
    "plates": "Detect plate layouts and summarise plate folders.",
    "convert": "Convert plates of any layout to OME-Zarr (OME-NGFF HCS) plates.",
    "synth": "Generate synthetic BBBC021-like plates with known ground truth.",
    "train": "Train the M-CNN with Horovod data parallelism.",
    "export": "Export a training run to ONNX and OpenVINO IR with a model card.",
    "score": "Score plate folders on CPU cores (OpenVINO / ONNX Runtime).",
    "merge": "Merge the outputs of sharded `hcs score` runs.",
    "watch": "Score, analyse and report plates as the instrument finishes them.",
    "analyze": "Plate QC, MoA calls, potency (EC50) and profiles from scores.",
    "compare": "The M-CNN readout of a plate beside its classical translocation readout.",
    "evaluate": "NSC / NSCB 1-nearest-neighbour MoA accuracy on labelled plates.",
    "report": "Write a self-contained HTML report for a results folder.",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _command_module_exists(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _command_module_exists(name):
            return None
        module = importlib.import_module(f"hcs_cli.commands.{name}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _command_module_exists(name: str) -> bool:
    return importlib.util.find_spec(f"hcs_cli.commands.{name}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hcs")
def _group() -> None:
    """hcs: mechanism of action and potency from high-content screening plates with the M-CNN."""


def cli(argv: list[str] | None = None) -> None:
    """Run ``hcs``; user errors end with one readable line and a non-zero exit code."""
    sys.exit(run_guarded(_group, argv))
