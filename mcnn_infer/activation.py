"""Where the M-CNN looked: exact class activation maps from its last feature map and dense head.

The M-CNN has no global pooling: the fused feature map ``F`` (h, w, K) is flattened and passed
through ``embedding = relu(flat(F) @ W1 + b1)`` and ``logits = embedding @ W2 + b2``. For a given
field the ReLU mask ``m = (flat(F) @ W1 + b1 > 0)`` is fixed, so each logit is linear in ``F``::

    logit_c = sum_{y, x} map_c[y, x] + bias_c
    map_c[y, x] = sum_j A[y, x, j] * m_j * W2[j, c],   A[y, x, j] = sum_k F[y, x, k] * W1[(y, x, k), j]
    bias_c = b2_c + sum_j m_j * b1_j * W2[j, c]

``map_c`` is an exact decomposition of the class logit over the feature map's cells (each cell
sees a ``cell`` x ``cell`` pixel block of the input), computed here in numpy from the model's
``feature_map`` output and the dense layers' weights (``card.activation['file']``, an ``.npz``
written by the export). A tiled model (``mcnn_train/models/tiled.py``) averages its tiles'
logits: its ``feature_map`` output stacks the tiles' maps ``(T, h, w, K)``; each tile's map is
computed with its own mask (:func:`tile_maps`: exact per tile) and placed on the field grid at the
tile's offset, and where tiles overlap their maps are averaged (:func:`field_maps`), so a map
shows no seams where the tiles overlap. Without overlaps (an untiled model, or tiles that do not
overlap, divided by ``T``) the field map sums exactly to the field's logit minus the bias.

The card's ``activation`` entry::

    {"file": "activation_head.npz", "sha256": hex, "output": "feature_map",
     "tile": [th, tw], "offsets": [[y, x], ...], "cell": pixels per feature-map cell}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from mcnn_infer.card import ModelCard, sha256_file
from mcnn_infer.errors import ModelCardError

#: Arrays of the head file: the embedding layer's kernel (h*w*K, E) and bias (E,), the logits
#: layer's kernel (E, n_classes) and bias (n_classes,).
HEAD_ARRAYS = ("embedding_kernel", "embedding_bias", "logits_kernel", "logits_bias")


@dataclass(frozen=True)
class ActivationHead:
    """The dense head of a model and the geometry of its feature map.

    Attributes
    ----------
    w1 : numpy.ndarray
        float32 (h*w*K, E), the embedding kernel as exported (the largest array: 168 MB for the M-CNN at
        1024x1280; kept in float32, the precision the model computed in).
    b1, w2, b2 : numpy.ndarray
        float64 (E,), (E, n_classes), (n_classes,).
    field : (int, int)
        Model input (height, width) in pixels.
    tile : (int, int)
        Tile (height, width) in pixels (the field for an untiled model).
    offsets : list of (int, int)
        Top-left corner of each tile in the field.
    cell : int
        Input pixels per feature-map cell along each axis.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    field: tuple[int, int]
    tile: tuple[int, int]
    offsets: list[tuple[int, int]]
    cell: int

    @property
    def unit(self) -> int:
        """Pixels per cell of the field grid: divides the cell size and every tile offset."""
        return math.gcd(self.cell, *(v for off in self.offsets for v in off))

    @property
    def grid(self) -> tuple[int, int]:
        """(height, width) of a field map, in cells of :attr:`unit` pixels."""
        return self.field[0] // self.unit, self.field[1] // self.unit


def load_head(card: ModelCard, model_dir: str | Path) -> ActivationHead | None:
    """The activation head of an exported model (None when its card lists none).

    Raises
    ------
    ModelCardError
        The head file is missing, differs from its checksum or lacks an array.
    """
    entry = getattr(card, "activation", None) or {}
    if not entry:
        return None
    path = Path(model_dir) / entry["file"]
    if not path.is_file():
        raise ModelCardError(f"activation head {path} is missing (the card lists it; re-export the model)")
    actual = sha256_file(path)
    if actual != entry.get("sha256"):
        raise ModelCardError(
            f"activation head {path} has sha256 {actual[:16]}..., the card says {str(entry.get('sha256'))[:16]}... "
            "(the file was modified or truncated; re-export the model)"
        )
    with np.load(path) as data:
        missing = [name for name in HEAD_ARRAYS if name not in data]
        if missing:
            raise ModelCardError(f"activation head {path} lacks {missing} (expected {list(HEAD_ARRAYS)})")
        w1 = np.asarray(data[HEAD_ARRAYS[0]], np.float32)
        b1, w2, b2 = (np.asarray(data[name], np.float64) for name in HEAD_ARRAYS[1:])
    return ActivationHead(
        w1,
        b1,
        w2,
        b2,
        field=(card.input.height, card.input.width),
        tile=(int(entry["tile"][0]), int(entry["tile"][1])),
        offsets=[(int(y), int(x)) for y, x in entry["offsets"]],
        cell=int(entry["cell"]),
    )


