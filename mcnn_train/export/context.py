"""What every exporter needs: the run, the card being built, the staging folder, options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mcnn_infer.card import ModelCard
from mcnn_train.export.run_folder import RunFolder

if TYPE_CHECKING:
    from mcnn_train.export.calibration import PlateFields
    from mcnn_train.export.tf_model import TFModel

#: Lowest ONNX opset accepted (the issue asks for >= 15); 17 is the default.
MIN_OPSET = 15
DEFAULT_OPSET = 17
#: Defaults of ``hcs export`` and :func:`~mcnn_train.export.pipeline.export_run`: at most this many
#: fields of the calibration plate calibrate INT8, and at most this many held-out fields check
#: INT8 and BF16, which must agree with FP32 on at least this fraction of them (top-1; at most 1
#: field in 20 may change class).
DEFAULT_CALIBRATION_FIELDS = 64
DEFAULT_HOLDOUT_FIELDS = 64
DEFAULT_MIN_AGREEMENT = 0.95


@dataclass
class Int8Options:
    """Calibration-plate settings: INT8 calibration and the INT8 / BF16 agreement checks
    (see :mod:`mcnn_train.export.int8` and :mod:`mcnn_train.export.agreement`).

    Attributes
    ----------
    plate : Path
        Plate folder whose fields calibrate the quantization and check its accuracy.
    calibration_fields, holdout_fields : int
        At most this many fields for calibration and for the accuracy check (disjoint wells).
    min_agreement : float
        Lowest accepted top-1 agreement of INT8 or BF16 with OpenVINO FP32 on the held-out fields.
    """

    plate: Path
    calibration_fields: int = DEFAULT_CALIBRATION_FIELDS
    holdout_fields: int = DEFAULT_HOLDOUT_FIELDS
    min_agreement: float = DEFAULT_MIN_AGREEMENT


@dataclass
class ExportContext:
    """State shared by the exporters of one ``export_run`` call.

    Attributes
    ----------
    run : RunFolder
    card : ModelCard
        The card being built (training card + export facts).
    stage : Path
        Staging folder; becomes the output folder when every step succeeded.
    tf_model : TFModel
        The SavedModel's serving signature.
    embedded_card : str
        Card JSON stored inside the ONNX and IR files.
    opset : int
    int8 : Int8Options or None
    plate_fields : PlateFields or None
        Fields of the calibration plate (split into calibration / held-out), when given.
    fp32_holdout : (numpy.ndarray, numpy.ndarray) or None
        FP32 IR logits (N, K) and embedding (N, E) on the held-out fields, once computed
        (:func:`mcnn_train.export.agreement.fp32_holdout_outputs`).
    fp32_fields_per_second : float or None
        The FP32 IR's speed on those fields, measured with them (the reduced precisions' speed-ups).
    """

    run: RunFolder
    card: ModelCard
    stage: Path
    tf_model: TFModel
    embedded_card: str
    opset: int = DEFAULT_OPSET
    int8: Int8Options | None = None
    plate_fields: PlateFields | None = None
    fp32_holdout: tuple[np.ndarray, np.ndarray] | None = None
    fp32_fields_per_second: float | None = None
