"""Model cards: validation, round trip, checksums and channel checks."""

from __future__ import annotations

import json

import pytest

from mcnn_infer.card import (
    InputSpec,
    ModelCard,
    check_channels,
    load_card,
    record_format,
    save_card,
    verify_files,
)
from mcnn_infer.errors import ChannelMismatchError, ModelCardError
from mcnn_infer.preprocess import Normalization


def _card() -> ModelCard:
    return ModelCard(
        model_name="tiny",
        architecture="mcnn-small",
        input=InputSpec(
            height=64, width=80, channels=["w1", "w2"], channel_names={"w1": "DAPI", "w2": "Tubulin"}
        ),
        normalization=Normalization(low=(10.0, 20.0), high=(1000.0, 2000.0)),
        class_names=["DMSO", "Actin disruptors"],
    )


def test_round_trip(tmp_path):
    card = _card()
    save_card(card, tmp_path)
    again = load_card(tmp_path)
    assert again.to_dict() == card.to_dict()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("class_names"), "lacks the key 'class_names'"),
        (lambda d: d.update(class_names="DMSO"), "'class_names' is str"),
        (lambda d: d["input"].update(height=-3), "input.height is -3"),
        (lambda d: d["input"].update(channels="w1"), "input.channels is str"),
        (lambda d: d["input"].pop("width"), "input lacks the key 'width'"),
        (lambda d: d["normalization"].update(low=[1.0], high=[2.0]), "normalization has 1 channels"),
        (lambda d: d["normalization"].update(low=[1.0]), "normalization in .* is invalid"),
        (lambda d: d.update(formats={"tflite": {}}), "unknown format 'tflite'"),
        (lambda d: d.update(schema_version=9), "schema_version 9"),
        (lambda d: d.update(class_names=["a", "a"]), "at least two distinct"),
    ],
)
def test_invalid_cards(tmp_path, mutate, message):
    data = _card().to_dict()
    mutate(data)
    (tmp_path / "card.json").write_text(json.dumps(data))
    with pytest.raises(ModelCardError, match=message):
        load_card(tmp_path)


def test_not_json_and_missing(tmp_path):
    with pytest.raises(ModelCardError, match="does not exist"):
        load_card(tmp_path)
    (tmp_path / "card.json").write_text("{nope")
    with pytest.raises(ModelCardError, match="not valid JSON"):
        load_card(tmp_path)
    (tmp_path / "card.json").write_text("[1, 2]")
    with pytest.raises(ModelCardError, match="expected a JSON object"):
        load_card(tmp_path)


def test_checksums_detect_tampering_and_truncation(tmp_path):
    card = _card()
    (tmp_path / "openvino").mkdir()
    (tmp_path / "openvino" / "model.xml").write_text("<net/>")
    (tmp_path / "openvino" / "model.bin").write_bytes(b"\x00" * 1000)
    record_format(card, tmp_path, "openvino-fp32")
    assert verify_files(card, tmp_path, "openvino-fp32") == tmp_path / "openvino" / "model.xml"
    (tmp_path / "openvino" / "model.bin").write_bytes(b"\x00" * 999 + b"\x01")
    with pytest.raises(ModelCardError, match="modified or truncated"):
        verify_files(card, tmp_path, "openvino-fp32")
    (tmp_path / "openvino" / "model.bin").unlink()
    with pytest.raises(ModelCardError, match="is missing"):
        verify_files(card, tmp_path, "openvino-fp32")
    with pytest.raises(ModelCardError, match="has no onnx format"):
        verify_files(card, tmp_path, "onnx")


def test_channel_check():
    card = _card()
    check_channels(card, ["w1", "w2"], "P1")
    with pytest.raises(
        ChannelMismatchError, match=r"plate P1 has channels \['w1', 'w2', 'w4'\].*w1 \(DAPI\)"
    ):
        check_channels(card, ["w1", "w2", "w4"], "P1")


def test_folder_format_checksums_cover_every_file(tmp_path):
    card = _card()
    (tmp_path / "saved_model" / "variables").mkdir(parents=True)
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "saved_model" / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights")
    record_format(card, tmp_path, "tensorflow")
    assert sorted(card.formats["tensorflow"]["sha256"]) == [
        "saved_model/saved_model.pb",
        "saved_model/variables/variables.data-00000-of-00001",
    ]
    verify_files(card, tmp_path, "tensorflow")
    (tmp_path / "saved_model" / "variables" / "variables.data-00000-of-00001").write_bytes(b"weightz")
    with pytest.raises(ModelCardError, match="modified or truncated"):
        verify_files(card, tmp_path, "tensorflow")
