"""``hcs convert``: plates of any supported layout -> OME-Zarr HCS plates (see :func:`convert_plates`)."""

from mcnn_infer.convert.ngff_metadata import DEFAULT_NGFF_VERSION, NGFF_VERSIONS
from mcnn_infer.convert.pipeline import PROBLEMS_FILE, TARGETS, ConvertSummary, convert_plates

__all__ = [
    "DEFAULT_NGFF_VERSION",
    "NGFF_VERSIONS",
    "PROBLEMS_FILE",
    "TARGETS",
    "ConvertSummary",
    "convert_plates",
]
