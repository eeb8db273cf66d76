"""The multi-scale CNN (M-CNN) of Godinez et al. 2017 in tf.keras.

Seven parallel columns look at the image at scales 1, 1/2, ..., 1/64. Column ``k``
down-samples by ``2**k`` (max pooling; identity for ``k = 0``), applies three 5x5 'same'
convolutions with ReLU, then max-pools by ``64 / 2**k`` so every column lands on the same
``(H/64, W/64)`` grid. The columns are concatenated, fused by a 1x1 convolution, pooled 2x2,
flattened and passed through a dense ReLU layer (the *embedding*) and a linear layer
(the *logits*, no softmax).

The down-sampling is chained: column ``k`` max-pools column ``k - 1``'s down-sampled image by 2.
Non-overlapping max pools compose (the 2x2 maximum of 2x2 maxima is the 4x4 maximum over the
same pixels), so this is the ``2**k`` pool of the image to the bit, read from an image a quarter
the size at each step instead of from the full-resolution one six times (at 1024x1280x3 on an
Ice Lake Xeon the pools' share of OpenVINO's time fell from 7.3% to 2.9% in fp32 and from 14.6% to
10.5% in int8, the logits unchanged: ``benchmarks/model_pair.py``, ``benchmarks/layer_efficiency.py``).

Layers follow the global Keras dtype policy; under ``mixed_bfloat16`` the logits layer stays
float32 (float32 compute on the bfloat16 embedding), so the loss is computed in float32.

Only built-in Keras layers are used, so the saved model loads with ``safe_mode=True``.
"""

from __future__ import annotations

import tensorflow as tf

from mcnn_infer.errors import ConfigError
from mcnn_train.models.widths import N_COLUMNS, MCNNWidths, check_input_size


def build_mcnn(
    height: int,
    width: int,
    channels: int,
    n_classes: int,
    widths: MCNNWidths,
    weight_decay: float = 0.0,
    name: str = "mcnn",
) -> tf.keras.Model:
    """Build an M-CNN with outputs ``[logits, embedding]``.

    Parameters
    ----------
    height, width : int
        Input size in pixels; multiples of 128.
    channels : int
        Number of image channels (last axis).
    n_classes : int
        Number of classes (width of ``logits``); at least 2.
    widths : MCNNWidths
        Layer widths of the variant.
    weight_decay : float
        Weight decay ``wd`` applied as an L2 kernel regulariser with coefficient ``wd / 2``,
        so its gradient is ``wd * w`` (classical coupled SGD weight decay). Biases are not decayed.
    name : str
        Keras model name.

    Returns
    -------
    tf.keras.Model
        Input ``image`` float32 ``(N, height, width, channels)`` NHWC; outputs
        ``logits`` ``(N, n_classes)`` (always float32) and ``embedding``
        ``(N, widths.embedding_units)`` (the policy's compute dtype).
    """
    check_input_size(height, width)
    if channels < 1:
        raise ConfigError(f"M-CNN channels {channels!r}: expected at least 1")
    if n_classes < 2:
        raise ConfigError(f"M-CNN needs at least 2 classes, got {n_classes}")
    if len(widths.column_filters) != N_COLUMNS:
        raise ConfigError(
            f"M-CNN column_filters {widths.column_filters!r}: expected {N_COLUMNS} values (one per column)"
        )
    regularizer = tf.keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None
    image = tf.keras.Input(shape=(height, width, channels), dtype="float32", name="image")
    columns = []
    scaled = image  # the image max-pooled by 2**k
    for k, filters in enumerate(widths.column_filters):
        if k > 0:
            scaled = tf.keras.layers.MaxPool2D(pool_size=2, name=f"col{k}_downsample")(scaled)
        x = scaled
        for j in range(3):
            x = tf.keras.layers.Conv2D(
                filters,
                5,
                padding="same",
                activation="relu",
                kernel_regularizer=regularizer,
                name=f"col{k}_conv{j + 1}",
            )(x)
        x = tf.keras.layers.MaxPool2D(pool_size=64 // 2**k, name=f"col{k}_pool")(x)
        columns.append(x)
    x = tf.keras.layers.Concatenate(axis=-1, name="concat")(columns)
    x = tf.keras.layers.Conv2D(
        widths.fusion_filters, 1, activation="relu", kernel_regularizer=regularizer, name="fusion_conv"
    )(x)
    x = tf.keras.layers.MaxPool2D(pool_size=2, name="fusion_pool")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    embedding = tf.keras.layers.Dense(
        widths.embedding_units, activation="relu", kernel_regularizer=regularizer, name="embedding"
    )(x)
    logits = tf.keras.layers.Dense(n_classes, kernel_regularizer=regularizer, dtype="float32", name="logits")(
        embedding
    )
    return tf.keras.Model(inputs=image, outputs=[logits, embedding], name=name)
