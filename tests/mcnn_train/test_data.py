from __future__ import annotations

import numpy as np
import tensorflow as tf

from mcnn_infer.preprocess import Normalization
from mcnn_train.augment import augment_image
from mcnn_train.data import epoch_order, shard, training_dataset
from mcnn_train.field_cache import FieldCache
from mcnn_train.labelled_fields import find_label_files, find_plate_dirs, load_labelled_fields


def test_shard_and_epoch_order_are_deterministic():
    assert shard(np.arange(7), 1, 3).tolist() == [1, 4]
    a = epoch_order(10, 2, 4, seed=0, rank=0, epoch=3)
    assert a.tolist() == epoch_order(10, 2, 4, seed=0, rank=0, epoch=3).tolist()
    assert len(a) == 8 and len(set(a.tolist())) == 8
    assert a.tolist() != epoch_order(10, 2, 4, seed=0, rank=0, epoch=4).tolist()
    assert a.tolist() != epoch_order(10, 2, 4, seed=0, rank=1, epoch=3).tolist()


def test_augmentation_keeps_shape_and_range_and_is_seeded():
    image = tf.random.stateless_uniform((128, 128, 3), seed=[1, 2])
    out = augment_image(image, tf.constant([5, 6], tf.int64))
    assert out.shape == image.shape
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_array_equal(out, augment_image(image, tf.constant([5, 6], tf.int64)))
    rect = augment_image(tf.zeros((128, 256, 2)), tf.constant([1, 1], tf.int64))
    assert rect.shape == (128, 256, 2)  # no 90-degree rotation of non-square images


def test_training_stream_resumes_at_any_epoch(mini_screen, tmp_path):
    labelled = load_labelled_fields(find_plate_dirs(mini_screen), find_label_files(mini_screen))
    paths = [labelled.field_paths(i) for i in range(12)]
    norm = Normalization(low=(100.0,) * 3, high=(5000.0,) * 3, method="fixed")
    cache = FieldCache(tmp_path, paths, norm, (128, 128))
    labels = labelled.fields["label"].to_numpy()[:12]
    pos = np.arange(12)

    def batches(first):
        ds = training_dataset(
            cache, pos, labels, 4, batch=4, steps=2, first_epoch=first, epochs=3, seed=0, rank=0, augment=True
        )
        return [(x.numpy(), y.numpy()) for x, y in ds]

    full, resumed = batches(0), batches(2)
    assert len(full) == 6 and len(resumed) == 2
    assert full[0][0].shape == (4, 128, 128, 3) and full[0][1].shape == (4, 4)
    for (xa, ya), (xb, yb) in zip(full[4:], resumed, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert cache.n_filled() == 12
