"""A whole-field model made of a tile model: the M-CNN run on a fixed grid of native-resolution tiles.

Small real data sets (a plate's 16-32 control wells) are trained at native resolution on
random tiles of each field (many samples per field, the cell-scale detail the multi-scale
columns need). Scoring then sees whole fields: this wrapper crops the tiles of
:func:`mcnn_infer.preprocess.tile_offsets` from the field, runs the shared tile model on each
and averages the logits and the embeddings over the tiles. Built from Keras's own layers
(``Cropping2D``, ``Average``), so it is exported like any model (SavedModel, ``model.keras``,
ONNX, OpenVINO IR) and the scorer needs no tiling of its own: the model card's input size is
the field size.

The wrapper's own layers compute in float32 whatever the global Keras dtype policy: under
``mixed_bfloat16`` (``hcs train --precision bf16``) a ``Cropping2D`` would otherwise cast the
field to bfloat16 (8-bit mantissa) before the float32 tile model, and the saved model, the
reference of the export's FP32 parity check, would no longer be the float32 model it exports.

Averaging logits (rather than probabilities) is the geometric mean of the tiles' class odds:
one tile without cells does not pull a clear field towards the middle.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from mcnn_infer.preprocess import tile_offsets


def build_tiled_model(
    tile_model: tf.keras.Model, field_size: Sequence[int], name: str | None = None
) -> tf.keras.Model:
    """Wrap a tile model (outputs ``[logits, embedding]``) into a whole-field model.

    A tile model with a third output, its feature map ``(N, h, w, F)`` (the export's, see
    :mod:`mcnn_train.export.feature_map`), gives a third output ``feature_map`` ``(N, T, h, w, F)``:
    the tiles' maps stacked in the order of :func:`mcnn_infer.preprocess.tile_offsets`.

    Parameters
    ----------
    tile_model : tf.keras.Model
        Input float32 ``(N, th, tw, C)``; outputs ``[logits (N, K), embedding (N, E)]`` (and optionally
        the feature map).
    field_size : (int, int)
        Field (height, width) in pixels (the scorer's input size).
    name : str, optional
        Name of the wrapper (default ``<tile model>_tiled``).

    Returns
    -------
    tf.keras.Model
        Input ``image`` float32 ``(N, height, width, C)`` NHWC; outputs ``[logits (N, K),
        embedding (N, E)]``, each the mean over the tiles. The weights are the tile model's.
    """
    _, tile_h, tile_w, channels = tile_model.input_shape
    height, width = int(field_size[0]), int(field_size[1])
    offsets = tile_offsets((height, width), (tile_h, tile_w))
    image = tf.keras.Input(shape=(height, width, channels), dtype="float32", name="image")
    logits, embeddings, maps = [], [], []
    for k, (y, x) in enumerate(offsets):
        crop = ((y, height - y - tile_h), (x, width - x - tile_w))
        tile = (
            image
            if len(offsets) == 1
            else tf.keras.layers.Cropping2D(crop, name=f"tile{k}", dtype="float32")(image)
        )
        tile_logits, tile_embedding, *tile_map = tile_model(tile)
        logits.append(tile_logits)
        embeddings.append(tile_embedding)
        if tile_map:
            maps.append(
                tf.keras.layers.Reshape((1, *tile_map[0].shape[1:]), name=f"tile{k}_map", dtype="float32")(
                    tile_map[0]
                )
            )
    if len(offsets) > 1:
        logits = [tf.keras.layers.Average(name="logits", dtype="float32")(logits)]
        embeddings = [tf.keras.layers.Average(name="embedding", dtype="float32")(embeddings)]
    outputs = [logits[0], embeddings[0]]
    if maps:
        outputs.append(
            maps[0]
            if len(maps) == 1
            else tf.keras.layers.Concatenate(axis=1, name="feature_map", dtype="float32")(maps)
        )
    return tf.keras.Model(image, outputs, name=name or f"{tile_model.name}_tiled")
