"""OpenVINO CPU engine: THROUGHPUT hint, ``AsyncInferQueue``, inference precision always explicit.

The CPU plugin computes in BF16 by itself on CPUs with native BF16 unless told otherwise, so
every compile sets ``INFERENCE_PRECISION_HINT`` from the format (``f32`` or ``bf16``) and
reads the compiled precision back; a mismatch is an error, not a silent change of numbers.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mcnn_infer.errors import ConfigError, ModelCardError
from mcnn_infer.runtime.base import Engine

HINTS = ("THROUGHPUT", "LATENCY")


class LayerTime(NamedTuple):
    """One executed node of one request: compiled-graph name, type, kernel (e.g. ``brgconv_avx512_bf16``), seconds."""

    name: str
    node_type: str
    exec_type: str
    seconds: float


class OpenVinoEngine(Engine):
    """A compiled OpenVINO IR with ``jobs`` asynchronous requests of ``batch_size`` fields."""

    runtime = "openvino"

    def _open(self, main_file: Path, threads: int | None, hint: str) -> None:
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        if hint not in HINTS:
            raise ConfigError(f"OpenVINO performance hint {hint!r} is unknown (expected one of {HINTS})")
        core = ov.Core()
        model = core.read_model(main_file)
        if len(model.inputs) != 1:
            raise ModelCardError(
                f"model {main_file} has {len(model.inputs)} inputs (expected one input 'image')"
            )
        model.reshape({model.inputs[0]: ov.PartialShape([self.batch_size, *self.input_shape])})
        fmt, card = self.fmt, self.card
        wanted = getattr(ov.Type, fmt.inference_precision)
        config: dict[str, Any] = {
            hints.performance_mode: getattr(hints.PerformanceMode, hint),
            hints.inference_precision: wanted,
        }
        if threads:
            config[props.inference_num_threads] = int(threads)
        if self.streams_requested:
            config[props.num_streams] = int(self.streams_requested)
        if self.profile:
            config[props.enable_profiling] = True
        self._profiles: list[list[LayerTime]] = []
        self.compiled = core.compile_model(model, "CPU", config)
        self.compiled_precision = self.compiled.get_property(hints.inference_precision).get_type_name()
        if self.compiled_precision != fmt.inference_precision:
            raise ConfigError(
                f"OpenVINO compiled {main_file} for {self.compiled_precision}, not the {fmt.inference_precision} "
                f"that format {fmt.name} asks for (this CPU or OpenVINO version cannot run it)"
            )
        self.jobs = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.streams = int(self.compiled.get_property("NUM_STREAMS"))
        self.threads = int(self.compiled.get_property(props.inference_num_threads))
        self._logits = self.compiled.output(card.outputs["logits"])
        self._embedding = self.compiled.output(card.outputs["embedding"])
        self._maps = self.compiled.output(self.feature_map_output) if self.feature_map_output else None
        self._queue = ov.AsyncInferQueue(self.compiled, self.jobs)
        # a weak reference: a bound method would make a cycle through the C++ queue that
        # the garbage collector cannot see, and no engine would ever be freed
        ref = weakref.ref(self)
        self._queue.set_callback(lambda request, userdata: _call_if_alive(ref, request, userdata))
        self._lock = threading.Lock()

    def _on_done(self, request, userdata) -> None:
        tag, n, map_rows, _keepalive = userdata
        self._finished()
        try:
            if self.profile:
                layers = [
                    LayerTime(p.node_name, p.node_type, p.exec_type, p.real_time.total_seconds())
                    for p in request.profiling_info
                    if p.status == p.Status.EXECUTED
                ]
                with self._lock:
                    self._profiles.append(layers)
            logits = np.array(request.get_tensor(self._logits).data[:n], dtype=np.float32)
            embedding = np.array(request.get_tensor(self._embedding).data[:n], dtype=np.float32)
            maps = None
            if self._maps is not None:
                maps = self._map_rows(request.get_tensor(self._maps).data, n, map_rows)
        except BaseException as exc:  # reported to the submitting thread by poll()
            with self._lock:
                self._error = exc
            return
        self._results.put((tag, logits, embedding, maps))

    def take_profiles(self) -> list[list[LayerTime]]:
        """Per-layer times of every request finished since the last call (engine opened with ``profile``).

        Returns
        -------
        list of list of LayerTime
            One list per finished request (``batch_size`` fields each), one entry per executed node of
            the compiled graph, in execution order; ``seconds`` is the node's wall time in that request.
        """
        if not self.profile:
            raise ConfigError(
                f"engine of {self.fmt.name} was opened without profile=True: no per-layer times"
            )
        with self._lock:
            out, self._profiles = self._profiles, []
        return out

    def submit(self, tensor: np.ndarray, tag: Any, map_rows: Sequence[int] | None = None) -> None:
        self._raise_pending()
        padded, n = self._pad(tensor)
        # share_inputs avoids a copy; the array is kept alive in userdata until the callback ran.
        self._started()
        try:
            self._queue.start_async({0: padded}, (tag, n, map_rows, padded), share_inputs=True)
        except BaseException:
            self._finished()
            raise

    def drain(self) -> list[tuple[Any, np.ndarray, np.ndarray, np.ndarray | None]]:
        self._queue.wait_all()
        return self.poll()


def _call_if_alive(ref: weakref.ref, request, userdata) -> None:
    engine = ref()
    if engine is not None:
        engine._on_done(request, userdata)
