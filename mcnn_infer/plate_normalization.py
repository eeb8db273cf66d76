"""Per-plate intensity normalisation: each plate's own robust percentiles.

Stain intensity and background drift from plate to plate and week to week (batch effects).
A model whose card says ``normalization.method == "plate"`` maps each plate's intensities
with percentiles fitted on that plate alone: :data:`SAMPLE_FIELDS` fields spread evenly over
the plate's field table (in well and site order), so training, export and scoring — and every
shard of a scoring run — fit the very same values from the same files. Models with a
dataset-wide (``percentile``) or ``fixed`` normalisation use the card's values for every plate.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.errors import ConfigError, HcsError, ModelCardError, PlateError
from mcnn_infer.images import read_field
from mcnn_infer.plates import field_paths
from mcnn_infer.preprocess import PLATE_METHOD, Normalization, fit_normalization

#: Fields read per plate to fit its percentiles. The 99.9th percentile depends on which phenotypes
#: the sample happens to hold; with 24 fields that noise (about 10 % between two plates of one
#: week) exceeded the plate effect it corrects and cost validation accuracy on small screens.
SAMPLE_FIELDS = 64
#: Threads decoding the sampled fields (at most the machine's CPUs).
READ_THREADS = 4


def spread_rows(n_rows: int, n: int) -> np.ndarray:
    """Indices of at most ``n`` rows evenly spread over ``range(n_rows)`` (all when fewer), int64."""
    if n_rows <= n:
        return np.arange(n_rows, dtype=np.int64)
    return np.unique(np.linspace(0, n_rows - 1, n).round().astype(np.int64))


def fit_plate(
    plate: str, fields: pd.DataFrame, channels: Sequence[str], template: Normalization, n: int = SAMPLE_FIELDS
) -> Normalization:
    """Fit the normalisation of one plate on up to ``n`` of its fields.

    Parameters
    ----------
    plate : str
        Plate name (for the record and for error messages).
    fields : pandas.DataFrame
        The plate's fields, one row each, with ``path_<channel>`` columns.
    channels : sequence of str
        Channel keys in model order (C of them).
    template : Normalization
        Gives the percentiles; its low/high are not used.
    n : int
        Fields sampled.

    Returns
    -------
    Normalization
        ``method='plate'``, low/high in camera counts (C values each); ``extra`` records the
        plate, the fields used and the sampled fields that could not be read.

    Raises
    ------
    PlateError
        When no sampled field of the plate can be read.
    """
    rows = fields.sort_values(["well", "site"], kind="stable").iloc[spread_rows(len(fields), n)]
    unreadable: list[str] = []
    used = 0

    def readable() -> Iterator[np.ndarray]:
        nonlocal used
        for (_, row), image in zip(rows.iterrows(), _read_in_parallel(rows, channels), strict=True):
            if isinstance(image, HcsError):
                unreadable.append(f"{row['well']} s{row['site']}: {' '.join(str(image).split())}")
            else:
                used += 1
                yield image

    try:
        # fields are sampled as they are read: at most a few raw fields are in memory at once
        fitted = fit_normalization(readable(), percentiles=template.percentiles, seed=0)
    except ConfigError as exc:
        if used:
            raise PlateError(f"plate {plate}: {exc}") from None
        raise PlateError(
            f"plate {plate}: none of the {len(rows)} fields sampled to fit its per-plate normalisation could be "
            f"read (first: {unreadable[0] if unreadable else 'no fields'}); expected readable images"
        ) from None
    return replace(
        fitted,
        method=PLATE_METHOD,
        extra={"plate": str(plate), "fields_used": used, "fields_unreadable": unreadable},
    )


def _read_in_parallel(rows: pd.DataFrame, channels: Sequence[str]) -> Iterator[np.ndarray | HcsError]:
    """Each row's raw (H, W, C) field, or the error that stopped it, in row order.

    Decoding releases the GIL, so a few threads read ahead (the scorer's loader threads wait
    for the fit of a plate they need); at most ``2 * threads`` fields are pending at once.
    """
    threads = max(1, min(READ_THREADS, os.cpu_count() or 1))

    def read(paths: list[str]) -> np.ndarray | HcsError:
        try:
            return read_field(paths)
        except HcsError as exc:
            return exc

    jobs = ([str(p) for p in field_paths(row, channels)] for _, row in rows.iterrows())
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hcs-plate-norm") as pool:
        pending: deque[Future] = deque()
        for paths in jobs:
            pending.append(pool.submit(read, paths))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class PlateNormalizer:
    """The normalisation of each plate under a model card's normalisation (thread-safe).

    Parameters
    ----------
    template : Normalization
        The card's (or the run's) normalisation. Unless its method is ``plate``, every plate
        gets ``template`` itself.
    fields : pandas.DataFrame
        All fields of all plates (before any sharding or resume filtering), with ``plate``,
        ``well``, ``site`` and ``path_<channel>`` columns.
    channels : sequence of str
        The channel keys of the path columns, in model order.
    """

    def __init__(
        self,
        template: Normalization,
        fields: pd.DataFrame,
        channels: Sequence[str],
    ) -> None:
        self.template = template
        self.per_plate = template.method == PLATE_METHOD
        self.channels = list(channels)
        self._fields = fields if self.per_plate else fields.iloc[:0]
        self._fitted: dict[str, Normalization] = {}
        self._failed: dict[str, PlateError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def for_plate(self, plate: str) -> Normalization:
        """Normalisation of ``plate`` (fitted on first use, then cached).

        Raises
        ------
        PlateError
            When the plate has no readable sampled field (raised again, without rereading,
            for every later field of that plate).
        """
        if not self.per_plate:
            return self.template
        plate = str(plate)
        with self._guard:
            if plate in self._fitted:
                return self._fitted[plate]
            lock = self._locks.setdefault(plate, threading.Lock())
        with lock:  # one thread fits; the others wait for its result
            if plate in self._failed:
                raise self._failed[plate]
            if plate not in self._fitted:
                rows = self._fields[self._fields["plate"].astype(str) == plate]
                try:
                    if rows.empty:
                        raise PlateError(f"plate {plate} has no fields to fit its per-plate normalisation")
                    norm = fit_plate(plate, rows, self.channels, self.template)
                except PlateError as exc:
                    self._failed[plate] = exc
                    raise
                with self._guard:
                    self._fitted[plate] = norm
            return self._fitted[plate]

    def remember(self, values: Mapping[str, Normalization]) -> None:
        """Take plate -> normalisation fitted earlier (see :func:`from_record`) instead of refitting."""
        if self.per_plate:
            with self._guard:
                for plate, norm in values.items():
                    self._fitted.setdefault(str(plate), norm)

    def fit_all(self) -> dict[str, Normalization]:
        """Fit every plate of the field table; returns plate -> normalisation (empty unless per plate)."""
        if self.per_plate:
            for plate in sorted(self._fields["plate"].astype(str).unique()):
                self.for_plate(plate)
        return self.fitted()

    def fitted(self) -> dict[str, Normalization]:
        """Plate -> normalisation fitted so far."""
        with self._guard:
            return dict(sorted(self._fitted.items()))

    def record(self, plates: Sequence[str]) -> dict[str, Any]:
        """JSON-ready record of the normalisation of ``plates`` (fitting those not fitted yet).

        Returns ``{'method', 'plates': {plate: normalisation dict}, 'failed': {plate: reason}}``;
        ``plates`` and ``failed`` are empty unless the method is ``plate``.
        """
        fitted: dict[str, Any] = {}
        failed: dict[str, str] = {}
        if self.per_plate:
            for plate in sorted({str(p) for p in plates}):
                try:
                    fitted[plate] = self.for_plate(plate).to_dict()
                except PlateError as exc:
                    failed[plate] = str(exc)
        return {"method": self.template.method, "plates": fitted, "failed": failed}


def from_record(record: Any) -> dict[str, Normalization]:
    """Plate -> normalisation from a :meth:`PlateNormalizer.record` (empty when it is not one)."""
    if not isinstance(record, Mapping) or record.get("method") != PLATE_METHOD:
        return {}
    plates = record.get("plates")
    if not isinstance(plates, Mapping):
        return {}
    try:
        return {str(p): Normalization.from_dict(d, source="run record") for p, d in plates.items()}
    except ModelCardError:
        return {}
