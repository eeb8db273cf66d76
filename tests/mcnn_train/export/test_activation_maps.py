"""Where the M-CNN looked: the exported ``feature_map`` output, the head file, and the maps' mass
on the cells that carry a phenotype (synthetic fields whose phenotype sits in a known quadrant)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from mcnn_infer.activation import field_maps, load_head, tile_maps
from mcnn_infer.card import InputSpec, ModelCard, load_card, save_card
from mcnn_infer.preprocess import Normalization
from mcnn_infer.runtime import open_engine

CHANNELS = ("w1", "w2", "w4")


def _run_folder(root: Path, model, size: tuple[int, int], classes: list[str], norm: Normalization) -> Path:
    """A training run folder (SavedModel, ``model.keras``, card) of a Keras model, as ``hcs train`` writes it."""
    from mcnn_train.trainer import export_model

    root.mkdir(parents=True, exist_ok=True)
    export_model(model, root, size, len(CHANNELS))
    card = ModelCard(
        model_name="cam-test",
        architecture="mcnn-small",
        input=InputSpec(height=size[0], width=size[1], channels=list(CHANNELS), bit_depth=16),
        normalization=norm,
        class_names=classes,
        embedding_size=int(model.outputs[1].shape[-1]),
    )
    save_card(card, root / "card.json")
    return root


def _maps_and_logits(model_dir: Path, backend: str, fields: np.ndarray):
    card = load_card(model_dir)
    head = load_head(card, model_dir)
    engine = open_engine(model_dir, backend, "fp32", len(fields), 1, card)
    engine.submit(fields, 0)
    (_, logits, _, feature_maps), *_ = engine.drain()
    maps = [field_maps(head, f) for f in feature_maps]
    return head, logits, maps, feature_maps


def test_tiled_export_has_the_feature_map_and_the_maps_add_up_to_the_logits(tmp_path):
    import tensorflow as tf

    from mcnn_train.export import export_run
    from mcnn_train.models import build_model
    from mcnn_train.models.tiled import build_tiled_model

    tf.keras.utils.set_random_seed(0)
    tile = build_model("mcnn-small", 128, 128, 3, 4)
    field = (128, 320)  # 3 tiles at x = 0, 96, 192: overlapping
    model = build_tiled_model(tile, field)
    norm = Normalization(low=(0.0,) * 3, high=(65535.0,) * 3, method="fixed")
    run = _run_folder(tmp_path / "run", model, field, ["a", "b", "c", "d"], norm)
    out = export_run(run, tmp_path / "model", console=Console(quiet=True))
    card = load_card(out)
    assert card.outputs["feature_map"] == "feature_map" and card.activation["offsets"] == [
        [0, 0],
        [0, 96],
        [0, 192],
    ]
    assert card.formats["onnx"]["outputs"]["feature_map"] == [None, 3, 1, 1, 128]
    assert card.parity  # the formats converted from the model with the map agree with the SavedModel
    fields = np.random.default_rng(0).random((2, *field, 3), dtype=np.float32)
    for backend in ("openvino", "onnxruntime"):
        head, logits, maps, feature_maps = _maps_and_logits(out, backend, fields)
        assert head.grid == (4, 10)  # 32-px units: the gcd of the 128-px cell and the offsets
        for (cam, bias), row, fmap in zip(maps, logits, feature_maps, strict=True):
            per_tile, tile_bias = tile_maps(head, fmap)  # each tile's share, exactly
            tiles_logits = per_tile.sum(axis=(2, 3)) + tile_bias  # (T, K)
            np.testing.assert_allclose(tiles_logits.mean(axis=0), row, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(bias, tile_bias.mean(axis=0))
            assert cam.shape == (4, 4, 10) and np.all(cam[:, :, 4:6] != 0)  # where all three tiles overlap


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_map_mass_falls_on_the_cells_with_the_phenotype(tmp_path):
    """Train a small M-CNN (DMSO vs Eg5 inhibitor, 256x256 fields: a 2x2 grid of 128-px cells), export it,
    and score fields that are DMSO except one quadrant cut from an Eg5 field: the Eg5-vs-DMSO evidence
    the quadrant adds (the map's change against the same field without it) lies mostly on that
    quadrant (chance: a quarter)."""
    import tensorflow as tf

    from mcnn_infer.preprocess import fit_normalization, preprocess_field
    from mcnn_infer.synth import render_field
    from mcnn_infer.synth.phenotypes import field_params, make_compound
    from mcnn_train.export import export_run
    from mcnn_train.models import build_model

    size, rng = (256, 256), np.random.default_rng(0)
    eg5 = make_compound("eg5", "Eg5 inhibitors", rng)

    def render(compound, n):
        return [
            np.moveaxis(render_field(field_params(compound, 1.0), eg5.arrest_style, size, rng), 0, -1)
            for _ in range(n)
        ]

    dmso_raw, eg5_raw = render(None, 40), render(eg5, 40)
    norm = fit_normalization(dmso_raw[:10] + eg5_raw[:10])
    x = np.stack([preprocess_field(f, norm, size) for f in dmso_raw + eg5_raw])
    y = np.array([0] * 40 + [1] * 40)
    tf.keras.utils.set_random_seed(0)
    model = build_model("mcnn-small", *size, 3, 2)
    classifier = tf.keras.Model(model.input, model.outputs[0])  # the logits, same weights
    classifier.compile(
        tf.keras.optimizers.Adam(1e-3), loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    train = np.r_[0:32, 40:72]
    classifier.fit(x[train], y[train], batch_size=8, epochs=8, shuffle=True, verbose=0)
    held = np.r_[32:40, 72:80]
    accuracy = float((model.predict(x[held], verbose=0)[0].argmax(1) == y[held]).mean())
    assert accuracy >= 0.9, f"the model did not learn the phenotype (held-out accuracy {accuracy})"

    run = _run_folder(tmp_path / "run", model, size, ["DMSO", "Eg5 inhibitors"], norm)
    out = export_run(run, tmp_path / "model", console=Console(quiet=True))
    quadrants = [(0, 0), (0, 1), (1, 0), (1, 1)] * 3
    plain, mixed = [], []
    for k, (qy, qx) in enumerate(quadrants):
        field = x[32 + k % 8].copy()  # a held-out DMSO field ...
        plain.append(field.copy())
        block = np.s_[qy * 128 : (qy + 1) * 128, qx * 128 : (qx + 1) * 128]
        field[block] = x[72 + k % 8][block]  # ... with one quadrant cut from a held-out Eg5 field
        mixed.append(field)
    head, logits, maps, _ = _maps_and_logits(out, "openvino", np.stack(mixed + plain))
    assert head.grid == (2, 2)
    # the evidence for Eg5 against DMSO (the two logits' difference), per cell; what the pasted
    # quadrant changed is its difference to the same field without it
    evidence = np.stack([cam[1] - cam[0] for cam, _ in maps])
    change = evidence[: len(quadrants)] - evidence[len(quadrants) :]
    shares, hits = [], []
    for delta, (qy, qx) in zip(change, quadrants, strict=True):
        positive = np.clip(delta, 0, None)
        shares.append(positive[qy, qx] / max(positive.sum(), 1e-9))
        hits.append(delta.argmax() == qy * 2 + qx)
    raised = (logits[: len(quadrants), 1] - logits[: len(quadrants), 0]) > (
        logits[len(quadrants) :, 1] - logits[len(quadrants) :, 0]
    )
    print(
        f"Eg5-vs-DMSO evidence added by the pasted quadrant: share of its positive mass on that quadrant "
        f"{np.mean(shares):.2f} (chance 0.25), largest on it in {np.mean(hits):.2f} of the fields; "
        f"the quadrant raised the Eg5 log-odds in {raised.mean():.2f}"
    )
    assert raised.mean() >= 0.75  # the pasted phenotype moves the model
    assert np.mean(shares) > 0.5 and np.mean(hits) >= 0.75
