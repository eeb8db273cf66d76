"""``hcs export``: a training run -> ONNX, OpenVINO IR (FP32, FP16, INT8; BF16 compute validated) and a model card with parity.

Importing this package is cheap; TensorFlow, tf2onnx, OpenVINO and NNCF are imported when used.
"""

from mcnn_train.export.errors import AgreementError, ExportError, ParityError, QuantizationError
from mcnn_train.export.pipeline import export_run

__all__ = ["AgreementError", "ExportError", "ParityError", "QuantizationError", "export_run"]
