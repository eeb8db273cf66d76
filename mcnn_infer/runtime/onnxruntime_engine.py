"""ONNX Runtime CPU engine: one synchronous batch at a time (the loader threads still overlap it).

ONNX Runtime's CPU execution provider computes float32 models in float32 on x86 (it has no
automatic BF16 path there), so the compiled precision is ``f32``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mcnn_infer.errors import ConfigError
from mcnn_infer.runtime.base import Engine


class OnnxRuntimeEngine(Engine):
    """An ``onnxruntime.InferenceSession`` on the CPU execution provider."""

    runtime = "onnxruntime"

    def _open(self, main_file: Path, threads: int | None, hint: str) -> None:
        import onnxruntime as ort

        if self.fmt.inference_precision != "f32":
            raise ConfigError(
                f"format {self.fmt.name} asks for {self.fmt.inference_precision}; "
                "ONNX Runtime on CPU computes f32 only"
            )
        if self.profile:
            raise ConfigError(
                f"per-layer profiling of {self.fmt.name} is not supported (OpenVINO formats only)"
            )
        self.jobs = 1
        self.streams = 1
        self.compiled_precision = "f32"
        options = ort.SessionOptions()
        self.threads = int(threads or os.cpu_count() or 1)
        options.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(
            str(main_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._names = [self.card.outputs["logits"], self.card.outputs["embedding"]]
        if self.feature_map_output:
            self._names.append(self.feature_map_output)
        self._input = self.session.get_inputs()[0].name

    def submit(self, tensor: np.ndarray, tag: Any, map_rows: Sequence[int] | None = None) -> None:
        padded, n = self._pad(tensor)
        self._started()
        try:
            logits, embedding, *rest = self.session.run(self._names, {self._input: padded})
        finally:
            self._finished()
        maps = self._map_rows(rest[0], n, map_rows) if rest else None
        self._results.put(
            (tag, np.asarray(logits[:n], np.float32), np.asarray(embedding[:n], np.float32), maps)
        )
