"""Seeded M-CNN runs for the benchmarks: a synthetic plate, a run folder whose classes vary, its GFLOP.

Shared by ``export_formats.py`` and ``score_throughput.py`` (one implementation of the seeded
model). The convolutions keep their random initial weights; the logits layer is set to the top
principal directions of the embeddings of a plate's calibration fields (whitened), so the
predicted class varies from field to field and top-1 agreement between precisions measures
numerical fidelity on realistic inputs (not accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mcnn_infer.card import InputSpec, ModelCard, save_card  # noqa: E402
from mcnn_infer.images import read_field  # noqa: E402
from mcnn_infer.plates import field_paths, scan_plate  # noqa: E402
from mcnn_infer.preprocess import fit_normalization  # noqa: E402
from mcnn_infer.synth import DMSO, MOAS, synthesize  # noqa: E402

#: One plate of 4 MoAs x 1 compound x 2 doses and 4 DMSO wells (12 wells).
PLATE_DESIGN = {"like": "simple", "plates": 1, "compounds_per_moa": 1, "concentrations": 2, "replicates": 1}


def make_plate(root: Path, size: tuple[int, int], sites: int, seed: int) -> Path:
    """A synthetic BBBC021-like plate (:data:`PLATE_DESIGN`), ``sites`` fields per well."""
    synthesize(
        root,
        **PLATE_DESIGN,
        controls=4,
        positive_controls=0,
        moas=list(MOAS[:4]),
        sites=sites,
        size=size,
        seed=seed,
        progress=True,
    )
    return find_plate(root)


def find_plate(root: Path) -> Path | None:
    """The plate folder :func:`make_plate` wrote under ``root`` (None when there is none)."""
    return next((p.parent for p in sorted(root.rglob("*.tif"))), None)


def set_principal_logits(net, embedding: np.ndarray, n_classes: int) -> None:
    """Set the ``logits`` layer of ``net`` to the top ``n_classes`` principal directions of ``embedding``
    (N, E), centred and whitened, so every class is the arg-max for some fields."""
    mean = embedding.mean(axis=0)
    _, sv, vt = np.linalg.svd(embedding - mean, full_matrices=False)
    kernel = (vt[:n_classes].T / np.maximum(sv[:n_classes], 1e-12)) * np.sqrt(len(embedding))
    net.get_layer("logits").set_weights([kernel.astype(np.float32), (-mean @ kernel).astype(np.float32)])


def make_run(root: Path, model: str, size: tuple[int, int], plate: Path, seed: int) -> Path:
    """A run folder (``model/`` SavedModel + ``card.json``) with a seeded ``model`` normalised on ``plate``.

    Random convolutions (seed ``seed``); logits from :func:`set_principal_logits` on the
    embeddings of the plate's calibration fields (:func:`mcnn_train.export.calibration.plate_fields`).
    """
    import tensorflow as tf

    from mcnn_train.export.calibration import plate_fields
    from mcnn_train.models import build_model
    from mcnn_train.trainer import export_model

    scan = scan_plate(plate)
    norm = fit_normalization(
        read_field(field_paths(row, scan.channels)) for _, row in scan.fields.head(4).iterrows()
    )
    classes = [DMSO, *MOAS[:4]]
    tf.keras.utils.set_random_seed(seed)
    net = build_model(model, size[0], size[1], len(scan.channels), len(classes))
    card = ModelCard(
        model_name=f"bench-{model}",
        architecture=model,
        input=InputSpec(height=size[0], width=size[1], channels=list(scan.channels), bit_depth=16),
        normalization=norm,
        class_names=classes,
        embedding_size=int(net.get_layer("embedding").units),
        training={
            "note": f"random convolutions (seed {seed}); logits = top principal directions of embeddings"
        },
    )
    fields = plate_fields(plate, card)
    embedding = np.concatenate(
        [net(batch, training=False)[1].numpy() for batch in fields.batches(fields.calibration, 2)]
    )
    set_principal_logits(net, embedding, len(classes))

    # SavedModel and model.keras, as hcs train writes them: the export then adds the feature_map output
    # and the activation head, so scoring pays for activation maps as it does for a trained model
    export_model(net, root, size, len(scan.channels))
    save_card(card, root)
    return root


def gflop_per_image(card: ModelCard) -> float | None:
    """Forward-pass GFLOP of one field for a registered M-CNN architecture (None for other models).

    From :func:`mcnn_train.models.forward_gflop`: 51.4 GFLOP for ``mcnn`` at 1024x1280x3.
    """
    from mcnn_train.models import MODELS, forward_gflop

    spec = MODELS.get(card.architecture)
    if spec is None:
        return None
    return forward_gflop(
        card.input.height, card.input.width, len(card.input.channels), len(card.class_names), spec.widths
    )
