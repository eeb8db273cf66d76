"""A classical baseline for the synthetic truth tests: per-channel statistics + nearest centroid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def field_features(image: np.ndarray) -> np.ndarray:
    """Intensity, texture and nucleus statistics of a (3, H, W) field; shape (n_features,)."""
    data = np.log1p(image.astype(np.float32))
    feats = []
    for channel in data:
        low, mid, high, top = np.percentile(channel, [5, 50, 90, 99])
        fg = channel > (low + 0.5 * (top - low))
        grad = np.hypot(*np.gradient(channel))
        lap = ndi.laplace(channel)
        feats += [
            channel.mean(),
            channel.std(),
            mid - low,
            high - low,
            top - low,
            fg.mean(),
            grad.mean(),
            np.abs(lap).mean(),
            (grad * fg).sum() / max(fg.sum(), 1),
        ]
    dapi = data[0]
    low, top = np.percentile(dapi, [5, 99])
    labels, count = ndi.label(dapi > low + 0.4 * (top - low))
    areas = np.bincount(labels.ravel())[1:]
    feats += [
        np.log1p(count),
        np.log1p(np.median(areas)) if count else 0.0,
        np.log1p(areas.std()) if count else 0.0,
    ]
    return np.asarray(feats, dtype=np.float64)


def nearest_centroid_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, reference: np.ndarray
) -> float:
    """Accuracy of a nearest-centroid classifier on features z-scored by ``reference`` rows (DMSO)."""
    mean, std = reference.mean(axis=0), reference.std(axis=0) + 1e-6
    train_z, test_z = (train_x - mean) / std, (test_x - mean) / std
    classes = np.unique(train_y)
    centroids = np.stack([train_z[train_y == c].mean(axis=0) for c in classes])
    dist = ((test_z[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    predicted = classes[dist.argmin(axis=1)]
    return float((predicted == test_y).mean())
