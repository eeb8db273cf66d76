"""tf.data pipelines over one worker's :class:`~mcnn_train.field_cache.FieldCache`.

The training order of every epoch is a seeded permutation of the worker's shard that depends
only on (seed, rank, epoch), and every image's augmentation seed depends only on its position
in the run, so an interrupted run resumed at epoch ``e`` sees exactly the data an
uninterrupted run sees from epoch ``e`` on.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mcnn_train.augment import augment_image
from mcnn_train.field_cache import FieldCache


def shard(indices: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Worker ``rank``'s share of ``indices`` (every ``size``-th element from ``rank``)."""
    return np.asarray(indices, dtype=np.int64)[rank::size]


def epoch_order(n_local: int, steps: int, batch: int, seed: int, rank: int, epoch: int) -> np.ndarray:
    """Positions (into the worker's training shard) visited in ``epoch``: ``steps * batch`` values."""
    rng = np.random.default_rng([seed, rank, epoch])
    return rng.permutation(n_local)[: steps * batch].astype(np.int64)


def _load(cache: FieldCache, height: int, width: int, channels: int):
    def load(index: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(lambda i: cache.get(int(i)), [index], tf.float32, stateful=False)
        image.set_shape((height, width, channels))
        return image

    return load


def training_dataset(
    cache: FieldCache,
    positions: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    batch: int,
    steps: int,
    first_epoch: int,
    epochs: int,
    seed: int,
    rank: int,
    augment: bool,
) -> tf.data.Dataset:
    """Batches for epochs ``first_epoch .. epochs-1`` in one stream (``steps`` batches per epoch).

    Parameters
    ----------
    cache : FieldCache
        The worker's cache; ``positions`` index into it.
    positions : numpy.ndarray
        int64 ``(n_train_local,)`` cache indices of the worker's training fields.
    labels : numpy.ndarray
        int64 ``(n_train_local,)`` class index of each training field.
    n_classes, batch, steps : int
        Classes, images per batch per worker, batches per epoch.
    first_epoch, epochs : int
        Epoch range (0-based, end exclusive).
    seed, rank : int
        Run seed and worker rank (define the order and augmentation).
    augment : bool
        Apply :func:`mcnn_train.augment.augment_image`.

    Returns
    -------
    tf.data.Dataset
        Elements ``(image, one_hot)``: float32 ``(batch, H, W, C)`` and float32 ``(batch, n_classes)``.
    """
    orders = [epoch_order(len(positions), steps, batch, seed, rank, e) for e in range(first_epoch, epochs)]
    order = np.concatenate(orders) if orders else np.zeros(0, np.int64)
    per_epoch = steps * batch
    counters = np.concatenate(
        [np.arange(e * per_epoch, (e + 1) * per_epoch, dtype=np.int64) for e in range(first_epoch, epochs)]
        or [np.zeros(0, np.int64)]
    )
    _, height, width, channels = cache.shape
    load = _load(cache, height, width, channels)
    cache_index = tf.constant(np.asarray(positions, np.int64))
    label_table = tf.constant(np.asarray(labels, np.int64))
    rank_seed = np.int64(seed) * 1000 + rank

    def element(pos, counter):
        image = load(tf.gather(cache_index, pos))
        if augment:
            image = augment_image(image, tf.stack([tf.constant(rank_seed, tf.int64), counter]))
        return image, tf.one_hot(tf.gather(label_table, pos), n_classes, dtype=tf.float32)

    ds = tf.data.Dataset.from_tensor_slices((order, counters))
    ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def inference_dataset(cache: FieldCache, positions: np.ndarray, batch: int) -> tf.data.Dataset:
    """Batches of cached fields in the given order (no augmentation): float32 ``(<=batch, H, W, C)``."""
    _, height, width, channels = cache.shape
    load = _load(cache, height, width, channels)
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(positions, np.int64))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def labelled_dataset(
    cache: FieldCache, positions: np.ndarray, labels: np.ndarray, n_classes: int, batch: int
) -> tf.data.Dataset:
    """Like :func:`inference_dataset` but yielding ``(image, one_hot)`` (Keras validation)."""
    labels_ds = tf.data.Dataset.from_tensor_slices(
        tf.one_hot(np.asarray(labels, np.int64), n_classes, dtype=tf.float32)
    ).batch(batch)
    return tf.data.Dataset.zip((inference_dataset(cache, positions, batch), labels_ds))
