"""A tiny training run folder (``model/`` SavedModel + ``card.json``) for the export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcnn_infer.card import InputSpec, ModelCard, save_card
from mcnn_infer.metadata import BBBC021_CHANNEL_NAMES
from mcnn_infer.preprocess import Normalization

CLASSES = ("Actin disruptors", "DMSO", "Eg5 inhibitors", "Microtubule stabilizers")
CHANNELS = ("w1", "w2", "w4")


def make_run(
    root: Path,
    size: tuple[int, int] = (128, 128),
    seed: int = 0,
    tied_logits: bool = False,
    bfloat16_input: bool = False,
) -> Path:
    """Write ``root`` as a run folder holding an untrained ``mcnn-small``.

    Parameters
    ----------
    root : Path
        Folder to create.
    size : (int, int)
        Input (height, width); multiples of 128.
    seed : int
        Seed of the weights.
    tied_logits : bool
        Make every class's logit weights one shared column plus differences ~1e-5 of it, so
        per-channel INT8 weight rounding changes the arg-max: a model INT8 cannot reproduce.
    bfloat16_input : bool
        Round the input to bfloat16 in the SavedModel's signature, as the bfloat16 tiling layers of
        tiled ``--precision bf16`` runs of earlier versions did: a reference that is not float32.
    """
    import tensorflow as tf

    from mcnn_train.models import build_model

    tf.keras.utils.set_random_seed(seed)
    model = build_model("mcnn-small", size[0], size[1], len(CHANNELS), len(CLASSES))
    if tied_logits:
        layer = model.get_layer("logits")
        kernel, bias = layer.get_weights()
        rng = np.random.default_rng(seed)
        shared = rng.normal(0, 0.1, (kernel.shape[0], 1))  # the same column for every class ...
        kernel = shared + rng.normal(0, 1e-6, kernel.shape)  # ... plus class terms far below INT8 resolution
        layer.set_weights([kernel.astype(np.float32), np.zeros_like(bias)])

    @tf.function(
        input_signature=[tf.TensorSpec([None, size[0], size[1], len(CHANNELS)], tf.float32, name="image")]
    )
    def serve(image):
        if bfloat16_input:
            image = tf.cast(tf.cast(image, tf.bfloat16), tf.float32)
        logits, embedding = model(image, training=False)
        return {"logits": logits, "embedding": embedding}

    root.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(model, str(root / "model"), signatures={"serving_default": serve})
    card = ModelCard(
        model_name="tiny-mcnn-small",
        architecture="mcnn-small",
        input=InputSpec(
            height=size[0],
            width=size[1],
            channels=list(CHANNELS),
            channel_names=dict(BBBC021_CHANNEL_NAMES),
            bit_depth=16,
        ),
        normalization=Normalization(low=(0.0, 0.0, 0.0), high=(65535.0,) * 3, method="fixed"),
        class_names=list(CLASSES),
        embedding_size=int(model.get_layer("embedding").units),
        training={"note": "untrained test model"},
    )
    save_card(card, root / "card.json")
    return root
