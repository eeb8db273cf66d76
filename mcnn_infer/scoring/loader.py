"""Decode, check, image-QC and preprocess fields in worker threads, in order, in batches.

tifffile decoding and the numpy resize/normalise release the GIL, so a thread pool keeps
several cores busy. At most ``max_inflight`` fields are being read or waiting at any time,
so memory does not grow with the plate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcnn_infer.card import ModelCard, bit_depth_mismatch
from mcnn_infer.errors import HcsError, ImageReadError
from mcnn_infer.image_qc import image_qc
from mcnn_infer.images import read_planes
from mcnn_infer.plate_normalization import PlateNormalizer
from mcnn_infer.preprocess import preprocess_planes
from mcnn_infer.results import THUMB_QC, THUMB_REPRESENTATIVE
from mcnn_infer.scoring.stage_times import StageClock
from mcnn_infer.scoring.thumbnails import thumbnail_columns


def qc_columns(raw: np.ndarray | Sequence[np.ndarray]) -> dict[str, Any]:
    """``qc_*`` columns of one raw (H, W, C) field or its C (H, W) planes (``qc_blurry`` needs the plate:
    see assembly)."""
    measures = image_qc(raw)
    return {
        "qc_empty": bool(measures["qc_empty"]),
        "qc_saturated": bool(measures["qc_saturated"]),
        "qc_fg_fraction": float(measures["fg_fraction"]),
        "qc_sat_fraction": float(measures["sat_fraction"]),
        "qc_focus": float(measures["focus"]),
    }


@dataclass
class FieldJob:
    """One field to score: its global index, channel file paths in model channel order, its plate,
    and whether it is its well's representative field (it gets a thumbnail)."""

    index: int
    paths: list[str]
    plate: str = ""
    thumbnail: bool = False


@dataclass
class LoadedField:
    """A field after loading: the model input or the reason it was skipped.

    Attributes
    ----------
    index : int
    tensor : numpy.ndarray or None
        float32 (height, width, C) in [0, 1], None when the field was skipped.
    qc : dict
        ``qc_*`` columns (empty when the image could not be read), and the ``thumb_*`` columns
        (:mod:`mcnn_infer.scoring.thumbnails`) of a field that gets a thumbnail.
    reason : str
        Why the field was skipped ('' when loaded).
    """

    index: int
    tensor: np.ndarray | None
    qc: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    error: HcsError | None = None


@dataclass
class Batch:
    """Up to ``batch_size`` loaded fields stacked for inference, plus the fields skipped meanwhile.

    Attributes
    ----------
    indices : list of int
        Global field indices of the rows of ``tensor``.
    tensor : numpy.ndarray
        float32 (len(indices), height, width, C), NHWC.
    qc : list of dict
        ``qc_*`` (and ``thumb_*``) columns per row.
    skipped : list of LoadedField
        Fields that failed to load since the previous batch.
    """

    indices: list[int]
    tensor: np.ndarray
    qc: list[dict[str, Any]]
    skipped: list[LoadedField]


class FieldPreparer:
    """Turn channel paths into model input following the card (callable from any thread).

    ``normalizer`` gives each plate's normalisation (the card's own for models without
    per-plate normalisation, which is also what happens when it is None). With ``thumbnails``,
    a job's representative field and any field image QC flags empty or saturated get a thumbnail
    made from the preprocessed field. With ``clock``, each stage's time is added to it
    (:mod:`mcnn_infer.scoring.stage_times`).
    """

    def __init__(
        self,
        card: ModelCard,
        allow_bit_depth_mismatch: bool = False,
        normalizer: PlateNormalizer | None = None,
        thumbnails: bool = False,
        clock: StageClock | None = None,
    ) -> None:
        self.card = card
        self.size = card.input.size
        self.normalizer = normalizer
        self.allow_bit_depth_mismatch = allow_bit_depth_mismatch
        self.thumbnails = thumbnails
        self.clock = clock or StageClock()

    def __call__(self, job: FieldJob, out: np.ndarray | None = None) -> LoadedField:
        """Load ``job``; the model input is written into ``out`` (float32 (H, W, C)) when given."""
        clock = self.clock
        try:
            with clock.stage("decode"):
                planes = read_planes(job.paths)  # channels apart: no interleaving copy of the raw field
            mismatch = bit_depth_mismatch(self.card, planes[0].dtype, job.paths[0])
            if mismatch and not self.allow_bit_depth_mismatch:
                raise ImageReadError(mismatch)
            with clock.stage("image_qc"):
                qc = qc_columns(planes)
            norm = (
                self.card.normalization if self.normalizer is None else self.normalizer.for_plate(job.plate)
            )
            with clock.stage("preprocess"):
                tensor = preprocess_planes(planes, norm, self.size, out)
            if self.thumbnails and (job.thumbnail or qc["qc_empty"] or qc["qc_saturated"]):
                with clock.stage("thumbnails"):
                    why = THUMB_REPRESENTATIVE if job.thumbnail else THUMB_QC
                    qc.update(thumbnail_columns(tensor, why))
        except HcsError as exc:
            return LoadedField(job.index, None, {}, " ".join(str(exc).split()), exc)
        return LoadedField(job.index, tensor, qc)


