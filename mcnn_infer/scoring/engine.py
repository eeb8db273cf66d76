"""Inference engines: OpenVINO ``AsyncInferQueue`` (THROUGHPUT hint) and ONNX Runtime.

Both take NHWC float32 batches of at most ``batch_size`` rows, pad the last one to the
fixed batch size (so every field is computed by the same compiled kernels, whatever batch
it falls in, and resumed or sharded runs give identical numbers), and hand back
``(tag, logits, embedding)`` for the real rows.
"""

from __future__ import annotations

import abc
import os
import queue
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from mcnn_infer.card import ModelCard, load_card, verify_files
from mcnn_infer.errors import ConfigError, ModelCardError
from mcnn_infer.formats import ModelFormat, select_format


class Engine(abc.ABC):
    """Common interface: :meth:`submit` batches, collect with :meth:`poll` / :meth:`drain`.

    Attributes
    ----------
    card : ModelCard
    fmt : ModelFormat
    batch_size : int
    jobs : int
        Inference requests that run at the same time.
    """

    card: ModelCard
    fmt: ModelFormat
    batch_size: int
    jobs: int
    model_dir: Path

    def __init__(self, card: ModelCard, fmt: ModelFormat, model_dir: Path, batch_size: int) -> None:
        self.card, self.fmt, self.model_dir, self.batch_size = card, fmt, model_dir, int(batch_size)
        self._results: queue.Queue = queue.Queue()
        self._error: BaseException | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.card.input.height, self.card.input.width, len(self.card.input.channels))

    def _pad(self, tensor: np.ndarray) -> tuple[np.ndarray, int]:
        n = tensor.shape[0]
        if n < 1 or n > self.batch_size or tensor.shape[1:] != self.input_shape:
            raise ConfigError(
                f"batch has shape {tensor.shape}, expected (1..{self.batch_size}, "
                f"{', '.join(map(str, self.input_shape))})"
            )
        if n == self.batch_size:
            return np.ascontiguousarray(tensor, dtype=np.float32), n
        padded = np.zeros((self.batch_size, *self.input_shape), dtype=np.float32)
        padded[:n] = tensor
        return padded, n

    @abc.abstractmethod
    def submit(self, tensor: np.ndarray, tag: Any) -> None:
        """Start inference of a (n, H, W, C) float32 batch, n <= batch_size; may block while all requests are busy."""

    def poll(self) -> list[tuple[Any, np.ndarray, np.ndarray]]:
        """Finished batches so far: ``(tag, logits (n, K), embedding (n, E))``; does not block."""
        self._raise_pending()
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def drain(self) -> list[tuple[Any, np.ndarray, np.ndarray]]:
        """Wait for every submitted batch and return the finished ones."""
        return self.poll()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"inference failed in {self.fmt.runtime}: {error}") from error


