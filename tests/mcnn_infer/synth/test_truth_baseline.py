"""The truth is real: a classical baseline sees the MoAs, imperfectly, and strength tracks dose."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.synth.batch import batch_effect, field_acquisition
from mcnn_infer.synth.phenotypes import DMSO, MOAS, field_params, make_compound
from mcnn_infer.synth.render import render_field

from .baseline import field_features, nearest_centroid_accuracy

SIZE = (128, 160)
FIELDS_PER_COMPOUND = 3


@pytest.fixture(scope="module")
def features():
    """Features of high-dose fields: 2 compounds per MoA (and 2 DMSO groups), 3 fields each, 2 plates."""
    rng = np.random.default_rng(11)
    rows, labels, groups = [], [], []
    for m, moa in enumerate((DMSO, *MOAS)):
        for group in range(2):
            compound = None if moa == DMSO else make_compound(f"{moa}-{group}", moa, rng)
            for f in range(FIELDS_PER_COMPOUND):
                batch = batch_effect(0, f"Week{1 + f % 2}", f"plate{f % 2}")
                field_rng = np.random.default_rng([11, m, group, f])
                params = field_params(compound, 0.95)
                params["density"] *= batch.density
                style = compound.arrest_style if compound else "bipolar"
                image = render_field(params, style, SIZE, field_rng, field_acquisition(batch, field_rng))
                rows.append(field_features(image))
                labels.append(moa)
                groups.append(group)
    return np.array(rows), np.array(labels), np.array(groups)


def _leave_compound_out(x, y, g, keep):
    scores = []
    for held in (0, 1):
        train, test = keep & (g != held), keep & (g == held)
        scores.append(nearest_centroid_accuracy(x[train], y[train], x[test], y[test], x[train & (y == DMSO)]))
    return float(np.mean(scores))


def test_moas_are_recognised_across_compounds_well_above_chance_but_not_perfectly(features):
    x, y, g = features
    accuracy = _leave_compound_out(x, y, g, np.ones(len(y), bool))
    chance = 1 / 13
    assert 4 * chance < accuracy < 0.95, accuracy


def test_strong_moas_separate_from_dmso_and_subtle_ones_do_not(features):
    x, y, g = features
    vs_dmso = {moa: _leave_compound_out(x, y, g, (y == moa) | (y == DMSO)) for moa in MOAS}
    assert np.mean(list(vs_dmso.values())) > 0.75, vs_dmso
    for strong in ("Actin disruptors", "Microtubule stabilizers", "Aurora kinase inhibitors", "Epithelial"):
        assert vs_dmso[strong] >= 0.85, (strong, vs_dmso)
    assert min(vs_dmso.values()) < 0.85, vs_dmso  # some MoAs are close to DMSO, as in BBBC021
    assert vs_dmso["Cholesterol-lowering"] < 0.9, vs_dmso


def test_phenotype_grows_with_strength():
    compound = make_compound("x", "Microtubule stabilizers", np.random.default_rng(2))

    def features_at(strength):
        params = field_params(compound, strength)
        return np.array(
            [
                field_features(render_field(params, "multiaster", SIZE, np.random.default_rng(s)))
                for s in range(6)
            ]
        )

    groups = [features_at(s) for s in (0.0, 0.3, 0.6, 1.0)]
    spread = np.concatenate(groups).std(axis=0) + 1e-6
    distance = [np.linalg.norm((g.mean(axis=0) - groups[0].mean(axis=0)) / spread) for g in groups[1:]]
    assert distance[0] < distance[1] < distance[2], distance
