"""Errors raised by the analysis package."""

from __future__ import annotations

from mcnn_infer.errors import HcsError


class AnalysisError(HcsError):
    """Scoring outputs, plate maps or options that cannot be analysed as given."""
