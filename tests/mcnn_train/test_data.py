from __future__ import annotations

import numpy as np
import tensorflow as tf

from mcnn_infer.preprocess import Normalization
from mcnn_train.augment import augment_image
from mcnn_train.data import epoch_order, shard, training_dataset, worker_slice
from mcnn_train.field_cache import FieldCache
from mcnn_train.labelled_fields import find_label_files, find_plate_dirs, load_labelled_fields


def test_shard_and_epoch_order_are_deterministic():
    assert shard(np.arange(7), 1, 3).tolist() == [1, 4]
    a = epoch_order(10, 2, 4, seed=0, epoch=3)
    assert a.tolist() == epoch_order(10, 2, 4, seed=0, epoch=3).tolist()
    assert len(a) == 8 and len(set(a.tolist())) == 8
    assert a.tolist() != epoch_order(10, 2, 4, seed=0, epoch=4).tolist()
    assert a.tolist() != epoch_order(10, 2, 4, seed=1, epoch=3).tolist()


def test_worker_slices_partition_every_global_step():
    stream = np.arange(24)  # 3 global steps of 8 samples
    parts = [worker_slice(stream, 8, 4, rank) for rank in (0, 1)]
    assert parts[0].tolist() == [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19]
    assert parts[1].tolist() == [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23]
    assert worker_slice(stream, 8, 8, 0).tolist() == stream.tolist()


def test_augmentation_keeps_shape_and_range_and_is_seeded():
    image = tf.random.stateless_uniform((128, 128, 3), seed=[1, 2])
    out = augment_image(image, tf.constant([5, 6], tf.int64))
    assert out.shape == image.shape
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_array_equal(out, augment_image(image, tf.constant([5, 6], tf.int64)))
    rect = augment_image(tf.zeros((128, 256, 2)), tf.constant([1, 1], tf.int64))
    assert rect.shape == (128, 256, 2)  # no 90-degree rotation of non-square images


def _cache(screen, folder, n: int) -> tuple[FieldCache, np.ndarray]:
    """A field cache of the first ``n`` labelled fields of ``screen`` at 128x128, and their labels."""
    labelled = load_labelled_fields(find_plate_dirs(screen), find_label_files(screen))
    paths = [labelled.field_paths(i) for i in range(n)]
    norm = Normalization(low=(100.0,) * 3, high=(5000.0,) * 3, method="fixed")
    return FieldCache(folder, paths, norm, (128, 128)), labelled.fields["label"].to_numpy()[:n]


def test_training_stream_resumes_at_any_epoch(mini_screen, tmp_path):
    cache, labels = _cache(mini_screen, tmp_path, 12)
    pos = np.arange(12)

    def batches(first):
        ds = training_dataset(
            cache, pos, labels, 4, global_batch=4, local_batch=4, steps=2, first_epoch=first, epochs=3,
            seed=0, rank=0, augment=True,
        )
        return [(x.numpy(), y.numpy()) for x, y in ds]

    full, resumed = batches(0), batches(2)
    assert len(full) == 6 and len(resumed) == 2
    assert full[0][0].shape == (4, 128, 128, 3) and full[0][1].shape == (4, 4)
    for (xa, ya), (xb, yb) in zip(full[4:], resumed, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert cache.n_filled() == 12


def test_epoch_order_repeats_passes_and_balances_classes():
    # more samples than fields (several crops per field): every field once per pass
    order = epoch_order(5, steps=3, batch=4, seed=1, epoch=0)
    assert len(order) == 12 and sorted(order[:5]) == list(range(5)) and sorted(order[5:10]) == list(range(5))
    # balanced: 8 negatives and 2 positives give equal shares, each class cycling through its fields
    labels = np.array([0] * 8 + [1] * 2)
    balanced = epoch_order(10, steps=4, batch=4, seed=1, epoch=2, labels=labels)
    assert len(balanced) == 16
    counts = np.bincount(labels[balanced])
    assert counts.tolist() == [8, 8]
    assert sorted(balanced[labels[balanced] == 1].tolist()) == [8] * 4 + [9] * 4
    np.testing.assert_array_equal(balanced, epoch_order(10, 4, 4, seed=1, epoch=2, labels=labels))
    assert not np.array_equal(balanced, epoch_order(10, 4, 4, seed=1, epoch=3, labels=labels))


def test_training_stream_crops_native_tiles(mini_screen, tmp_path):
    cache, labels = _cache(mini_screen, tmp_path, 4)

    def batches():
        ds = training_dataset(
            cache, np.arange(4), labels, 4, global_batch=4, local_batch=4, steps=2, first_epoch=0, epochs=1,
            seed=0, rank=0, augment=False, crop=(64, 32), balance=True,
        )
        return [x.numpy() for x, _ in ds]

    first = batches()
    assert [b.shape for b in first] == [(4, 64, 32, 3)] * 2
    for a, b in zip(first, batches(), strict=True):
        np.testing.assert_array_equal(a, b)  # the crops are seeded: a resumed run sees the same tiles
    # every crop is a window of its cached field
    fields = [cache.get(i) for i in range(4)]
    crop = first[0][0]
    found = any(
        np.array_equal(field[y : y + 64, x : x + 32], crop)
        for field in fields
        for y in range(0, 65)
        for x in range(0, 97)
    )
    assert found


def test_two_workers_load_exactly_the_global_batches_of_one(mini_screen, tmp_path):
    """Worker-count invariance of the data: the 2 workers' batches of a step, stacked, are the one
    worker's batch of that step, image for image (order, crops and augmentation do not depend on rank)."""
    cache, labels = _cache(mini_screen, tmp_path, 12)

    def batches(local_batch, rank):
        ds = training_dataset(
            cache, np.arange(12), labels, 4, global_batch=8, local_batch=local_batch, steps=3, first_epoch=0,
            epochs=2, seed=5, rank=rank, augment=True, crop=(64, 64), balance=True, jitter=0.5,
        )
        return [(x.numpy(), y.numpy()) for x, y in ds]

    whole = batches(8, 0)
    halves = [batches(4, rank) for rank in (0, 1)]
    assert len(whole) == len(halves[0]) == len(halves[1]) == 6
    for step, (x, y) in enumerate(whole):
        np.testing.assert_array_equal(x, np.concatenate([halves[0][step][0], halves[1][step][0]]))
        np.testing.assert_array_equal(y, np.concatenate([halves[0][step][1], halves[1][step][1]]))
