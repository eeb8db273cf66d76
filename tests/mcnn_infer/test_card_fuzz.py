"""Fuzzing model cards: any mutation of a valid card loads or ends in ModelCardError."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcnn_infer.card import InputSpec, ModelCard, load_card
from mcnn_infer.errors import ModelCardError
from mcnn_infer.preprocess import Normalization

VALID = ModelCard(
    model_name="m",
    architecture="mcnn-small",
    input=InputSpec(height=64, width=80, channels=["w1", "w2", "w4"]),
    normalization=Normalization(low=(1.0, 2.0, 3.0), high=(10.0, 20.0, 30.0)),
    class_names=["DMSO", "Eg5 inhibitors", "Actin disruptors"],
    formats={"onnx": {"path": "model.onnx", "sha256": {"model.onnx": "0" * 64}}},
).to_dict()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _paths(value, (*prefix, index))


ALL_PATHS = [p for p in _paths(VALID) if p]


@st.composite
def mutated_cards(draw):
    card = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = card
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    return card


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(card=mutated_cards())
def test_mutated_cards_load_or_fail_clearly(tmp_path, card):
    (tmp_path / "card.json").write_text(json.dumps(card))
    try:
        loaded = load_card(tmp_path)
    except ModelCardError as exc:
        assert "card.json" in str(exc)
        return
    assert len(loaded.input.channels) == loaded.normalization.n_channels
    assert loaded.input.height >= 1 and len(set(loaded.class_names)) == len(loaded.class_names) >= 2
