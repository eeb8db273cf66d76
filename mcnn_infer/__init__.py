"""hcs inference side: plate I/O, preprocessing, model cards and CPU scoring.

This package never imports TensorFlow, and sends no usage telemetry (:mod:`mcnn_infer.no_telemetry`).
"""

from mcnn_infer import no_telemetry  # noqa: F401  (first: before anything imports openvino or nncf)

__version__ = "0.1.0"
