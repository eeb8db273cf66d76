"""The one preprocessing code path shared by training and scoring.

A raw field (H, W, C) in camera counts is area-resized to the model's input size and
normalised per channel to [0, 1] with ``(x - low) / (high - low)``, where ``low`` and
``high`` are robust percentiles of the plate set the model was trained on (stored in the
model card), fixed values, or each plate's own percentiles (method ``plate``, see
:mod:`mcnn_infer.plate_normalization`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from mcnn_infer.errors import ConfigError, ModelCardError

DEFAULT_PERCENTILES = (0.1, 99.9)
#: Percentiles of the training set, used for every plate.
DATASET_METHOD = "percentile"
#: Each plate's own percentiles (the card's low/high are the training set's, for reference).
PLATE_METHOD = "plate"
FIXED_METHOD = "fixed"
METHODS = (DATASET_METHOD, PLATE_METHOD, FIXED_METHOD)


@dataclass(frozen=True)
class Normalization:
    """Per-channel intensity normalisation parameters.

    Attributes
    ----------
    low, high : tuple of float
        Per-channel intensities (raw camera counts) mapped to 0 and 1; length C.
    method : str
        ``percentile`` (fitted with :func:`fit_normalization` on the training set), ``plate``
        (refitted on each plate; low/high are the training set's) or ``fixed``.
    percentiles : tuple of float
        The (low, high) percentiles used when ``method == 'percentile'``.
    n_fields : int
        Number of fields the percentiles were computed from (0 for fixed values).
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    method: str = DATASET_METHOD
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES
    n_fields: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"normalisation method {self.method!r} is unknown (expected one of {METHODS})")
        if len(self.low) != len(self.high) or not self.low:
            raise ConfigError(
                f"normalisation needs one low and one high value per channel (got {len(self.low)} low, "
                f"{len(self.high)} high)"
            )
        for k, (lo, hi) in enumerate(zip(self.low, self.high, strict=True)):
            if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
                raise ConfigError(
                    f"normalisation of channel {k}: low={lo}, high={hi} (expected finite values with high > low)"
                )

    @property
    def n_channels(self) -> int:
        return len(self.low)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the model card)."""
        out = asdict(self)
        out["low"] = [float(v) for v in self.low]
        out["high"] = [float(v) for v in self.high]
        out["percentiles"] = [float(v) for v in self.percentiles]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model card") -> Normalization:
        """Build from :meth:`to_dict` output; raises ModelCardError on missing keys or bad types."""
        try:
            low = tuple(float(v) for v in data["low"])
            high = tuple(float(v) for v in data["high"])
            return cls(
                low=low,
                high=high,
                method=str(data.get("method", DATASET_METHOD)),
                percentiles=tuple(float(v) for v in data.get("percentiles", DEFAULT_PERCENTILES)),  # type: ignore[arg-type]
                n_fields=int(data.get("n_fields", 0)),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ModelCardError(
                f"normalization in {source} is invalid ({exc}); expected {{'low': [...], 'high': [...]}} "
                "with one number per channel"
            ) from exc


def fit_normalization(
    images: Iterable[np.ndarray],
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    max_samples_per_image: int = 65536,
    seed: int = 0,
) -> Normalization:
    """Fit per-channel robust percentiles over a sample of fields.

    Parameters
    ----------
    images : iterable of numpy.ndarray
        Raw fields, each of shape (H, W, C) in camera counts; all with the same C.
    percentiles : (float, float)
        Low and high percentiles in [0, 100].
    max_samples_per_image : int
        Pixels drawn (uniformly, with a fixed seed) from each field and channel.

    Returns
    -------
    Normalization
    """
    rng = np.random.default_rng(seed)
    samples: list[np.ndarray] = []
    n_channels: int | None = None
    for image in images:
        if image.ndim != 3:
            raise ConfigError(f"fit_normalization needs (H, W, C) fields, got shape {image.shape}")
        if n_channels is None:
            n_channels = image.shape[2]
        elif image.shape[2] != n_channels:
            raise ConfigError(f"fields have {n_channels} and {image.shape[2]} channels (expected the same)")
        flat = image.reshape(-1, image.shape[2])
        take = min(max_samples_per_image, flat.shape[0])
        idx = rng.choice(flat.shape[0], size=take, replace=False) if take < flat.shape[0] else slice(None)
        samples.append(flat[idx].astype(np.float32))
    if not samples:
        raise ConfigError("fit_normalization needs at least one field (got none)")
    pixels = np.concatenate(samples, axis=0)
    low = np.percentile(pixels, percentiles[0], axis=0)
    high = np.percentile(pixels, percentiles[1], axis=0)
    high = np.maximum(high, low + 1.0)  # a flat channel still maps to a finite range
    return Normalization(
        low=tuple(float(v) for v in low),
        high=tuple(float(v) for v in high),
        method=DATASET_METHOD,
        percentiles=(float(percentiles[0]), float(percentiles[1])),
        n_fields=len(samples),
    )


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize one channel plane (each output pixel = mean of the input area it covers).

    OpenCV's ``INTER_AREA`` on a float32 copy: exact (fractional-area) weights when shrinking,
    block means for integer factors, bilinear-like when enlarging. It never enters BLAS: the
    scorer and the per-plate normaliser call this from thread pools, and numpy's bundled OpenBLAS
    can deadlock when entered from several threads.

    Parameters
    ----------
    plane : numpy.ndarray
        Shape (H, W), any numeric dtype (a strided view is fine).
    size : (int, int)
        Output (height, width) in pixels.

    Returns
    -------
    numpy.ndarray
        Shape (height, width), float32 (``plane`` itself when it is float32 of that size).
    """
    height, width = size
    if plane.shape == (height, width):
        return plane.astype(np.float32, copy=False)
    source = np.ascontiguousarray(plane, dtype=np.float32)
    return cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA).reshape(height, width)


