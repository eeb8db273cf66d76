"""Layer widths and size rules of the M-CNN (no TensorFlow import, so the CLI stays light)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mcnn_infer.errors import ConfigError

#: Height and width must be multiples of this (64 for the columns, 2 for the final pooling).
SIZE_MULTIPLE = 128
N_COLUMNS = 7


@dataclass(frozen=True)
class MCNNWidths:
    """Widths of an M-CNN variant.

    Attributes
    ----------
    column_filters : tuple of int
        Filters of the three 5x5 convolutions of each of the seven columns (k = 0..6).
    fusion_filters : int
        Filters of the 1x1 fusion convolution after concatenation.
    embedding_units : int
        Units of the dense ReLU layer whose output is named ``embedding``.
    """

    column_filters: tuple[int, ...]
    fusion_filters: int
    embedding_units: int

    def to_dict(self) -> dict:
        return asdict(self)


def check_input_size(height: int, width: int) -> None:
    """Raise :class:`ConfigError` unless ``height`` and ``width`` are positive multiples of 128."""
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value <= 0 or value % SIZE_MULTIPLE:
            raise ConfigError(
                f"M-CNN input {name} {value!r} is not supported: expected a positive multiple of "
                f"{SIZE_MULTIPLE} (e.g. 1024x1280 or 128x128)"
            )


def forward_gflop(height: int, width: int, channels: int, n_classes: int, widths: MCNNWidths) -> float:
    """Multiply-add count of one forward pass, in GFLOP (1 multiply-add = 2 FLOP).

    Parameters
    ----------
    height, width, channels, n_classes : int
        Model input size and classes, as for :func:`build_mcnn`.
    widths : MCNNWidths
        Layer widths.

    Returns
    -------
    float
        GFLOP for one image (convolutions and dense layers; pooling ignored).
    """
    check_input_size(height, width)
    flop = 0
    for k, filters in enumerate(widths.column_filters):
        h, w = height // 2**k, width // 2**k
        c_in = channels
        for _ in range(3):
            flop += 2 * h * w * 25 * c_in * filters
            c_in = filters
    gh, gw = height // 64, width // 64
    flop += 2 * gh * gw * sum(widths.column_filters) * widths.fusion_filters
    flat = (gh // 2) * (gw // 2) * widths.fusion_filters
    flop += 2 * flat * widths.embedding_units + 2 * widths.embedding_units * n_classes
    return flop / 1e9
