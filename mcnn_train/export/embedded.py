"""The model card inside the model files: ONNX ``metadata_props`` and OpenVINO IR runtime info.

The embedded card is the training card plus the software versions of the export, without
``formats`` and ``parity`` (a file cannot hold its own checksum); ``card.json`` beside the
files is the complete, authoritative card. Reading these back needs onnx / OpenVINO only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mcnn_infer.card import ModelCard
from mcnn_infer.errors import ModelCardError

#: Key of the card JSON in ONNX ``metadata_props``.
ONNX_CARD_KEY = "hcs.model_card"
#: Path of the card JSON in the OpenVINO IR runtime info (``<rt_info><hcs><model_card value=.../>``).
OPENVINO_CARD_PATH = ("hcs", "model_card")


def embedded_card_json(card: ModelCard) -> str:
    """Compact JSON of ``card`` without ``formats`` and ``parity``."""
    data = card.to_dict()
    data["formats"] = {}
    data["parity"] = {}
    return json.dumps(data, separators=(",", ":"))


def read_onnx_card(path: str | os.PathLike[str]) -> ModelCard:
    """The card stored in an ONNX file's ``metadata_props``.

    Raises
    ------
    ModelCardError
        If the file has no card or it is not a valid card.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    if ONNX_CARD_KEY not in props:
        raise ModelCardError(
            f"ONNX file {path} has no {ONNX_CARD_KEY!r} metadata (expected an `hcs export` model)"
        )
    return _parse(props[ONNX_CARD_KEY], f"{ONNX_CARD_KEY} of {path}")


def read_openvino_card(path: str | os.PathLike[str]) -> ModelCard:
    """The card stored in an OpenVINO IR's runtime info (``model.xml``).

    Raises
    ------
    ModelCardError
        If the IR has no card or it is not a valid card.
    """
    import openvino as ov

    model = ov.Core().read_model(str(Path(path)))
    if not model.has_rt_info(list(OPENVINO_CARD_PATH)):
        raise ModelCardError(
            f"OpenVINO IR {path} has no runtime info {'/'.join(OPENVINO_CARD_PATH)} (expected an `hcs export` model)"
        )
    text = model.get_rt_info(list(OPENVINO_CARD_PATH)).astype(str)
    return _parse(text, f"runtime info of {path}")


def _parse(text: str, source: str) -> ModelCard:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelCardError(f"{source} is not valid JSON ({exc})") from exc
    return ModelCard.from_dict(data, source=source)
