"""tf.data pipelines over one worker's :class:`~mcnn_train.field_cache.FieldCache`.

One global sample stream serves every worker count. The training order of every epoch is a
seeded permutation of the whole training set that depends only on (seed, epoch); global step
``s`` is the ``global_batch`` samples ``s * global_batch ...`` of that stream, and worker ``r``
of ``n`` takes its ``r``-th slice of ``global_batch / n`` samples (:func:`worker_slice`). Every
sample's crop and augmentation seed depends only on its position in the run, never on the rank.
So N workers that average their gradients compute the update one worker computes on the whole
global batch (the M-CNN has no batch normalisation), and a run resumed at epoch ``e`` sees
exactly the data an uninterrupted run sees from epoch ``e`` on, whatever the worker count.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mcnn_train.augment import JITTER, augment_image
from mcnn_train.field_cache import FieldCache


def shard(indices: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Worker ``rank``'s share of ``indices`` (every ``size``-th element from ``rank``)."""
    return np.asarray(indices, dtype=np.int64)[rank::size]


#: Key of the sample stream's random generators next to the seed. 0 is the value single-worker
#: runs have always used, so they reproduce the runs made before the stream was global.
STREAM_KEY = 0


def epoch_order(
    n_local: int,
    steps: int,
    batch: int,
    seed: int,
    epoch: int,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Positions (into the training set) visited in ``epoch``: ``steps * batch`` values.

    ``batch`` is the global batch: the order is the same for every worker count.

    Without ``labels`` every position is visited once per pass in a seeded random order
    (passes repeat when ``steps * batch`` exceeds the training set, e.g. several crops per field).
    With ``labels`` (int64 ``(n_local,)``) the classes are balanced: each class fills an equal
    share of the epoch, cycling through its own shuffled positions, and the result is shuffled.
    """
    rng = np.random.default_rng([seed, STREAM_KEY, epoch])
    need = steps * batch
    if labels is None:
        if need <= n_local:
            return rng.permutation(n_local)[:need].astype(np.int64)
        passes = -(-need // n_local)
        return np.concatenate([rng.permutation(n_local) for _ in range(passes)])[:need].astype(np.int64)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    share = np.full(classes.size, need // classes.size)
    share[: need - share.sum()] += 1
    parts = []
    for cls, count in zip(classes, share, strict=True):
        members = np.flatnonzero(labels == cls)
        passes = -(-int(count) // members.size)
        parts.append(np.concatenate([rng.permutation(members) for _ in range(passes)])[:count])
    return rng.permutation(np.concatenate(parts)).astype(np.int64)


def worker_slice(values: np.ndarray, global_batch: int, local_batch: int, rank: int) -> np.ndarray:
    """Worker ``rank``'s part of every global step of a sample stream.

    Parameters
    ----------
    values : numpy.ndarray
        ``(steps * global_batch,)`` per-sample values of the global stream, step after step.
    global_batch, local_batch : int
        Samples per optimizer step over all workers and per worker (``global_batch`` a multiple
        of ``local_batch``).
    rank : int
        The worker (0-based).

    Returns
    -------
    numpy.ndarray
        ``(steps * local_batch,)``: samples ``rank * local_batch ... (rank + 1) * local_batch - 1``
        of each global step, in step order.
    """
    values = np.asarray(values)
    steps = values.size // global_batch
    start = rank * local_batch
    return values.reshape(steps, global_batch)[:, start : start + local_batch].reshape(-1)


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
    global_batch: int,
    local_batch: int,
    steps: int,
    first_epoch: int,
    epochs: int,
    seed: int,
    rank: int,
    augment: bool,
    crop: tuple[int, int] | None = None,
    balance: bool = False,
    jitter: float = JITTER,
) -> tf.data.Dataset:
    """This worker's batches for epochs ``first_epoch .. epochs-1`` (``steps`` batches per epoch).

    Parameters
    ----------
    cache : FieldCache
        The worker's cache; ``positions`` index into it.
    positions : numpy.ndarray
        int64 ``(n_train,)`` cache indices of all training fields (every worker lists them all).
    labels : numpy.ndarray
        int64 ``(n_train,)`` class index of each training field.
    n_classes : int
        Classes.
    global_batch, local_batch : int
        Images per optimizer step over all workers, and this worker's share of them.
    steps : int
        Optimizer steps per epoch.
    first_epoch, epochs : int
        Epoch range (0-based, end exclusive).
    seed, rank : int
        Run seed (defines the order, crops and augmentation) and this worker's rank (which slice
        of each global step it loads).
    augment : bool
        Apply :func:`mcnn_train.augment.augment_image`.
    crop : (int, int), optional
        Train on a random ``(height, width)`` crop of each cached field (native-resolution
        tiles; a new crop every time a field is drawn), taken before augmentation.
    balance : bool
        Draw every class equally often (:func:`epoch_order` with labels).
    jitter : float
        Intensity jitter of the augmentation (:func:`mcnn_train.augment.augment_image`).

    Returns
    -------
    tf.data.Dataset
        Elements ``(image, one_hot)``: float32 ``(local_batch, H, W, C)`` (``H, W`` the crop's when
        cropping) and float32 ``(local_batch, n_classes)``.
    """
    order_labels = np.asarray(labels, np.int64) if balance else None
    orders = [
        epoch_order(len(positions), steps, global_batch, seed, e, order_labels)
        for e in range(first_epoch, epochs)
    ]
    order = np.concatenate(orders) if orders else np.zeros(0, np.int64)
    per_epoch = steps * global_batch
    counters = np.arange(first_epoch * per_epoch, epochs * per_epoch, dtype=np.int64)
    order = worker_slice(order, global_batch, local_batch, rank)
    counters = worker_slice(counters, global_batch, local_batch, rank)
    _, height, width, channels = cache.shape
    load = _load(cache, height, width, channels)
    cache_index = tf.constant(np.asarray(positions, np.int64))
    label_table = tf.constant(np.asarray(labels, np.int64))
    stream_seed = np.int64(seed) * 1000 + STREAM_KEY

    def element(pos, counter):
        image = load(tf.gather(cache_index, pos))
        image_seed = tf.stack([tf.constant(stream_seed, tf.int64), counter])
        if crop is not None:
            crop_seed = tf.random.experimental.stateless_fold_in(image_seed, 7)
            image = tf.image.stateless_random_crop(image, (crop[0], crop[1], channels), crop_seed)
        if augment:
            image = augment_image(image, image_seed, jitter)
        return image, tf.one_hot(tf.gather(label_table, pos), n_classes, dtype=tf.float32)

    ds = tf.data.Dataset.from_tensor_slices((order, counters))
    ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(local_batch, drop_remainder=True)
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


def labelled_tiles_dataset(
    cache: FieldCache,
    positions: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    batch: int,
    offsets: list[tuple[int, int]],
    tile: tuple[int, int],
) -> tf.data.Dataset:
    """Every grid tile of the cached fields with its field's label (validation of a tile model).

    The tiles are those the exported whole-field model averages
    (:func:`mcnn_infer.preprocess.tile_offsets`). Elements ``(image, one_hot)``: float32
    ``(<=batch, tile_h, tile_w, C)`` and ``(<=batch, n_classes)``.
    """
    _, height, width, channels = cache.shape
    load = _load(cache, height, width, channels)
    tile_h, tile_w = tile

    def tiles(index, label):
        image = load(index)
        crops = tf.stack([image[y : y + tile_h, x : x + tile_w, :] for y, x in offsets])
        one_hot = tf.one_hot(tf.fill([len(offsets)], label), n_classes, dtype=tf.float32)
        return tf.data.Dataset.from_tensor_slices((crops, one_hot))

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(positions, np.int64), np.asarray(labels, np.int64)))
    return ds.flat_map(tiles).batch(batch).prefetch(tf.data.AUTOTUNE)
