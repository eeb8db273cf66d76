"""M-CNN architectures registered by name (``mcnn``, ``mcnn-small``).

Importing this package does not import TensorFlow; :func:`build_model` does.
"""

from mcnn_train.models.registry import MODELS, ModelSpec, build_model, get_model_spec, model_names
from mcnn_train.models.widths import MCNNWidths, check_input_size, forward_gflop

__all__ = [
    "MODELS",
    "MCNNWidths",
    "ModelSpec",
    "build_model",
    "check_input_size",
    "forward_gflop",
    "get_model_spec",
    "model_names",
]
