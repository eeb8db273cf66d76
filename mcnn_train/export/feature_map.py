"""The export step for class activation maps: the ``feature_map`` output and the dense head file.

The M-CNN's fused, pooled feature map (layer ``fusion_pool``, ``(N, h, w, F)``) feeds the flatten and
the two dense layers; :mod:`mcnn_infer.activation` decomposes each logit over its cells at scoring
time from that map and the dense layers' weights. This step loads the run's ``model.keras``, adds
the map as a third output ``feature_map`` ``(N, T, h, w, F)`` (``T`` tiles of a tiled model, 1
otherwise; the outputs ``logits`` and ``embedding`` are unchanged), makes the exported formats
convert that model (the parity check then compares them with the SavedModel) and writes the head
file the card lists with its sha256 (:func:`mcnn_infer.activation.record_head`).
"""

from __future__ import annotations

from typing import Any

from mcnn_infer.activation import FEATURE_MAP, record_head
from mcnn_train.export.context import ExportContext
from mcnn_train.export.embedded import embedded_card_json

KERAS_FILE = "model.keras"
#: The layers of the M-CNN (``mcnn_train/models/mcnn.py``) the maps need.
POOL_LAYER, EMBEDDING_LAYER, LOGITS_LAYER = "fusion_pool", "embedding", "logits"


def _mcnn(model):
    """The M-CNN inside ``model``: the model itself, or the tile model a tiled model wraps (None if neither)."""
    import tensorflow as tf

    names = {layer.name for layer in model.layers}
    if POOL_LAYER in names:
        return model
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model) and POOL_LAYER in {inner.name for inner in layer.layers}:
            return layer
    return None


def add_feature_map(ctx: ExportContext) -> dict[str, Any] | None:
    """Give the exported formats the ``feature_map`` output and write the activation head into the stage.

    Returns the card's ``activation`` entry, or None when the run has no ``model.keras`` with the
    M-CNN's layers (the export then has the two outputs only).
    """
    import tensorflow as tf

    from mcnn_infer.preprocess import tile_offsets
    from mcnn_train.models.tiled import build_tiled_model

    path = ctx.run.path / KERAS_FILE
    if not path.is_file():
        return None
    keras_file = str(path)
    model = tf.keras.models.load_model(keras_file, compile=False, safe_mode=True)
    mcnn = _mcnn(model)
    if mcnn is None:
        return None
    pool = mcnn.get_layer(POOL_LAYER).output
    with_map = tf.keras.Model(mcnn.inputs, [*mcnn.outputs, pool], name=f"{mcnn.name}_with_map")
    field = (ctx.card.input.height, ctx.card.input.width)
    tile = tuple(int(v) for v in mcnn.input_shape[1:3])
    if mcnn is model:
        image = tf.keras.Input(shape=model.input_shape[1:], dtype="float32", name="image")
        logits, embedding, fmap = with_map(image)
        fmap = tf.keras.layers.Reshape((1, *fmap.shape[1:]), name=FEATURE_MAP)(fmap)
        full = tf.keras.Model(image, [logits, embedding, fmap], name=model.name)
    else:
        full = build_tiled_model(with_map, field, name=model.name)
    offsets = tile_offsets(field, tile)
    cell = tile[0] // int(pool.shape[1])
    weights = mcnn.get_layer(EMBEDDING_LAYER).get_weights() + mcnn.get_layer(LOGITS_LAYER).get_weights()
    record_head(ctx.card, ctx.stage, tuple(weights), tile=tile, offsets=offsets, cell=cell)
    ctx.tf_model.feature_model = full
    ctx.embedded_card = embedded_card_json(ctx.card)
    return ctx.card.activation
