"""Turns finished inference batches into result rows, buffers them and flushes them as result parts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.activation import ActivationHead, field_maps
from mcnn_infer.results import OK, SKIPPED, emb_columns, logodds_columns, prob_columns
from mcnn_infer.runtime import log_odds, softmax
from mcnn_infer.scoring.loader import Batch
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.store import PartStore


def map_rows(qc: Sequence[dict[str, Any]]) -> list[int]:
    """Rows of a batch that have a thumbnail: the only ones whose feature map the engine copies back."""
    return [k for k, row in enumerate(qc) if row.get("thumb_image") is not None]


class Collector:
    """Result rows of finished batches (probabilities, QC, embeddings) and skipped fields, written as
    parts of ``flush_every`` fields (or every ``flush_seconds``); advances the per-plate progress.
    With ``head``, the fields that got a thumbnail get their class activation maps (``cam``)."""

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
        self.buffer: list[pd.DataFrame] = []
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
        rows = pd.DataFrame(
            {
                "_index": np.array([s.index for s in batch.skipped], dtype=np.int64),
                "status": SKIPPED,
                "reason": [s.reason for s in batch.skipped],
            }
        )
        self._add(rows, [s.index for s in batch.skipped])

    def add_results(self, finished: list) -> None:
        for (indices, qc), logits, embedding, maps in finished:
            if self.head is not None and maps is not None:
                self._add_maps(qc, maps)
            probs = softmax(logits)
            rows = pd.DataFrame(probs, columns=self.probs)
            rows[self.logodds] = log_odds(logits)
            rows.insert(0, "_index", np.asarray(indices, dtype=np.int64))
            rows.insert(1, "status", OK)
            rows.insert(2, "reason", "")
            if qc and qc[0]:
                rows = pd.concat([rows, pd.DataFrame(qc)], axis=1)
            if self.embeddings:
                rows = pd.concat(
                    [rows, pd.DataFrame(embedding, columns=emb_columns(embedding.shape[1]))], axis=1
                )
            self.scored += len(indices)
            self._add(rows, indices)

    def _add_maps(self, qc: list[dict[str, Any]], maps: np.ndarray) -> None:
        """``cam``, ``cam_height``, ``cam_width`` of the rows that have a thumbnail (in place); ``maps`` holds
        the feature maps of those rows only (:func:`map_rows`)."""
        for k, feature_map in zip(map_rows(qc), maps, strict=True):
            cam, _ = field_maps(self.head, feature_map)
            qc[k].update(cam=cam.ravel(), cam_height=cam.shape[1], cam_width=cam.shape[2])

    def _add(self, rows: pd.DataFrame, indices: Sequence[int]) -> None:
        self.buffer.append(rows)
        self.buffered += len(rows)
        self._advance(indices)
        if (
            self.buffered >= self.options.flush_every
            or time.monotonic() - self.last_flush > self.options.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.store.write_part(pd.concat(self.buffer, ignore_index=True))
        self.buffer, self.buffered, self.last_flush = [], 0, time.monotonic()
