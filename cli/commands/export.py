"""`hcs export RUN_DIR --out models/NAME`: ONNX + OpenVINO IR (+ FP16, INT8, BF16 check) with a model card and parity."""

from __future__ import annotations

import click
from hcs_cli.console import make_console

from mcnn_infer.formats import FORMATS
from mcnn_train.export.context import (
    DEFAULT_CALIBRATION_FIELDS,
    DEFAULT_HOLDOUT_FIELDS,
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_OPSET,
    MIN_OPSET,
)

#: ``--<flag>`` (as click names its parameter) -> the format it adds: aliases of ``--formats NAME``.
_FLAGS = {f.flag.replace("-", "_"): f.name for f in FORMATS.values() if f.flag}


def _needs(fmt) -> str:
    needs = ["--calibrate"] * fmt.needs_plate + ["a CPU with native BF16"] * fmt.needs_native_bf16
    return f"; needs {' and '.join(needs)}" if needs else ""


def _format_flags(function):
    """One boolean flag per format row with a ``flag`` (``--int8``, ``--fp16``, ...)."""
    for fmt in reversed([f for f in FORMATS.values() if f.flag]):
        function = click.option(
            f"--{fmt.flag}", is_flag=True, help=f"Same as --formats {fmt.name}: {fmt.description}{_needs(fmt)}."
        )(function)
    return function


def _split(ctx, param, value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Model folder to write, e.g. models/NAME.",
)
@click.option(
    "--formats",
    metavar="NAME,...",
    callback=_split,
    help="Formats to write, comma-separated: "
    + "; ".join(f"{f.name}: {f.description}{_needs(f)}" for f in FORMATS.values())
    + ". "
    + " and ".join(f.name for f in FORMATS.values() if f.always)
    + " are always written.",
)
@_format_flags
@click.option(
    "--calibrate",
    type=click.Path(exists=True, file_okay=False, path_type=str),
    help="Plate folder for INT8 calibration and the INT8/BF16 agreement checks (also used for parity).",
)
@click.option(
    "--opset",
    type=click.IntRange(min=MIN_OPSET),
    default=DEFAULT_OPSET,
    show_default=True,
    help="ONNX opset.",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1, min_open=True),
    default=DEFAULT_MIN_AGREEMENT,
    show_default=True,
    help="Refuse INT8 or BF16 below this top-1 agreement with FP32 on held-out fields.",
)
@click.option(
    "--calibration-fields",
    type=click.IntRange(min=1),
    default=DEFAULT_CALIBRATION_FIELDS,
    show_default=True,
    help="Most fields used to calibrate INT8.",
)
@click.option(
    "--holdout-fields",
    type=click.IntRange(min=1),
    default=DEFAULT_HOLDOUT_FIELDS,
    show_default=True,
    help="Most held-out fields used to check INT8 and BF16.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def command(
    run_dir: str,
    out_dir: str,
    formats: list[str],
    calibrate: str | None,
    opset: int,
    min_agreement: float,
    calibration_fields: int,
    holdout_fields: int,
    overwrite: bool,
    **flags: bool,
) -> None:
    """Export the training run RUN_DIR to ONNX and OpenVINO IR with a model card (checksums, parity)."""
    from mcnn_train.export import export_run

    console = make_console()
    out = export_run(
        run_dir,
        out_dir,
        [*formats, *(_FLAGS[flag] for flag, given in flags.items() if given)],
        calibrate,
        opset=opset,
        min_agreement=min_agreement,
        calibration_fields=calibration_fields,
        holdout_fields=holdout_fields,
        overwrite=overwrite,
        console=console,
    )
    console.print(f"wrote {out} (card: {out / 'card.json'})", markup=False)
