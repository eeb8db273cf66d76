"""Build the model card (``card.json``) of a training run (schema: ARCHITECTURE.md)."""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path
from typing import Any

from mcnn_infer.card import InputSpec, ModelCard, save_card
from mcnn_infer.images import image_info
from mcnn_infer.metadata import BBBC021_CHANNEL_NAMES
from mcnn_infer.preprocess import Normalization
from mcnn_infer.provenance import package_versions

#: Packages that shape a trained model (their versions go into the card, with Python's).
TRAINING_PACKAGES = ("hcs", "tensorflow", "keras", "horovod", "numpy", "pandas", "tifffile")


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the source tree (``git rev-parse HEAD``), or None outside git / before a commit."""
    folder = folder or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def channel_names(channels: list[str]) -> dict[str, str]:
    """Stain names for known channel keys (BBBC021 ``w1/w2/w4``); empty when unknown."""
    if set(channels) <= set(BBBC021_CHANNEL_NAMES):
        return {c: BBBC021_CHANNEL_NAMES[c] for c in channels}
    return {}


def build_card(
    *,
    model_name: str,
    architecture: str,
    size: tuple[int, int],
    channels: list[str],
    example_path: str,
    normalization: Normalization,
    class_names: list[str],
    embedding_size: int,
    training: dict[str, Any],
    metrics: dict[str, Any],
) -> ModelCard:
    """Assemble the card of a trained model.

    Parameters
    ----------
    model_name, architecture : str
        Run name and registered architecture.
    size : (int, int)
        Input (height, width) in pixels.
    channels : list of str
        Channel keys in input order.
    example_path : str
        One training image (its header gives the camera bit depth).
    normalization : Normalization
        The fitted normalisation.
    class_names : list of str
        Class names in logit order.
    embedding_size : int
        Width of the ``embedding`` output.
    training : dict
        Data summary, split, resolved config.
    metrics : dict
        Final training and evaluation metrics.
    """
    return ModelCard(
        model_name=model_name,
        architecture=architecture,
        input=InputSpec(
            height=int(size[0]),
            width=int(size[1]),
            channels=list(channels),
            channel_names=channel_names(list(channels)),
            bit_depth=image_info(example_path).bit_depth,
        ),
        normalization=normalization,
        class_names=list(class_names),
        embedding_size=int(embedding_size),
        training=training,
        metrics=metrics,
        software=package_versions(TRAINING_PACKAGES),
        git_commit=git_commit(),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )


def write_card(card: ModelCard, run_dir: Path) -> Path:
    """Validate the card by a JSON round trip and write ``run_dir/card.json`` atomically."""
    ModelCard.from_dict(card.to_dict(), source=f"card of {run_dir}")
    return save_card(card, Path(run_dir) / "card.json")