def iter_batches(
    jobs: Iterable[FieldJob],
    prepare: Callable[[FieldJob, np.ndarray], LoadedField],
    batch_size: int,
    input_shape: Sequence[int],
    workers: int,
    max_inflight: int,
    fail_fast: bool = False,
    clock: StageClock | None = None,
    dtype: np.dtype | type = np.float32,
) -> Iterator[Batch]:
    """Load fields in a thread pool and yield them in job order as batches.

    Parameters
    ----------
    jobs : iterable of FieldJob
    prepare : callable
        ``(FieldJob, out) -> LoadedField`` (e.g. :class:`FieldPreparer`), writing the model input into
        ``out``, the field's row of the batch it is meant for: while no field is skipped, every batch
        is yielded as the array the loader threads wrote (no copy); after a skip the rows no longer
        line up and batches are stacked from the fields' rows.
    batch_size : int
        Fields per batch (the last batch may be smaller).
    input_shape : (height, width, channels)
    workers : int
        Threads.
    max_inflight : int
        Fields submitted but not yet batched, at most (bounds memory).
    fail_fast : bool
        Raise the first load error instead of recording the field as skipped.
    clock : StageClock, optional
        Gets the time waited for loaded fields and the time spent stacking batches.
    dtype : numpy.dtype
        Of the batch arrays: float32, the model input :class:`FieldPreparer` writes (another dtype
        for an engine that takes camera counts, as ``benchmarks/loader_ablation.py`` measures).

    Raises
    ------
    HcsError
        With ``fail_fast``, the error of the first field that could not be loaded.
    """
    max_inflight = max(int(max_inflight), 1)
    clock = clock or StageClock()
    pending: deque[tuple[Future[LoadedField], np.ndarray, int]] = deque()
    source = iter(jobs)
    exhausted = False
    rows: list[LoadedField] = []
    skipped: list[LoadedField] = []

    places: list[tuple[np.ndarray, int]] = []  # (batch array, row) each loaded row was written into
    filling: list = [None, batch_size]  # the batch array new jobs write into, and its next free row

    def slot() -> tuple[np.ndarray, int]:
        if filling[1] == batch_size:
            filling[0], filling[1] = np.empty((batch_size, *input_shape), dtype=dtype), 0
        filling[1] += 1
        return filling[0], filling[1] - 1

    def emit() -> Batch:
        first = places[0][0] if places else None
        if first is not None and all(a is first and r == k for k, (a, r) in enumerate(places)):
            tensor = first[: len(rows)]  # the loader threads wrote these rows in place
        else:
            with clock.stage("batching"):
                tensor = np.empty((len(rows), *input_shape), dtype=dtype)
                for k, item in enumerate(rows):
                    tensor[k] = item.tensor
        batch = Batch([r.index for r in rows], tensor, [r.qc for r in rows], list(skipped))
        rows.clear()
        places.clear()
        skipped.clear()
        return batch

    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="hcs-load")
    try:
        while True:
            while not exhausted and len(pending) < max_inflight:
                job = next(source, None)
                if job is None:
                    exhausted = True
                    break
                array, row = slot()
                pending.append((pool.submit(prepare, job, array[row]), array, row))
            if not pending:
                break
            future, array, row = pending.popleft()
            with clock.wait("loader"):
                item = future.result()
            if item.tensor is None:
                if fail_fast and item.error is not None:
                    raise item.error
                skipped.append(item)
            else:
                rows.append(item)
                places.append((array, row))
            if len(rows) >= batch_size:
                yield emit()
        if rows or skipped:
            yield emit()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
