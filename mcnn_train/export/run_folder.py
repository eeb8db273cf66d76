"""Read and check a training run folder (``RUN_DIR/model`` SavedModel + ``RUN_DIR/card.json``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mcnn_infer.card import ModelCard, load_card
from mcnn_train.export.errors import ExportError

SAVED_MODEL_DIR = "model"


@dataclass(frozen=True)
class RunFolder:
    """A training run ready for export.

    Attributes
    ----------
    path : Path
        The run folder.
    saved_model : Path
        ``path/model``, a TensorFlow SavedModel with the ``serving_default`` signature.
    card : ModelCard
        The training card (``path/card.json``).
    """

    path: Path
    saved_model: Path
    card: ModelCard


def open_run(run_dir: str | os.PathLike[str]) -> RunFolder:
    """Check that ``run_dir`` holds a SavedModel and a valid card.

    Raises
    ------
    ExportError
        If the folder, ``model/saved_model.pb`` or ``card.json`` is missing.
    ModelCardError
        If the card is invalid.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ExportError(f"run folder {path} does not exist (expected the output folder of `hcs train`)")
    saved = path / SAVED_MODEL_DIR
    if not (saved / "saved_model.pb").is_file():
        raise ExportError(
            f"run folder {path} has no SavedModel at {saved}/saved_model.pb "
            "(expected a finished `hcs train` run; was training interrupted?)"
        )
    if not (path / "card.json").is_file():
        raise ExportError(
            f"run folder {path} has no card.json (expected the model card written by `hcs train`)"
        )
    return RunFolder(path=path, saved_model=saved, card=load_card(path / "card.json"))
