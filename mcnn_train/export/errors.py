"""Exceptions of ``hcs export`` (all :class:`~mcnn_infer.errors.HcsError`, so the CLI prints one line)."""

from __future__ import annotations

from mcnn_infer.errors import HcsError


class ExportError(HcsError):
    """A training run that cannot be exported (missing SavedModel, wrong signature, bad output folder)."""


class ParityError(ExportError):
    """An FP32 export whose logits differ from TensorFlow's beyond the tolerance."""


class AgreementError(ExportError):
    """A reduced-precision format (INT8, BF16) whose top-1 class differs from FP32 too often."""


class QuantizationError(AgreementError):
    """An INT8 model that disagrees with FP32 too often, or too few fields to calibrate and check it."""
