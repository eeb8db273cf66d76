"""Phenotype parameters, compound variants and the Hill curve."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.synth.phenotypes import (
    DMSO_PARAMS,
    MOA_DELTAS,
    MOAS,
    dmso_like,
    field_params,
    hill,
    make_compound,
)


def test_there_are_twelve_moas_each_with_a_phenotype():
    assert len(MOAS) == 12 and set(MOAS) == set(MOA_DELTAS)
    for moa, delta in MOA_DELTAS.items():
        assert delta and set(delta) <= set(DMSO_PARAMS), moa


def test_hill_is_half_at_ec50_and_rises_with_concentration():
    conc = np.geomspace(1e-3, 1e3, 61)
    strength = hill(conc, 0.7, 1.8)
    assert np.all(np.diff(strength) > 0)
    assert strength[0] < 1e-4 and strength[-1] > 1 - 1e-4
    assert hill(0.7, 0.7, 1.8) == pytest.approx(0.5)
    assert hill(0.0, 0.7, 1.8) == 0.0


@pytest.mark.parametrize(("ec50", "slope"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)])
def test_hill_rejects_bad_parameters(ec50, slope):
    with pytest.raises(ConfigError, match="EC50"):
        hill(1.0, ec50, slope)


def test_compounds_of_one_moa_are_distinct_variants_and_deterministic():
    rng = np.random.default_rng(5)
    first, second = (make_compound(f"c{i}", "Eg5 inhibitors", rng) for i in range(2))
    assert first.delta != second.delta and first.ec50_um != second.ec50_um
    assert set(MOA_DELTAS["Eg5 inhibitors"]) <= set(first.delta)
    for name, value in MOA_DELTAS["Eg5 inhibitors"].items():
        assert 0.6 * abs(value) - 1e-9 <= abs(first.delta[name]) <= 1.3 * abs(value) + 1e-9
    again = make_compound("c0", "Eg5 inhibitors", np.random.default_rng(5))
    assert again == first
    assert 0.1 <= first.ec50_um <= 3.0 and first.arrest_style == "monoaster"


def test_unknown_moa_is_rejected():
    with pytest.raises(ConfigError, match="'Teleportation'"):
        make_compound("x", "Teleportation", np.random.default_rng(0))


def test_field_params_interpolate_from_dmso_to_the_variant():
    compound = make_compound("x", "Microtubule stabilizers", np.random.default_rng(1))
    assert field_params(compound, 0.0) == field_params(None, 0.0) == DMSO_PARAMS
    half, full = field_params(compound, 0.5), field_params(compound, 1.0)
    bundle = compound.delta["tub_bundle"]
    assert half["tub_bundle"] == pytest.approx(0.5 * bundle) and full["tub_bundle"] == pytest.approx(bundle)
    assert compound.strength(compound.ec50_um) == pytest.approx(0.5)
    assert dmso_like("DMSO").strength(100.0) == 0.0


def test_field_params_are_clipped_to_valid_ranges():
    compound = make_compound("x", "Aurora kinase inhibitors", np.random.default_rng(2))
    huge = field_params(compound, 40.0)
    assert huge["density"] >= 0.05 and huge["multinuc"] <= 0.9
    assert all(value >= 0 for value in huge.values())
