"""Downsampled resolution levels of a plane: 2x2 block means, level by level."""

from __future__ import annotations

import numpy as np


def level_shape(height: int, width: int, level: int) -> tuple[int, int]:
    """(height, width) of resolution level ``level`` (0 = full resolution; each level halves, at least 1)."""
    for _ in range(level):
        height, width = max(1, height // 2), max(1, width // 2)
    return height, width


def halve(plane: np.ndarray) -> np.ndarray:
    """The next level of a 2-D plane: means of 2x2 blocks, in the plane's dtype.

    Parameters
    ----------
    plane : numpy.ndarray
        Shape (H, W). An odd last row or column is dropped; an axis of size 1 stays 1.

    Returns
    -------
    numpy.ndarray
        Shape (max(1, H // 2), max(1, W // 2)); integers are rounded to nearest.
    """
    height, width = plane.shape
    fy, fx = (2 if height >= 2 else 1), (2 if width >= 2 else 1)
    h, w = height // fy, width // fx
    blocks = plane[: h * fy, : w * fx].astype(np.float64).reshape(h, fy, w, fx).mean(axis=(1, 3))
    if plane.dtype.kind in "ui":
        info = np.iinfo(plane.dtype)
        blocks = np.clip(np.rint(blocks), info.min, info.max)
    return blocks.astype(plane.dtype)


def pyramid(plane: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` planes: the plane itself, then each halved from the one before."""
    out = [plane]
    for _ in range(levels - 1):
        out.append(halve(out[-1]))
    return out
