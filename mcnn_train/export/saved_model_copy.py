"""The ``tensorflow`` format: a copy of the run's SavedModel (for parity checks and benchmarks)."""

from __future__ import annotations

import shutil
from typing import Any

from mcnn_infer.card import sha256_file
from mcnn_infer.formats import FORMATS
from mcnn_train.export.context import ExportContext
from mcnn_train.export.exporters import exporter


@exporter("tensorflow")
def copy_saved_model(ctx: ExportContext) -> dict[str, Any]:
    """Copy ``RUN_DIR/model`` to ``saved_model/``; return facts including the sha256 of every file.

    The card's ``sha256`` of this format maps each file below ``saved_model/`` (relative to the
    model folder) to its checksum, since the format is a folder rather than one file.
    """
    target = ctx.stage / FORMATS["tensorflow"].path
    shutil.copytree(ctx.run.saved_model, target)
    files = sorted(p for p in target.rglob("*") if p.is_file())
    return {
        "sha256": {p.relative_to(ctx.stage).as_posix(): sha256_file(p) for p in files},
        "inputs": {"image": [None, *ctx.tf_model.input_shape]},
        "outputs": ctx.tf_model.output_shapes,
        "signature": "serving_default",
    }
