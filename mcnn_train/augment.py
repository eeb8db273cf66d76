"""Augmentations valid for microscopy fields: flips, 90-degree rotations, intensity jitter.

All are stateless and seeded per image, so a resumed run sees exactly the same augmented
images as an uninterrupted one.
"""

from __future__ import annotations

import tensorflow as tf

from mcnn_train.recipe import INTENSITY_JITTER

#: Multiplicative per-channel intensity jitter range: factor in [1 - JITTER, 1 + JITTER] (the recipe's).
JITTER = INTENSITY_JITTER


def augment_image(image: tf.Tensor, seed: tf.Tensor, jitter: float = JITTER) -> tf.Tensor:
    """Randomly flip, rotate by multiples of 90 degrees (square images only) and scale intensities.

    Parameters
    ----------
    image : tf.Tensor
        float32 ``(height, width, channels)`` in [0, 1].
    seed : tf.Tensor
        int64 ``(2,)`` stateless seed of this image.
    jitter : float
        Per-channel intensity factors are drawn from ``[1 - jitter, 1 + jitter]``.

    Returns
    -------
    tf.Tensor
        Same shape and dtype, clipped to [0, 1].
    """
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    image = tf.image.stateless_random_flip_up_down(image, seeds[1])
    height, width = image.shape[0], image.shape[1]
    if height is not None and height == width:
        k = tf.random.stateless_uniform([], seeds[2], minval=0, maxval=4, dtype=tf.int32)
        image = tf.image.rot90(image, k)
    if jitter > 0:
        channels = image.shape[-1]
        factors = tf.random.stateless_uniform([channels], seeds[3], minval=1.0 - jitter, maxval=1.0 + jitter)
        image = tf.clip_by_value(image * factors, 0.0, 1.0)
    return image
