"""Thumbnails made while scoring: small colour composites of the fields the report shows.

A thumbnail is made from the field the scorer already decoded, normalised (the plate's own
low/high: :mod:`mcnn_infer.plate_normalization`) and resized to the model input, so it costs one
small OpenCV area resize and one JPEG encoding per chosen field, in the loader thread.
The chosen fields are each well's first field (``representative``: the report picks controls, dose strips and
confident calls among them) and the fields image QC flags empty or saturated while loading
(``qc_flag``, at most :data:`MAX_QC_THUMBNAILS` per plate are kept), so a plate holds at most
``wells + MAX_QC_THUMBNAILS`` thumbnails of at most ``LONG_SIDE`` pixels.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from mcnn_infer.errors import ConfigError
from mcnn_infer.preprocess import area_resize
from mcnn_infer.results import KEYS, THUMB_QC, THUMBNAIL_COLUMNS

#: Long side of a thumbnail (pixels).
LONG_SIDE = 256
#: Encoding (the MIME subtype the report embeds) and its quality (0-100).
FORMAT, QUALITY = "jpeg", 85
_JPEG_444 = cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
#: Most channels OpenCV's ``cv2.transform`` mixes in one call.
_CV_MAX_CHANNELS = 4
#: Thumbnails of QC-flagged fields kept per plate (in canonical field order).
MAX_QC_THUMBNAILS = 48
#: Colour (R, G, B in [0, 1]) of the model's channels in order: blue, green, red, then magenta,
#: yellow, cyan (BBBC021: DAPI blue, tubulin green, actin red). Colours add up, clipped at 1.
PALETTE = np.array(
    [[0.0, 0.35, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]],
    dtype=np.float32,
)


def thumbnail_size(height: int, width: int, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """(height, width) of the thumbnail of a (height, width) field: long side ``long_side``, never enlarged."""
    scale = min(1.0, long_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def composite(tensor: np.ndarray, long_side: int = LONG_SIDE) -> np.ndarray:
    """Colour composite of a preprocessed field.

    Parameters
    ----------
    tensor : numpy.ndarray
        float32 (H, W, C) in [0, 1] (the model input: area-resized, normalised with the plate's
        low/high); at most ``len(PALETTE)`` channels.
    long_side : int
        Long side of the result in pixels.

    Returns
    -------
    numpy.ndarray
        uint8 (h, w, 3) RGB.
    """
    if tensor.ndim != 3 or not 1 <= tensor.shape[2] <= len(PALETTE):
        raise ConfigError(
            f"thumbnail of a field of shape {tensor.shape}: expected (H, W, C) with 1..{len(PALETTE)} channels"
        )
    h, w = thumbnail_size(tensor.shape[0], tensor.shape[1], long_side)
    small = tensor
    factor = min(tensor.shape[0] // h, tensor.shape[1] // w)
    if factor >= 2:  # integer-factor block means first (OpenCV's fast area path), then the small rest
        small = area_resize(small, (tensor.shape[0] // factor, tensor.shape[1] // factor))
    if (h, w) != small.shape[:2]:
        small = area_resize(small, (h, w))
    channels = small.shape[2]
    if channels <= _CV_MAX_CHANNELS:  # one OpenCV pass: each pixel's RGB = palette (3, C) @ its C values
        rgb = cv2.transform(np.ascontiguousarray(small), np.ascontiguousarray(PALETTE[:channels].T))
        rgb = rgb.reshape(h, w, 3)
    else:
        rgb = np.zeros((h, w, 3), dtype=np.float32)
        for c in range(channels):
            rgb += small[..., c, None] * PALETTE[c]
    # x * 255 rounded and saturated to 0..255 (the colours are sums of non-negative terms)
    return cv2.convertScaleAbs(rgb, alpha=255.0)


def encode(rgb: np.ndarray) -> bytes:
    """JPEG bytes of a uint8 (h, w, 3) RGB image (quality :data:`QUALITY`, full-resolution colour).

    OpenCV's libjpeg at 4:4:4 chroma (no colour bleeding at cell edges): about 0.3 ms for a
    205x256 thumbnail in a loader thread, a seventh of libwebp's fastest effort, with a smaller
    error at 2-3x the bytes (about 15-20 KB); and every image tool in a lab opens it.
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _JPEG_444]
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), params)  # OpenCV wants BGR
    if not ok:
        raise ConfigError(f"OpenCV could not encode a {rgb.shape} thumbnail as {FORMAT}")
    return data.tobytes()