class OpenVinoEngine(Engine):
    """OpenVINO CPU with the THROUGHPUT hint; ``AsyncInferQueue`` with the optimal number of requests."""

    def __init__(
        self,
        card: ModelCard,
        fmt: ModelFormat,
        main_file: Path,
        model_dir: Path,
        batch_size: int,
        threads: int | None = None,
    ) -> None:
        super().__init__(card, fmt, model_dir, batch_size)
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        core = ov.Core()
        model = core.read_model(main_file)
        if len(model.inputs) != 1:
            raise ModelCardError(
                f"model {main_file} has {len(model.inputs)} inputs (expected one input 'image')"
            )
        model.reshape({model.inputs[0]: ov.PartialShape([self.batch_size, *self.input_shape])})
        config: dict[str, Any] = {hints.performance_mode: hints.PerformanceMode.THROUGHPUT}
        if threads:
            config[props.inference_num_threads] = int(threads)
        self.compiled = core.compile_model(model, "CPU", config)
        self.jobs = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.streams = int(self.compiled.get_property("NUM_STREAMS"))
        self._logits = self.compiled.output(card.outputs["logits"])
        self._embedding = self.compiled.output(card.outputs["embedding"])
        self._queue = ov.AsyncInferQueue(self.compiled, self.jobs)
        # a weak reference: a bound method would make a cycle through the C++ queue that
        # the garbage collector cannot see, and no engine would ever be freed
        ref = weakref.ref(self)
        self._queue.set_callback(lambda request, userdata: _call_if_alive(ref, request, userdata))
        self._lock = threading.Lock()

    def _on_done(self, request, userdata) -> None:
        tag, n, _keepalive = userdata
        try:
            logits = np.array(request.get_tensor(self._logits).data[:n], dtype=np.float32)
            embedding = np.array(request.get_tensor(self._embedding).data[:n], dtype=np.float32)
        except BaseException as exc:  # reported to the submitting thread by poll()
            with self._lock:
                self._error = exc
            return
        self._results.put((tag, logits, embedding))

    def submit(self, tensor: np.ndarray, tag: Any) -> None:
        self._raise_pending()
        padded, n = self._pad(tensor)
        # share_inputs avoids a copy; the array is kept alive in userdata until the callback ran.
        self._queue.start_async({0: padded}, (tag, n, padded), share_inputs=True)

    def drain(self) -> list[tuple[Any, np.ndarray, np.ndarray]]:
        self._queue.wait_all()
        return self.poll()


def _call_if_alive(ref: weakref.ref, request, userdata) -> None:
    engine = ref()
    if engine is not None:
        engine._on_done(request, userdata)


class OnnxRuntimeEngine(Engine):
    """ONNX Runtime CPU, one synchronous batch at a time (the loader threads still overlap it)."""

    def __init__(
        self,
        card: ModelCard,
        fmt: ModelFormat,
        main_file: Path,
        model_dir: Path,
        batch_size: int,
        threads: int | None = None,
    ) -> None:
        super().__init__(card, fmt, model_dir, batch_size)
        import onnxruntime as ort

        self.jobs = 1
        self.streams = 1
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        self.session = ort.InferenceSession(
            str(main_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._names = [card.outputs["logits"], card.outputs["embedding"]]
        self._input = self.session.get_inputs()[0].name

    def submit(self, tensor: np.ndarray, tag: Any) -> None:
        padded, n = self._pad(tensor)
        logits, embedding = self.session.run(self._names, {self._input: padded})
        self._results.put((tag, np.asarray(logits[:n], np.float32), np.asarray(embedding[:n], np.float32)))


def open_engine(
    model_dir: str | os.PathLike[str],
    backend: str = "openvino",
    precision: str = "fp32",
    batch_size: int | None = None,
    threads: int | None = None,
    card: ModelCard | None = None,
) -> Engine:
    """Verify a model's checksums and compile it for batched CPU inference.

    Parameters
    ----------
    model_dir : path
        Exported model folder with ``card.json``.
    backend : {'openvino', 'onnxruntime'}
    precision : {'fp32', 'fp16', 'int8'}
    batch_size : int, optional
        Fields per request (default: :func:`mcnn_infer.scoring.options.choose_batch_size`).
    threads : int, optional
        Inference threads (default: the runtime's choice).

    Raises
    ------
    ModelCardError
        Missing card or format, checksum mismatch, or a model the runtime cannot load.
    ConfigError
        Backend/precision without a format in this model.
    """
    from mcnn_infer.scoring.options import choose_batch_size

    model_dir = Path(model_dir)
    card = card or load_card(model_dir)
    fmt = select_format(backend, precision, list(card.formats))
    main_file = verify_files(card, model_dir, fmt.name)
    size = batch_size or choose_batch_size(card.input.height, card.input.width, len(card.input.channels))
    kind = OpenVinoEngine if fmt.runtime == "openvino" else OnnxRuntimeEngine
    try:
        return kind(card, fmt, main_file, model_dir, size, threads)
    except (ModelCardError, ConfigError):
        raise
    except Exception as exc:
        raise ModelCardError(f"model file {main_file} could not be loaded by {fmt.runtime} ({exc})") from exc
