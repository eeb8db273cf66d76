"""Turns finished inference batches into result rows, buffers them and flushes them as result parts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.activation import ActivationHead, many_field_maps
from mcnn_infer.results import OK, SKIPPED, emb_columns, logodds_columns, prob_columns
from mcnn_infer.runtime import log_odds, softmax
from mcnn_infer.scoring.loader import Batch, LoadedField
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.store import PartStore


def map_rows(qc: Sequence[dict[str, Any]]) -> list[int]:
    """Rows of a batch that have a thumbnail: the only ones whose feature map the engine copies back."""
    return [k for k, row in enumerate(qc) if row.get("thumb_image") is not None]


#: Feature maps kept for activation maps before they are computed together (one pass over the head's kernel).
MAP_BATCH = 32


class Collector:
    """Result rows of finished batches (probabilities, QC, embeddings) and skipped fields, written as
    parts of ``flush_every`` fields (or every ``flush_seconds``); advances the per-plate progress.
    With ``head``, the fields that got a thumbnail get their class activation maps (``cam``).

    Finished batches are kept as arrays and turned into one table per part when it is written, and
    activation maps are computed :data:`MAP_BATCH` fields at a time
    (:func:`mcnn_infer.activation.many_field_maps`), so the main thread's cost per field stays small
    next to inference.
    """

    def __init__(
        self,
        store: PartStore,
        class_names: list[str],
        embeddings: bool,
        options: ScoreOptions,
        plate_of: np.ndarray,
        progress,
        tasks: dict[str, Any],
        head: ActivationHead | None = None,
    ) -> None:
        self.head = head
        self.store, self.probs, self.embeddings = store, prob_columns(class_names), embeddings
        self.logodds = logodds_columns(class_names)
        self.options, self.plate_of, self.progress, self.tasks = options, plate_of, progress, tasks
        # (indices, logits, embedding, qc rows) of finished batches, skipped fields, and
        # (qc row, feature map) of rows whose activation map is still to compute
        self._finished: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]] = []
        self._skipped: list[LoadedField] = []
        self._maps: list[tuple[dict[str, Any], np.ndarray]] = []
        self.buffered = 0
        self.last_flush = time.monotonic()
        self.scored = 0
        self.per_plate: dict[str, int] = {}

    def _advance(self, indices: Sequence[int]) -> None:
        for index in indices:
            plate = self.plate_of[index]
            self.per_plate[plate] = self.per_plate.get(plate, 0) + 1
            if self.progress is not None:
                self.progress.advance(self.tasks[plate])

    def add_skipped(self, batch: Batch) -> None:
        if not batch.skipped:
            return
        self._skipped.extend(batch.skipped)
        self._added([s.index for s in batch.skipped])

    def add_results(self, finished: list) -> None:
        for (indices, qc), logits, embedding, maps in finished:
            if self.head is not None and maps is not None:
                self._maps.extend(zip((qc[k] for k in map_rows(qc)), maps, strict=True))
                if len(self._maps) >= MAP_BATCH:
                    self._compute_maps()
            self._finished.append((np.asarray(indices, dtype=np.int64), logits, embedding, qc))
            self.scored += len(indices)
            self._added(indices)

    def _compute_maps(self) -> None:
        """``cam``, ``cam_height``, ``cam_width`` of the rows waiting for their activation map (in place)."""
        if not self._maps:
            return
        cams = many_field_maps(self.head, np.stack([feature_map for _, feature_map in self._maps]))
        for (row, _), (cam, _bias) in zip(self._maps, cams, strict=True):
            row.update(cam=cam.ravel(), cam_height=cam.shape[1], cam_width=cam.shape[2])
        self._maps = []

    def _added(self, indices: Sequence[int]) -> None:
        self.buffered += len(indices)
        self._advance(indices)
        if (
            self.buffered >= self.options.flush_every
            or time.monotonic() - self.last_flush > self.options.flush_seconds
        ):
            self.flush()

    def _result_rows(self) -> pd.DataFrame:
        """The table of the finished batches kept since the last part: one row per scored field."""
        logits = np.concatenate([logits for _, logits, _, _ in self._finished])
        rows = pd.DataFrame(softmax(logits), columns=self.probs)
        rows[self.logodds] = log_odds(logits)
        rows.insert(0, "_index", np.concatenate([indices for indices, *_ in self._finished]))
        rows.insert(1, "status", OK)
        rows.insert(2, "reason", "")
        qc = [row for *_, rows_qc in self._finished for row in rows_qc]
        if any(qc):
            rows = pd.concat([rows, pd.DataFrame(qc)], axis=1)
        if self.embeddings:
            embedding = np.concatenate([e for _, _, e, _ in self._finished])
            rows = pd.concat([rows, pd.DataFrame(embedding, columns=emb_columns(embedding.shape[1]))], axis=1)
        return rows

    def flush(self) -> None:
        self._compute_maps()
        tables = [self._result_rows()] if self._finished else []
        if self._skipped:
            tables.append(
                pd.DataFrame(
                    {
                        "_index": np.array([s.index for s in self._skipped], dtype=np.int64),
                        "status": SKIPPED,
                        "reason": [s.reason for s in self._skipped],
                    }
                )
            )
        if tables:
            self.store.write_part(pd.concat(tables, ignore_index=True))
        self._finished, self._skipped, self.buffered, self.last_flush = [], [], 0, time.monotonic()