def thumbnail_columns(tensor: np.ndarray, why: str) -> dict[str, object]:
    """The thumbnail columns of a result part for one preprocessed (H, W, C) field (``cam`` comes later)."""
    rgb = composite(tensor)
    return {
        "thumb_image": encode(rgb),
        "thumb_format": FORMAT,
        "thumb_width": int(rgb.shape[1]),
        "thumb_height": int(rgb.shape[0]),
        "thumb_why": why,
    }


def representative_indices(fields: pd.DataFrame) -> set[int]:
    """``_index`` of each well's first field (lowest site, time point, plane): the fields that get thumbnails.

    Chosen from the whole field table, so every shard and every resumed run chooses the same fields
    (a well is never split across shards).
    """
    if fields.empty:
        return set()
    first = fields.sort_values(["plate", "well", "site", "timepoint", "plane", "_index"]).drop_duplicates(
        ["plate", "well"]
    )
    return {int(i) for i in first["_index"]}


def split_thumbnails(stored: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stored rows without the thumbnail columns, ``_index`` + thumbnail columns of the rows that have one)."""
    present = [c for c in THUMBNAIL_COLUMNS if c in stored.columns]
    if "thumb_image" not in present:
        return stored, pd.DataFrame({"_index": pd.Series(dtype="int64")})
    has = stored["thumb_image"].notna()
    thumbs = stored.loc[has, ["_index", *present]].reset_index(drop=True)
    return stored.drop(columns=present), thumbs


def thumbnails_table(fields: pd.DataFrame, thumbs: pd.DataFrame) -> pd.DataFrame | None:
    """The ``thumbnails.parquet`` table: keys of each field (from the finished field table, which keeps
    ``_index``) and its thumbnail columns, in field order; QC-flagged extras capped per plate.

    Returns None when no field has a thumbnail.
    """
    if thumbs.empty:
        return None
    # problem rows (a file that is no field) have no _index and never a thumbnail
    keyed = fields.loc[fields["_index"].notna(), ["_index", *KEYS]]
    table = keyed.merge(thumbs, on="_index", how="inner", validate="one_to_one")
    for column in THUMBNAIL_COLUMNS:
        if column not in table:
            table[column] = None
    extra = table["thumb_why"] == THUMB_QC
    rank = extra.astype(int).groupby(table["plate"]).cumsum()
    table = table[~extra | (rank <= MAX_QC_THUMBNAILS)]
    return finish_thumbnails(table.drop(columns="_index"))


def finish_thumbnails(table: pd.DataFrame) -> pd.DataFrame:
    """Column order and types of ``thumbnails.parquet`` (``KEYS``, then :data:`THUMBNAIL_COLUMNS`)."""
    table = table[[*KEYS, *THUMBNAIL_COLUMNS]].reset_index(drop=True).copy()
    for column in ("thumb_width", "thumb_height"):
        table[column] = table[column].astype(np.int32)
    for column in ("cam_height", "cam_width"):
        table[column] = pd.array(table[column], dtype="Int32")
    table["cam"] = [_cam_or_none(c) for c in table["cam"]]
    table["thumb_why"] = table["thumb_why"].astype(str)
    return table


def _cam_or_none(value: object) -> np.ndarray | None:
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return None
    return np.asarray(value, dtype=np.float32)