#: Most channels OpenCV's INTER_AREA resizes in one call.
_CV_MAX_CHANNELS = 4


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize every channel of an (H, W, C) image as :func:`resize_plane` does: one OpenCV call for
    up to 4 channels (OpenCV's limit; the same numbers as channel by channel), else per channel.

    Parameters
    ----------
    image : numpy.ndarray
        Shape (H, W, C), any numeric dtype.
    size : (int, int)
        Output (height, width) in pixels.

    Returns
    -------
    numpy.ndarray
        Shape (height, width, C), float32 (``image`` itself when it is float32 of that size).
    """
    height, width = size
    if image.shape[:2] == (height, width):
        return image.astype(np.float32, copy=False)
    if image.shape[2] <= _CV_MAX_CHANNELS:
        source = np.ascontiguousarray(image, dtype=np.float32)
        return cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA).reshape(
            height, width, image.shape[2]
        )
    out = np.empty((height, width, image.shape[2]), dtype=np.float32)
    for c in range(image.shape[2]):
        out[:, :, c] = resize_plane(image[:, :, c], (height, width))
    return out


#: Bytes of float32 scratch per channel that :func:`_normalize_into` works in (a block of rows that
#: stays in the core's L2 cache while it is normalised and interleaved).
_BLOCK_BYTES = 512 * 2**10


def _normalize_plane(plane: np.ndarray, low: float, high: float, out: np.ndarray) -> None:
    """``out = clip((plane - low) / (high - low), 0, 1)`` in float32, in three passes over ``out``."""
    np.subtract(plane, np.float32(low), out=out, dtype=np.float32, casting="unsafe")
    np.multiply(out, np.float32(1.0 / (high - low)), out=out)
    np.clip(out, 0.0, 1.0, out=out)


def _normalize_block(plane: np.ndarray, low: float, high: float, out: np.ndarray) -> None:
    """:func:`_normalize_plane` into contiguous ``out`` for finite values: the clip to [0, 1] by two OpenCV
    thresholds (min(x, 1), then x if x > 0 else 0), the same numbers at a quarter of ``np.clip``'s time."""
    np.subtract(plane, np.float32(low), out=out, dtype=np.float32, casting="unsafe")
    np.multiply(out, np.float32(1.0 / (high - low)), out=out)
    cv2.threshold(out, 1.0, 1.0, cv2.THRESH_TRUNC, dst=out)
    cv2.threshold(out, 0.0, 0.0, cv2.THRESH_TOZERO, dst=out)


def _normalize_into(
    planes: Sequence[np.ndarray],
    lows: Sequence[float],
    highs: Sequence[float],
    out: np.ndarray,
    finite: bool = False,
) -> None:
    """Normalise C (H, W) planes into the channels of ``out`` (H, W, C) float32, a block of rows at a time.

    Each block is normalised per channel on contiguous scratch rows (numpy's vectorised loops; with
    ``finite``, planes that hold no NaN such as integer camera counts and their resizes, the clip by
    :func:`_normalize_block`) and interleaved into ``out`` by one ``cv2.merge``: the same float32
    operations on every pixel as :func:`_normalize_plane` on the strided channel view (so the same
    numbers), at under half the time of three strided passes per channel over a full-size field.
    """
    height, width = out.shape[:2]
    if out.shape[2] > 4 or not out.flags.c_contiguous:  # cv2.merge writes at most 4 channels in place
        for c, (plane, low, high) in enumerate(zip(planes, lows, highs, strict=True)):
            _normalize_plane(plane, low, high, out[:, :, c])
        return
    normalize_rows = _normalize_block if finite else _normalize_plane
    rows = max(1, min(height, _BLOCK_BYTES // (4 * width)))
    scratch = [np.empty((rows, width), dtype=np.float32) for _ in planes]
    for top in range(0, height, rows):
        n = min(rows, height - top)
        for plane, low, high, block in zip(planes, lows, highs, scratch, strict=True):
            normalize_rows(plane[top : top + n], low, high, block[:n])
        # one channel: merge of a single plane is a plain copy into the (n, W, 1) block
        cv2.merge([block[:n] for block in scratch], out[top : top + n])


def normalize(image: np.ndarray, norm: Normalization, out: np.ndarray | None = None) -> np.ndarray:
    """Map intensities to [0, 1] per channel: ``clip((x - low) / (high - low), 0, 1)``.

    ``image`` has shape (..., C) with C = ``norm.n_channels``; returns float32 of the same
    shape, written into ``out`` when given (``out`` may be ``image`` itself if it is float32).
    Works one channel at a time: numpy broadcasting over a last axis of length C is several
    times slower than C strided passes.
    """
    if image.shape[-1] != norm.n_channels:
        raise ConfigError(
            f"image has {image.shape[-1]} channels but the normalisation has {norm.n_channels} (expected equal)"
        )
    if out is None:
        out = np.empty(image.shape, dtype=np.float32)
    for c, (low, high) in enumerate(zip(norm.low, norm.high, strict=True)):
        _normalize_plane(image[..., c], low, high, out[..., c])
    return out


def preprocess_planes(
    planes: Sequence[np.ndarray], norm: Normalization, size: Sequence[int], out: np.ndarray | None = None
) -> np.ndarray:
    """Turn a field's channel planes into model input: area-resize, then normalise, plane by plane.

    Each plane is read in its own dtype until the resize (which works on a float32 copy of it);
    the (resized) planes are then normalised a block of rows at a time into the channels of the
    output (:func:`_normalize_into`), so a field already at the model size is normalised from
    camera counts without a full-size intermediate copy.

    Parameters
    ----------
    planes : sequence of numpy.ndarray
        C planes of shape (H, W), camera counts (any numeric dtype; strided views are fine).
    norm : Normalization
        Per-channel low/high intensities (C values each).
    size : (int, int)
        Model input (height, width) in pixels.
    out : numpy.ndarray, optional
        float32 (height, width, C) to write into (e.g. a row of the batch the field will be
        inferred in), instead of a new array.

    Returns
    -------
    numpy.ndarray
        Shape (height, width, C), float32 in [0, 1] (``out`` when given).
    """
    if len(planes) != norm.n_channels:
        raise ConfigError(
            f"field has {len(planes)} channels but the normalisation has {norm.n_channels} (expected equal)"
        )
    size = (int(size[0]), int(size[1]))
    if out is None:
        out = np.empty((*size, len(planes)), dtype=np.float32)
    elif out.shape != (*size, len(planes)) or out.dtype != np.float32:
        raise ConfigError(
            f"preprocess output of shape {out.shape} {out.dtype}; expected {(*size, len(planes))} float32"
        )
    sources = [plane if plane.shape == size else resize_plane(plane, size) for plane in planes]
    finite = all(plane.dtype.kind in "ui" for plane in planes)  # camera counts: no NaN before or after resizing
    _normalize_into(sources, norm.low, norm.high, out, finite)
    return out


def preprocess_field(raw: np.ndarray, norm: Normalization, size: Sequence[int]) -> np.ndarray:
    """:func:`preprocess_planes` of the channels of an (H, W, C) field of camera counts: float32
    (height, width, C) in [0, 1], the same numbers."""
    if raw.ndim != 3:
        raise ConfigError(f"preprocess_field needs an (H, W, C) field, got shape {raw.shape}")
    return preprocess_planes([raw[:, :, c] for c in range(raw.shape[2])], norm, size)


def tile_offsets(field_size: Sequence[int], tile_size: Sequence[int]) -> list[tuple[int, int]]:
    """Top-left corners of the tiles that cover a field, evenly spaced, overlapping as needed.

    Along each axis the field of ``F`` pixels gets ``ceil(F / T)`` tiles of ``T`` pixels, the
    first at 0 and the last ending at ``F`` (e.g. 640 px in 256-px tiles: 0, 192, 384). A tile
    as large as the field gives the single offset (0, 0). Training's tile grid (validation and
    the exported model) and nothing else uses these offsets, so models trained on tiles score
    every field on the same grid.

    Parameters
    ----------
    field_size : (int, int)
        Field (height, width) in pixels after resizing to the model's field size.
    tile_size : (int, int)
        Tile (height, width) in pixels, at most the field size.

    Returns
    -------
    list of (int, int)
        ``(y, x)`` pixel offsets, row-major.
    """
    axes = []
    for field_px, tile_px, name in zip(field_size, tile_size, ("height", "width"), strict=True):
        field_px, tile_px = int(field_px), int(tile_px)
        if not 1 <= tile_px <= field_px:
            raise ConfigError(f"tile {name} {tile_px} px: expected 1 to the field {name} ({field_px} px)")
        n = -(-field_px // tile_px)
        axes.append([0] if n == 1 else [round(i * (field_px - tile_px) / (n - 1)) for i in range(n)])
    return [(y, x) for y in axes[0] for x in axes[1]]
