"""The trained SavedModel as TensorFlow sees it: the reference of every parity check.

Only ``hcs export`` (training side) imports TensorFlow; the scorer never does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcnn_infer.card import ModelCard
from mcnn_train.export.errors import ExportError

SIGNATURE = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAMES = ("logits", "embedding")


#: Dtypes a float32 reference must not compute in (``DataType`` names of the graph's op attributes).
REDUCED_DTYPES = ("bfloat16", "float16")


def _require_float32(path: Path, signature) -> None:
    """Raise :class:`ExportError` when an op of ``signature``'s graph (or of a function it calls)
    computes in bfloat16 or float16: the FP32 formats are checked against this model, so it must be
    the float32 model they are converted to.

    Tiled runs trained with ``--precision bf16`` before their tiling layers were pinned to float32
    (:mod:`mcnn_train.models.tiled`) round every field to bfloat16 in their SavedModel.
    """
    import tensorflow as tf

    reduced = {tf.as_dtype(name).as_datatype_enum: name for name in REDUCED_DTYPES}
    graph = signature.graph.as_graph_def()
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    for node in nodes:
        for attr in node.attr.values():
            found = [reduced[t] for t in (attr.type, *attr.list.type) if t in reduced]
            if found:
                raise ExportError(
                    f"SavedModel {path}: op {node.name!r} ({node.op}) computes in {found[0]} (expected float32 "
                    "throughout: it is the reference of the FP32 parity check; tiled --precision bf16 runs of "
                    "earlier hcs versions round every field to bfloat16 in their tiling layers: train the run again)"
                )


class TFModel:
    """The ``serving_default`` signature of a SavedModel, checked against the card.

    Parameters
    ----------
    saved_model : Path
        SavedModel folder.
    card : ModelCard
        Training card; its input (H, W, C) must match the signature.

    Raises
    ------
    ExportError
        If the signature is missing, its input is not ``image`` float32 ``[N, H, W, C]`` with the
        card's H, W, C, it lacks the ``logits`` / ``embedding`` outputs, or an op of it computes in
        bfloat16 or float16 (the reference of the FP32 parity check must be float32).
    """

    def __init__(self, saved_model: Path, card: ModelCard) -> None:
        import tensorflow as tf

        self.path = Path(saved_model)
        self._tf = tf
        self._loaded = tf.saved_model.load(str(self.path))
        if SIGNATURE not in self._loaded.signatures:
            raise ExportError(
                f"SavedModel {self.path} has signatures {list(self._loaded.signatures)} (expected {SIGNATURE!r})"
            )
        self.signature = self._loaded.signatures[SIGNATURE]
        _, inputs = self.signature.structured_input_signature
        expected = (card.input.height, card.input.width, len(card.input.channels))
        spec = inputs.get(INPUT_NAME)
        if spec is None or len(inputs) != 1:
            raise ExportError(
                f"SavedModel {self.path}: signature {SIGNATURE!r} has inputs {sorted(inputs)} (expected only {INPUT_NAME!r})"
            )
        if spec.dtype != tf.float32 or tuple(spec.shape.as_list()[1:]) != expected:
            raise ExportError(
                f"SavedModel {self.path}: input {INPUT_NAME!r} is {spec.dtype.name} {spec.shape.as_list()} "
                f"(expected float32 [N, {expected[0]}, {expected[1]}, {expected[2]}] as in card.json)"
            )
        outputs = self.signature.structured_outputs
        missing = [name for name in OUTPUT_NAMES if name not in outputs]
        if missing:
            raise ExportError(
                f"SavedModel {self.path}: signature {SIGNATURE!r} has outputs {sorted(outputs)} "
                f"(missing {missing}; expected {list(OUTPUT_NAMES)})"
            )
        _require_float32(self.path, self.signature)
        self.input_shape = expected
        self.output_shapes = {name: outputs[name].shape.as_list() for name in OUTPUT_NAMES}
        #: The Keras model with the third output ``feature_map`` (set by
        #: :func:`mcnn_train.export.feature_map.add_feature_map`); the formats are converted from it.
        self.feature_model = None

    def serving_function(self):
        """A ``tf.function`` ``image [None, H, W, C] -> {'logits', 'embedding'}`` with a dynamic batch
        (and ``feature_map`` when :attr:`feature_model` is set)."""
        tf = self._tf
        signature = self.signature
        feature_model = self.feature_model

        @tf.function(input_signature=[tf.TensorSpec([None, *self.input_shape], tf.float32, name=INPUT_NAME)])
        def serve(image):
            if feature_model is not None:
                logits, embedding, feature_map = feature_model(image, training=False)
                return {"logits": logits, "embedding": embedding, "feature_map": feature_map}
            out = signature(image=image)
            return {name: out[name] for name in OUTPUT_NAMES}

        return serve

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run a batch.

        Parameters
        ----------
        batch : numpy.ndarray
            float32, shape (N, H, W, C), preprocessed fields.

        Returns
        -------
        logits, embedding : numpy.ndarray
            float32, shapes (N, n_classes) and (N, embedding_size).
        """
        out = self.signature(image=self._tf.constant(np.asarray(batch, dtype=np.float32)))
        return out["logits"].numpy(), out["embedding"].numpy()
