"""Load an exported model (OpenVINO IR or ONNX) and run preprocessed batches on CPU.

Weights are checked against the model card's sha256 before they are read; no model file
can execute code (IR and ONNX are data; nothing is unpickled).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcnn_infer.card import ModelCard, load_card, verify_files
from mcnn_infer.errors import ConfigError, ModelCardError
from mcnn_infer.formats import ModelFormat, select_format


@dataclass
class LoadedModel:
    """A verified, compiled model.

    Attributes
    ----------
    card : ModelCard
    fmt : ModelFormat
        The format that was loaded.
    session : Any
        ``openvino.CompiledModel`` or ``onnxruntime.InferenceSession``.
    """

    card: ModelCard
    fmt: ModelFormat
    session: Any
    model_dir: Path

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one preprocessed field."""
        return (self.card.input.height, self.card.input.width, len(self.card.input.channels))

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run one batch synchronously.

        Parameters
        ----------
        batch : numpy.ndarray
            float32, shape (N, H, W, C), preprocessed with the card's normalisation.

        Returns
        -------
        logits : numpy.ndarray
            float32, shape (N, n_classes).
        embedding : numpy.ndarray
            float32, shape (N, embedding_size).
        """
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != self.input_shape:
            raise ConfigError(
                f"batch has shape {batch.shape}, expected (N, {', '.join(map(str, self.input_shape))})"
            )
        names = (self.card.outputs["logits"], self.card.outputs["embedding"])
        logits, embedding = _RUNNERS[self.fmt.runtime](self.session, batch, names)
        return np.asarray(logits, dtype=np.float32), np.asarray(embedding, dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, computed stably in float64, returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def load_model(
    model_dir: str | os.PathLike[str],
    backend: str = "openvino",
    precision: str = "fp32",
    threads: int | None = None,
    hint: str = "THROUGHPUT",
) -> LoadedModel:
    """Verify and compile a model from an exported model folder.

    Parameters
    ----------
    model_dir : path
        Folder with ``card.json`` and the exported formats.
    backend : {'openvino', 'onnxruntime'}
    precision : {'fp32', 'fp16', 'int8'}
    threads : int, optional
        CPU threads for inference (default: the runtime's choice).
    hint : str
        OpenVINO performance hint (``THROUGHPUT`` or ``LATENCY``).

    Raises
    ------
    ModelCardError
        Missing card, missing format, or a checksum mismatch.
    ConfigError
        Unknown backend or precision.
    """
    model_dir = Path(model_dir)
    card = load_card(model_dir)
    fmt = select_format(backend, precision, list(card.formats))
    main_file = verify_files(card, model_dir, fmt.name)
    try:
        session = _LOADERS[fmt.runtime](main_file, threads, hint)
    except ModelCardError:
        raise
    except Exception as exc:
        raise ModelCardError(f"model file {main_file} could not be loaded by {fmt.runtime} ({exc})") from exc
    return LoadedModel(card=card, fmt=fmt, session=session, model_dir=model_dir)


def _compile_openvino(xml: Path, threads: int | None, hint: str):
    import openvino as ov
    import openvino.properties.hint as hints

    core = ov.Core()
    config: dict[str, Any] = {hints.performance_mode: getattr(hints.PerformanceMode, hint)}
    if threads:
        import openvino.properties as props

        config[props.inference_num_threads] = int(threads)
    return core.compile_model(core.read_model(xml), "CPU", config)


def _open_onnx(path: Path, threads: int | None, hint: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _run_openvino(session, batch: np.ndarray, names: tuple[str, str]):
    result = session(batch)
    return tuple(result[session.output(name)] for name in names)


def _run_onnx(session, batch: np.ndarray, names: tuple[str, str]):
    return session.run(list(names), {"image": batch})


#: runtime name (``ModelFormat.runtime``) -> (path, threads, hint) -> session
_LOADERS = {"openvino": _compile_openvino, "onnxruntime": _open_onnx}
#: runtime name -> (session, batch, (logits name, embedding name)) -> (logits, embedding)
_RUNNERS = {"openvino": _run_openvino, "onnxruntime": _run_onnx}
