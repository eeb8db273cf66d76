"""Plate folders and manifests -> a table of fields (see :func:`scan_plate`)."""

from mcnn_infer.plates.scan import (
    LAYOUT_CHOICES,
    LAYOUTS,
    MANIFEST,
    PlateScan,
    field_paths,
    path_column,
    require_same_channels,
    scan_plate,
)

__all__ = [
    "LAYOUTS",
    "LAYOUT_CHOICES",
    "MANIFEST",
    "PlateScan",
    "field_paths",
    "path_column",
    "require_same_channels",
    "scan_plate",
]
