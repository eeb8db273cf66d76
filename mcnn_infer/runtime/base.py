"""The interface every inference engine implements, and the softmax of its logits.

An engine takes NHWC float32 batches of at most ``batch_size`` rows, pads the last one to
the fixed batch size (so every field is computed by the same compiled kernels, whatever
batch it falls in, and resumed or sharded runs give identical numbers), and hands back
``(tag, logits, embedding, feature_map)`` for the real rows (``feature_map`` None unless the card
lists the model's ``feature_map`` output: :mod:`mcnn_infer.activation`; only the rows asked for).
"""

from __future__ import annotations

import abc
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp  # imported with the engine, not on the first scored batch

from mcnn_infer.card import ModelCard
from mcnn_infer.errors import ConfigError
from mcnn_infer.formats import ModelFormat


class Engine(abc.ABC):
    """Common interface: :meth:`submit` batches, collect with :meth:`poll` / :meth:`drain`, or :meth:`infer`.

    Attributes
    ----------
    card : ModelCard
    fmt : ModelFormat
    model_dir : Path
    batch_size : int
        Fields per request (the compiled batch dimension).
    jobs : int
        Inference requests that run at the same time.
    streams : int
        CPU streams of the runtime.
    threads : int
        Inference threads the runtime uses in all (read back from the compiled model where it says).
    compiled_precision : str
        The floating-point precision the runtime reports it compiled for (``f32``, ``bf16``),
        read back from the compiled model, not assumed from the request.
    precision_reason : str
        Why this precision runs (``requested``, or what ``--precision auto`` chose and skipped).
    """

    #: The ``ModelFormat.runtime`` this engine runs (the key of :data:`mcnn_infer.runtime.ENGINES`).
    runtime: str
    card: ModelCard
    fmt: ModelFormat
    model_dir: Path
    batch_size: int
    jobs: int = 1
    streams: int = 1
    threads: int = 1
    compiled_precision: str = "f32"
    precision_reason: str = "requested"

    def __init__(
        self,
        card: ModelCard,
        fmt: ModelFormat,
        main_file: Path,
        model_dir: Path,
        batch_size: int,
        threads: int | None = None,
        hint: str = "THROUGHPUT",
        streams: int | None = None,
        profile: bool = False,
    ) -> None:
        self.card, self.fmt, self.model_dir, self.batch_size = card, fmt, Path(model_dir), int(batch_size)
        #: CPU streams asked for (None: the runtime's choice for ``hint``); runtimes without streams ignore it.
        self.streams_requested = None if streams is None else int(streams)
        #: Per-layer profiling asked for (benchmarks/layer_efficiency.py; runtimes without it refuse it).
        self.profile = bool(profile)
        #: Where batch size and streams came from (set by :func:`mcnn_infer.runtime.compile_engine`).
        self.settings_from: dict[str, str] = {}
        self._results: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._busy_lock = threading.Lock()
        self._inflight = 0
        self._busy_since = 0.0
        self._busy = 0.0
        self._open(Path(main_file), threads, hint)

    @abc.abstractmethod
    def _open(self, main_file: Path, threads: int | None, hint: str) -> None:
        """Load and compile ``main_file`` for ``batch_size`` fields per request; set ``compiled_precision``,
        ``jobs`` and ``streams``. ``threads``: inference threads (None: the runtime's choice);
        ``hint``: OpenVINO performance hint (``THROUGHPUT`` or ``LATENCY``)."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one preprocessed field."""
        return (self.card.input.height, self.card.input.width, len(self.card.input.channels))

    def _pad(self, tensor: np.ndarray) -> tuple[np.ndarray, int]:
        n = tensor.shape[0] if tensor.ndim == 4 else 0
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
    def submit(self, tensor: np.ndarray, tag: Any, map_rows: Sequence[int] | None = None) -> None:
        """Start inference of a (n, H, W, C) float32 batch, n <= batch_size; may block while all requests are busy.

        ``map_rows``: the rows whose feature map :meth:`poll` hands back (None: all rows; empty: none,
        so a scorer that makes no activation map copies none).
        """

    @property
    def feature_map_output(self) -> str | None:
        """Name of the model's ``feature_map`` output (None when the card lists none)."""
        return self.card.outputs.get("feature_map")

    def poll(self) -> list[tuple[Any, np.ndarray, np.ndarray, np.ndarray | None]]:
        """Finished batches so far: ``(tag, logits (n, K), embedding (n, E), feature_map (m, T, h, w, F) or
        None)`` (the ``m`` rows of ``map_rows`` given to :meth:`submit`, in that order); does not block."""
        self._raise_pending()
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def drain(self) -> list[tuple[Any, np.ndarray, np.ndarray, np.ndarray | None]]:
        """Wait for every submitted batch and return the finished ones."""
        return self.poll()

    def infer(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run any number of fields through the engine and wait for them (parity checks, benchmarks).

        Parameters
        ----------
        inputs : numpy.ndarray
            float32, shape (N, H, W, C), preprocessed with the card's normalisation.

        Returns
        -------
        logits : numpy.ndarray
            float32, shape (N, n_classes), in input order.
        embedding : numpy.ndarray
            float32, shape (N, embedding_size).
        """
        if inputs.ndim != 4 or inputs.shape[1:] != self.input_shape or len(inputs) == 0:
            raise ConfigError(
                f"inputs have shape {inputs.shape}, expected (N, {', '.join(map(str, self.input_shape))})"
            )
        for start in range(0, len(inputs), self.batch_size):
            self.submit(inputs[start : start + self.batch_size], start)
        parts = sorted(self.drain(), key=lambda part: part[0])
        return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])

    def compute_summary(self) -> str:
        """What the engine computes in, for people: ``f32``, ``bf16``, or ``int8 (other layers f32)``."""
        if self.fmt.precision == "int8":
            return f"int8 (other layers {self.compiled_precision})"
        return self.compiled_precision

    def describe(self) -> dict[str, Any]:
        """What was compiled, for run.json and benchmark output."""
        return {
            "format": self.fmt.name,
            "runtime": self.fmt.runtime,
            "precision": self.fmt.precision,
            "inference_precision_requested": self.fmt.inference_precision,
            "inference_precision_compiled": self.compiled_precision,
            "precision_reason": self.precision_reason,
            "batch_size": self.batch_size,
            "requests": self.jobs,
            "streams": self.streams,
            "threads": self.threads,
            "settings_from": dict(self.settings_from),
        }

    def _map_rows(self, maps: np.ndarray, n: int, map_rows: Sequence[int] | None) -> np.ndarray | None:
        """float32 copy of the feature maps of ``map_rows`` (None: rows ``:n``) of a finished request."""
        if map_rows is None:
            return np.array(maps[:n], dtype=np.float32)
        if not len(map_rows):
            return None
        return np.array(maps[np.asarray(map_rows, dtype=np.intp)], dtype=np.float32)

    def _started(self) -> None:
        """Note a request starting (call before it is started; see :attr:`busy_seconds`)."""
        with self._busy_lock:
            if self._inflight == 0:
                self._busy_since = time.perf_counter()
            self._inflight += 1

    def _finished(self) -> None:
        """Note a request finished (or failed)."""
        with self._busy_lock:
            self._inflight = max(0, self._inflight - 1)
            if self._inflight == 0:
                self._busy += time.perf_counter() - self._busy_since

    @property
    def busy_seconds(self) -> float:
        """Wall seconds during which at least one request was computing, since the engine opened."""
        with self._busy_lock:
            running = time.perf_counter() - self._busy_since if self._inflight else 0.0
            return self._busy + running

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"inference failed in {self.fmt.runtime}: {error}") from error


def log_odds(logits: np.ndarray) -> np.ndarray:
    """Row-wise log(p_k / (1 - p_k)) of (N, K) logits: ``z_k - logsumexp(z_j, j != k)``.

    The continuous readout of a class: unlike the probability it does not saturate at 0 or 1
    (a probability of 1 - 1e-9 and of 1 - 1e-3 are 20.7 and 6.9), and it is linear in the last
    layer's logits. Computed in float64, returned as float32 of shape (N, K).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.shape[1] < 2:
        return np.zeros_like(z, dtype=np.float32)
    # (N, K, K): row k holds the logits of the other classes (class k masked out)
    others = np.where(np.eye(z.shape[1], dtype=bool), -np.inf, z[:, None, :])
    return (z - logsumexp(others, axis=2)).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, computed stably in float64, returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