def tile_maps(head: ActivationHead, feature_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile class maps and biases of one field.

    Parameters
    ----------
    head : ActivationHead
    feature_map : numpy.ndarray
        (T, h, w, K), the model's ``feature_map`` output of one field.

    Returns
    -------
    maps : numpy.ndarray
        float64 (T, n_classes, h, w): each tile's logit decomposed over its cells.
    bias : numpy.ndarray
        float64 (T, n_classes): ``logit_t = maps[t].sum((1, 2)) + bias[t]``.
    """
    maps, bias = many_tile_maps(head, np.asarray(feature_map)[None])
    return maps[0], bias[0]


def many_tile_maps(head: ActivationHead, feature_maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tile_maps` of N fields at once: one pass over the head's kernel for all of them.

    The embedding kernel (h*w*K x E, 168 MB in float32 for the M-CNN at 1024x1280) is read once
    per call, as one float32 matrix product per feature-map cell over all N*T tiles (one BLAS thread:
    the cores belong to inference, and OpenBLAS's extra threads would spin against the runtime's),
    instead of once per field: the cost of a map falls about N-fold while it is bound by reading the
    kernel. The cells' shares are then summed, masked and projected in float64.

    Parameters
    ----------
    head : ActivationHead
    feature_maps : numpy.ndarray
        (N, T, h, w, K): the ``feature_map`` output of N fields.

    Returns
    -------
    maps : numpy.ndarray
        float64 (N, T, n_classes, h, w).
    bias : numpy.ndarray
        float64 (N, T, n_classes).
    """
    if feature_maps.ndim != 5:
        raise ModelCardError(f"feature maps of shape {feature_maps.shape}; expected (N, T, h, w, K)")
    n_fields, n_tiles, h, w, k = feature_maps.shape
    if h * w * k != head.w1.shape[0] or n_tiles != len(head.offsets):
        raise ModelCardError(
            f"feature map of shape {feature_maps.shape[1:]} does not fit the activation head "
            f"({head.w1.shape[0]} inputs, {len(head.offsets)} tiles)"
        )
    w1 = head.w1.reshape(h * w, k, -1)  # (cells, K, E)
    # (cells, N*T, K): per cell, the K features of every tile
    cells = feature_maps.reshape(n_fields * n_tiles, h * w, k).transpose(1, 0, 2).astype(np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        parts = np.matmul(cells, w1.astype(np.float32, copy=False))
    # (N*T, cells, E): each cell's share of each unit's input
    parts = parts.transpose(1, 0, 2).astype(np.float64)
    mask = (parts.sum(axis=1) + head.b1) > 0  # (N*T, E): the ReLU mask of each tile
    maps = np.matmul(parts, head.w2[None] * mask[:, :, None])  # (N*T, cells, n_classes)
    maps = maps.transpose(0, 2, 1).reshape(n_fields, n_tiles, -1, h, w)
    bias = head.b2 + (head.b1 * mask) @ head.w2  # (N*T, n_classes)
    return maps, bias.reshape(n_fields, n_tiles, -1)


def field_maps(head: ActivationHead, feature_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class activation maps of one field on the field grid (:attr:`ActivationHead.grid`).

    Returns
    -------
    maps : numpy.ndarray
        float32 (n_classes, gh, gw): each tile cell's share of the logit divided by the number of
        tiles, spread evenly over the grid cells it covers; where tiles overlap, the mean of their
        values. Without overlaps ``maps.sum((1, 2)) + bias`` is the field's logits (the mean of the
        tiles').
    bias : numpy.ndarray
        float64 (n_classes,): the mean of the tiles' biases.
    """
    return many_field_maps(head, np.asarray(feature_map)[None])[0]


def many_field_maps(head: ActivationHead, feature_maps: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`field_maps` of N fields ((N, T, h, w, K) feature maps) with one :func:`many_tile_maps` call."""
    all_maps, all_bias = many_tile_maps(head, feature_maps)
    return [_on_field_grid(head, maps, bias) for maps, bias in zip(all_maps, all_bias, strict=True)]


def _on_field_grid(head: ActivationHead, maps: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One field's tile maps (T, n_classes, h, w) placed on the field grid (see :func:`field_maps`)."""
    n_tiles, n_classes, h, w = maps.shape
    unit, (gh, gw) = head.unit, head.grid
    per = head.cell // unit  # grid cells per feature-map cell along each axis
    total = np.zeros((n_classes, gh, gw), np.float64)
    cover = np.zeros((gh, gw), np.float64)
    for tile_map, (y, x) in zip(maps, head.offsets, strict=True):
        spread = np.repeat(np.repeat(tile_map, per, axis=1), per, axis=2) / (per * per)
        block = np.s_[y // unit : y // unit + h * per, x // unit : x // unit + w * per]
        total[(slice(None), *block)] += spread / n_tiles
        cover[block] += 1
    return (total / np.maximum(cover, 1)).astype(np.float32), bias.mean(axis=0)


#: File name of the head in the model folder.
HEAD_FILE = "activation_head.npz"
#: Name of the model output that carries the feature map, ``(N, T, h, w, K)``.
FEATURE_MAP = "feature_map"


def record_head(
    card: ModelCard,
    model_dir: str | Path,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    tile: tuple[int, int],
    offsets: list[tuple[int, int]],
    cell: int,
) -> Path:
    """Write the dense head (``HEAD_ARRAYS`` in order, float32) to ``model_dir/HEAD_FILE`` and list it in the
    card (``activation``, with its sha256; ``outputs['feature_map']``). Returns the file."""
    from mcnn_infer.atomic import atomic_path

    path = Path(model_dir) / HEAD_FILE
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle, **{name: np.asarray(a, np.float32) for name, a in zip(HEAD_ARRAYS, arrays, strict=True)}
        )
    card.outputs = {**card.outputs, "feature_map": FEATURE_MAP}
    card.activation = {
        "file": HEAD_FILE,
        "sha256": sha256_file(path),
        "output": FEATURE_MAP,
        "tile": [int(tile[0]), int(tile[1])],
        "offsets": [[int(y), int(x)] for y, x in offsets],
        "cell": int(cell),
    }
    return path
