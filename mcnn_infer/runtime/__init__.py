"""Open exported models (OpenVINO IR, ONNX) and run preprocessed batches on CPU cores.

Weights are checked against the model card's sha256 before they are read; no model file can
execute code (IR and ONNX are data; nothing is unpickled).
"""

from mcnn_infer.runtime.base import Engine, log_odds, softmax
from mcnn_infer.runtime.open import (
    ENGINES,
    MAX_BATCH,
    choose_batch_size,
    compile_engine,
    open_engine,
    resolve_precision,
)

__all__ = [
    "ENGINES",
    "MAX_BATCH",
    "Engine",
    "choose_batch_size",
    "compile_engine",
    "log_odds",
    "open_engine",
    "resolve_precision",
    "softmax",
]
