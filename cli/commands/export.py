"""`hcs export RUN_DIR --out models/NAME`: ONNX + OpenVINO IR (+ FP16, INT8) with a model card and parity."""

from __future__ import annotations

import click
from hcs_cli.console import make_console

from mcnn_train.export.context import DEFAULT_OPSET, MIN_OPSET
from mcnn_train.export.int8 import DEFAULT_MIN_AGREEMENT


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Model folder to write, e.g. models/NAME.",
)
@click.option("--int8", is_flag=True, help="Also write OpenVINO INT8 (NNCF); needs --calibrate.")
@click.option(
    "--calibrate",
    type=click.Path(exists=True, file_okay=False, path_type=str),
    help="Plate folder for INT8 calibration and the INT8/BF16 agreement checks (also used for parity).",
)
@click.option("--fp16", is_flag=True, help="Also write OpenVINO IR with FP16 weights.")
@click.option(
    "--bf16",
    is_flag=True,
    help="Also validate BF16 compute of the FP32 IR on held-out fields (for `hcs score --precision bf16`); "
    "needs --calibrate and a CPU with native BF16.",
)
@click.option("--saved-model", is_flag=True, help="Also copy the SavedModel (format 'tensorflow').")
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
    default=64,
    show_default=True,
    help="Most fields used to calibrate INT8.",
)
@click.option(
    "--holdout-fields",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most held-out fields used to check INT8.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def command(
    run_dir: str,
    out_dir: str,
    int8: bool,
    calibrate: str | None,
    fp16: bool,
    bf16: bool,
    saved_model: bool,
    opset: int,
    min_agreement: float,
    calibration_fields: int,
    holdout_fields: int,
    overwrite: bool,
) -> None:
    """Export the training run RUN_DIR to ONNX and OpenVINO IR with a model card (checksums, parity)."""
    from mcnn_train.export import export_run

    console = make_console()
    out = export_run(
        run_dir,
        out_dir,
        int8=int8,
        calibrate=calibrate,
        fp16=fp16,
        bf16=bf16,
        saved_model=saved_model,
        opset=opset,
        min_agreement=min_agreement,
        calibration_fields=calibration_fields,
        holdout_fields=holdout_fields,
        overwrite=overwrite,
        console=console,
    )
    console.print(f"wrote {out} (card: {out / 'card.json'})", markup=False)
