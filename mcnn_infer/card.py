"""Model cards: everything the scorer needs to use a model correctly, and its provenance.

A card is JSON (``card.json`` beside the model files; also embedded in ONNX
``metadata_props`` and OpenVINO runtime info). Loading validates keys and types;
:func:`verify_files` checks the sha256 of every weights file before a model is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcnn_infer.atomic import write_json
from mcnn_infer.errors import ChannelMismatchError, ModelCardError
from mcnn_infer.formats import FORMATS, weight_files
from mcnn_infer.preprocess import Normalization

SCHEMA_VERSION = 1
CARD_FILE = "card.json"


@dataclass
class InputSpec:
    """Model input: (height, width) in pixels and the channels in order.

    ``channels`` are plate channel keys (``w1``, ``Channel1`` ...); ``channel_names`` maps
    them to stain names (``w1`` -> ``DAPI``). ``bit_depth`` is the camera bit depth of the
    training images; ``pixel_size_um`` is recorded when known.
    """

    height: int
    width: int
    channels: list[str]
    channel_names: dict[str, str] = field(default_factory=dict)
    layout: str = "NHWC"
    dtype: str = "float32"
    bit_depth: int | None = None
    pixel_size_um: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)


@dataclass
class ModelCard:
    """The model card (see ARCHITECTURE.md for the JSON schema)."""

    model_name: str
    architecture: str
    input: InputSpec
    normalization: Normalization
    class_names: list[str]
    outputs: dict[str, str] = field(default_factory=lambda: {"logits": "logits", "embedding": "embedding"})
    embedding_size: int | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    #: The dense head and feature-map geometry for class activation maps (mcnn_infer.activation); {} if none.
    activation: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["normalization"] = self.normalization.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model card") -> ModelCard:
        """Validate and build a card; raises ModelCardError naming the key and the problem."""
        try:
            return cls._from_dict(data, source)
        except ModelCardError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ModelCardError(f"{source} has a value of the wrong type or form ({exc})") from exc

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any], source: str) -> ModelCard:
        if not isinstance(data, Mapping):
            raise ModelCardError(f"{source} is a {type(data).__name__}, expected a JSON object")
        required = {
            "model_name": str,
            "architecture": str,
            "input": Mapping,
            "normalization": Mapping,
            "class_names": list,
        }
        for key, kind in required.items():
            if key not in data:
                raise ModelCardError(f"{source} lacks the key {key!r} (expected {kind.__name__})")
            if not isinstance(data[key], kind):
                raise ModelCardError(
                    f"{source}: {key!r} is {type(data[key]).__name__}, expected {kind.__name__}"
                )
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ModelCardError(
                f"{source}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})"
            )
        spec = data["input"]
        try:
            inp = InputSpec(
                height=_positive_int(spec["height"], "input.height", source),
                width=_positive_int(spec["width"], "input.width", source),
                channels=[str(c) for c in _list(spec["channels"], "input.channels", source)],
                channel_names={str(k): str(v) for k, v in dict(spec.get("channel_names") or {}).items()},
                layout=str(spec.get("layout", "NHWC")),
                dtype=str(spec.get("dtype", "float32")),
                bit_depth=None if spec.get("bit_depth") is None else int(spec["bit_depth"]),
                pixel_size_um=None if spec.get("pixel_size_um") is None else float(spec["pixel_size_um"]),
            )
        except KeyError as exc:
            raise ModelCardError(f"{source}: input lacks the key {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ModelCardError(f"{source}: input has a bad value ({exc})") from exc
        if inp.layout != "NHWC":
            raise ModelCardError(f"{source}: input.layout {inp.layout!r} is not supported (expected 'NHWC')")
        if not inp.channels:
            raise ModelCardError(f"{source}: input.channels is empty (expected the channel keys in order)")
        norm = Normalization.from_dict(data["normalization"], source)
        if norm.n_channels != len(inp.channels):
            raise ModelCardError(
                f"{source}: normalization has {norm.n_channels} channels but input.channels has {len(inp.channels)}"
            )
        classes = [str(c) for c in data["class_names"]]
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ModelCardError(f"{source}: class_names {classes} (expected at least two distinct names)")
        formats = data.get("formats") or {}
        if not isinstance(formats, Mapping):
            raise ModelCardError(f"{source}: formats is {type(formats).__name__}, expected an object")
        for name in formats:
            if name not in FORMATS:
                raise ModelCardError(
                    f"{source}: unknown format {name!r} (expected one of {', '.join(FORMATS)})"
                )
        return cls(
            model_name=data["model_name"],
            architecture=data["architecture"],
            input=inp,
            normalization=norm,
            class_names=classes,
            outputs=dict(data.get("outputs") or {"logits": "logits", "embedding": "embedding"}),
            embedding_size=None if data.get("embedding_size") is None else int(data["embedding_size"]),
            training=dict(data.get("training") or {}),
            metrics=dict(data.get("metrics") or {}),
            software=dict(data.get("software") or {}),
            git_commit=data.get("git_commit"),
            formats={k: dict(v) for k, v in formats.items()},
            parity=dict(data.get("parity") or {}),
            activation=dict(data.get("activation") or {}),
            created=data.get("created"),
        )


def _positive_int(value: Any, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelCardError(f"{source}: {key} is {value!r} (expected a positive integer)")
    return value


def _list(value: Any, key: str, source: str) -> list:
    if not isinstance(value, list):
        raise ModelCardError(f"{source}: {key} is {type(value).__name__} (expected a list)")
    return value


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read and validate ``card.json`` (or a model folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelCardError(
            f"model card {path} does not exist (expected card.json in the model folder)"
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelCardError(f"model card {path} is not valid JSON ({exc})") from exc
    return ModelCard.from_dict(data, source=str(path))


def save_card(card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Write the card atomically; ``path`` may be the model folder."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":
        path = path / CARD_FILE
    write_json(path, card.to_dict())
    return path


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def record_format(card: ModelCard, model_dir: str | os.PathLike[str], name: str, **facts: Any) -> None:
    """Add format ``name`` to the card with the sha256 of each of its files."""
    fmt = FORMATS[name]
    model_dir = Path(model_dir)
    card.formats[name] = {
        "path": fmt.path,
        "runtime": fmt.runtime,
        "precision": fmt.precision,
        "sha256": {rel: sha256_file(model_dir / rel) for rel in weight_files(fmt, model_dir)},
        **facts,
    }


def verify_files(card: ModelCard, model_dir: str | os.PathLike[str], name: str) -> Path:
    """Check the sha256 of every file of format ``name``; return the main file's path.

    Raises
    ------
    ModelCardError
        If the card lacks the format or a checksum, a file is missing, or a file's
        content differs from the card (tampered or truncated weights).
    """
    model_dir = Path(model_dir)
    entry = card.formats.get(name)
    if entry is None:
        raise ModelCardError(
            f"model {model_dir} has no {name} format in its card (it has {', '.join(card.formats) or 'none'})"
        )
    sums = entry.get("sha256") or {}
    listed = sorted(sums) if not Path(FORMATS[name].path).suffix else weight_files(FORMATS[name])
    if not listed:
        raise ModelCardError(
            f"model card in {model_dir} lists no files for format {name} (refusing an unverified model)"
        )
    for rel in listed:
        expected = sums.get(rel)
        file = model_dir / rel
        if not expected:
            raise ModelCardError(
                f"model card in {model_dir} has no sha256 for {rel} (refusing an unverified model)"
            )
        if not file.is_file():
            raise ModelCardError(f"model file {file} is missing (the card lists it for format {name})")
        actual = sha256_file(file)
        if actual != expected:
            raise ModelCardError(
                f"model file {file} has sha256 {actual[:16]}..., the card says {expected[:16]}... "
                "(the file was modified or truncated; re-export the model)"
            )
    return model_dir / FORMATS[name].path


def check_channels(card: ModelCard, plate_channels: Sequence[str], plate: str) -> None:
    """Refuse a plate whose channels differ from the model's.

    Raises
    ------
    ChannelMismatchError
        Naming the plate, its channels and the model's channels.
    """
    if list(plate_channels) != list(card.input.channels):
        names = ", ".join(f"{c} ({card.input.channel_names.get(c, '?')})" for c in card.input.channels)
        raise ChannelMismatchError(
            f"plate {plate} has channels {list(plate_channels)}, but model {card.model_name} expects {names} "
            "in this order"
        )


def bit_depth_mismatch(card: ModelCard, dtype: Any, path: str) -> str | None:
    """Why an image of ``dtype`` at ``path`` does not fit the card's bit depth (None when it does).

    The message names the file, its bit depth and the model's, and the option that scores anyway;
    callers raise it as the error of their context (a plate refused, or one field skipped).
    """
    expected = card.input.bit_depth
    bits = np.dtype(dtype).itemsize * 8
    if not expected or bits == expected:
        return None
    return (
        f"image {path} is {np.dtype(dtype)} ({bits}-bit) but model {card.model_name} expects "
        f"{expected}-bit images; pass --allow-bit-depth-mismatch to score anyway"
    )
