"""Named M-CNN variants, so ``hcs train --model`` can list the choices."""

from __future__ import annotations

from dataclasses import dataclass

from mcnn_infer.errors import ConfigError
from mcnn_train.models.widths import MCNNWidths


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    Attributes
    ----------
    name : str
        Registry key and ``architecture`` in the model card.
    widths : MCNNWidths
        Layer widths.
    default_size : tuple of int
        Default input ``(height, width)`` in pixels.
    description : str
        One line for ``--help``.
    """

    name: str
    widths: MCNNWidths
    default_size: tuple[int, int]
    description: str

    def build(self, height: int, width: int, channels: int, n_classes: int, weight_decay: float = 0.0):
        """Build the Keras model; see :func:`mcnn_train.models.mcnn.build_mcnn`."""
        from mcnn_train.models.mcnn import build_mcnn

        return build_mcnn(height, width, channels, n_classes, self.widths, weight_decay, name=self.name)


MODELS: dict[str, ModelSpec] = {
    "mcnn": ModelSpec(
        name="mcnn",
        widths=MCNNWidths(
            column_filters=(16, 16, 16, 32, 32, 32, 64), fusion_filters=1024, embedding_units=512
        ),
        default_size=(1024, 1280),
        description="Godinez et al. 2017 M-CNN (about 42.6 M parameters at 1024x1280x3).",
    ),
    "mcnn-small": ModelSpec(
        name="mcnn-small",
        widths=MCNNWidths(column_filters=(8, 8, 8, 16, 16, 16, 32), fusion_filters=128, embedding_units=128),
        default_size=(256, 256),
        description="Same topology at reduced width, for quick runs on small images.",
    ),
}


def model_names() -> list[str]:
    """Registered model names, in registry order."""
    return list(MODELS)


def get_model_spec(name: str) -> ModelSpec:
    """Return the spec registered as ``name``; :class:`ConfigError` if unknown."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}") from None


def build_model(
    name: str, height: int, width: int, channels: int, n_classes: int, weight_decay: float = 0.0
) -> tf.keras.Model:  # noqa: F821
    """Build the registered model ``name``; outputs ``[logits, embedding]``."""
    return get_model_spec(name).build(height, width, channels, n_classes, weight_decay)
