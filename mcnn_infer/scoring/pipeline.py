"""``score_plates``: scan, check, load, infer, store, assemble (the whole ``hcs score``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from mcnn_infer import __version__
from mcnn_infer.card import ModelCard, bit_depth_mismatch, check_channels, load_card
from mcnn_infer.cpu import cpu_report
from mcnn_infer.errors import ChannelMismatchError, ConfigError, PlateError
from mcnn_infer.images import image_info
from mcnn_infer.metadata import read_treatments
from mcnn_infer.plate_normalization import PlateNormalizer, from_record
from mcnn_infer.plates import PlateScan, require_same_channels, scan_plate
from mcnn_infer.preprocess import Normalization
from mcnn_infer.provenance import package_versions
from mcnn_infer.results import (
    KEYS,
    OK,
    SKIPPED,
    emb_columns,
    path_columns,
    prob_columns,
    read_run_if_present,
    well_units,
)
from mcnn_infer.runtime import Engine, open_engine, softmax
from mcnn_infer.scoring.assemble import combine, finish_fields, problem_rows, split_embeddings, write_outputs
from mcnn_infer.scoring.loader import Batch, FieldJob, FieldPreparer, iter_batches
from mcnn_infer.scoring.options import ScoreOptions, default_model_dir, default_workers
from mcnn_infer.scoring.progress import plate_progress, summary_table
from mcnn_infer.scoring.shard import Shard, shard_mask
from mcnn_infer.scoring.store import PartStore, digest

#: Packages whose versions run.json records.
SCORING_PACKAGES = ("numpy", "pandas", "pyarrow", "openvino", "onnxruntime", "opencv", "tifffile")


@dataclass
class ScoreSummary:
    """What a scoring run did.

    Attributes
    ----------
    out_dir : Path
    counts : dict
        ``fields, ok, skipped, wells, treatments`` in the final tables.
    plates : list of dict
        Per plate: ``plate, fields, ok, skipped, scored_now, resumed``.
    scored_now : int
        Fields run through the model in this invocation.
    seconds : float
        Wall time of the scoring loop (s).
    fields_per_second : float
        ``scored_now / seconds``.
    """

    out_dir: Path
    model_dir: Path
    format: str
    counts: dict[str, int]
    plates: list[dict[str, Any]]
    scored_now: int
    seconds: float
    fields_per_second: float
    batch_size: int
    requests: int
    workers: int
    shard: str
    run_info: dict[str, Any] = field(default_factory=dict)


def plate_channels_for(card: ModelCard, channel_map: dict[str, str]) -> list[str] | None:
    """Plate channel keys in model order under ``--channel-map`` (None without a map).

    Raises
    ------
    ConfigError
        If the map names a channel the model does not have.
    """
    if not channel_map:
        return None
    names = {name: key for key, name in card.input.channel_names.items()}
    known = set(card.input.channels) | set(names)
    unknown = sorted(set(channel_map) - known)
    if unknown:
        raise ConfigError(
            f"--channel-map names {unknown}, which model {card.model_name} does not have "
            f"(expected its channel keys {card.input.channels} or names {sorted(names)})"
        )
    out = []
    for key in card.input.channels:
        name = card.input.channel_names.get(key)
        out.append(channel_map.get(key) or (channel_map.get(name) if name else None) or key)
    return out


def check_bit_depth(card: ModelCard, scan: PlateScan, allow: bool) -> None:
    """Compare the first field's bit depth with the card's.

    Raises
    ------
    PlateError
        Naming the file, its bit depth and the model's, unless ``allow``.
    """
    first = scan.fields.iloc[0][scan.path_columns[0]]
    mismatch = None if allow else bit_depth_mismatch(card, image_info(first).dtype, first)
    if mismatch:
        raise PlateError(mismatch)


def scan_plates(
    plate_dirs: Sequence[str | os.PathLike[str]], card: ModelCard, options: ScoreOptions
) -> tuple[list[PlateScan], list[str]]:
    """Scan each plate folder and check it against the model card; return scans and channels."""
    wanted = plate_channels_for(card, options.channel_map)
    scans = [scan_plate(Path(d).resolve(), channels=wanted) for d in plate_dirs]
    channels = require_same_channels(scans)
    seen: dict[str, Path] = {}
    for scan in scans:
        label = ", ".join(scan.plates)
        if wanted is None:
            check_channels(card, scan.channels, f"{label} ({scan.source})")
        elif len(scan.channels) != len(card.input.channels):
            raise ChannelMismatchError(
                f"plate {scan.source} has channels {scan.channels} after --channel-map, model expects "
                f"{len(card.input.channels)}"
            )
        check_bit_depth(card, scan, options.allow_bit_depth_mismatch)
        for plate in scan.plates:
            if plate in seen:
                raise PlateError(
                    f"plate name {plate!r} occurs in {seen[plate]} and {scan.source} (expected distinct plate names)"
                )
            seen[plate] = scan.source
    return scans, channels


def _field_table(scans: Sequence[PlateScan], channels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = path_columns(channels)
    fields = pd.concat([s.fields[KEYS + paths] for s in scans], ignore_index=True)
    fields["_index"] = np.arange(len(fields), dtype=np.int64)
    problems = pd.concat([problem_rows(s.problems, channels) for s in scans], ignore_index=True)
    return fields, problems


def _recorded_normalization(out: Path, fingerprint: str) -> dict[str, Normalization]:
    """Per-plate normalisation in ``out/run.json`` of an earlier run with the same fingerprint."""
    record = read_run_if_present(out)
    if record is None or record.fingerprint != fingerprint:
        return {}
    return from_record(record.normalization)


def _model_summary(engine: Engine) -> dict[str, Any]:
    card = engine.card
    return {
        "dir": str(engine.model_dir.resolve()),
        "name": card.model_name,
        "architecture": card.architecture,
        "format": engine.fmt.name,
        "runtime": engine.fmt.runtime,
        "precision": engine.fmt.precision,
        "inference_precision": engine.compiled_precision,
        "precision_reason": engine.precision_reason,
        "class_names": card.class_names,
        "input": {
            "height": card.input.height,
            "width": card.input.width,
            "channels": card.input.channels,
            "bit_depth": card.input.bit_depth,
        },
        "sha256": card.formats[engine.fmt.name].get("sha256", {}),
    }


def software_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    return {"hcs": __version__, **package_versions(SCORING_PACKAGES)}


class _Collector:
    """Turns finished batches into result rows, buffers them and flushes parts."""

    def __init__(
        self,
        store: PartStore,
        class_names: list[str],
        embeddings: bool,
        options: ScoreOptions,
        plate_of: np.ndarray,
        progress,
        tasks: dict[str, Any],
    ) -> None:
        self.store, self.probs, self.embeddings = store, prob_columns(class_names), embeddings
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
        for (indices, qc), logits, embedding in finished:
            probs = softmax(logits)
            rows = pd.DataFrame(probs, columns=self.probs)
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


def score_plates(
    plate_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str] | None = None,
    options: ScoreOptions | None = None,
    shard: Shard | None = None,
    console: Console | None = None,
) -> ScoreSummary:
    """Score plate folders with an exported model; write field, well and treatment tables.

    Parameters
    ----------
    plate_dirs : sequence of path
        Plate folders (any layout :func:`mcnn_infer.plates.scan_plate` detects) or manifests.
    out_dir : path
        RESULTS_DIR: ``fields``, ``wells``, ``treatments`` (.parquet + .csv), ``embeddings.parquet``,
        ``run.json``; resume data in ``.parts/``.
    model_dir : path, optional
        Exported model folder (default: :func:`mcnn_infer.scoring.options.default_model_dir`).
    options : ScoreOptions, optional
    shard : Shard, optional
        Score only this shard's wells (default: all).
    console : rich.console.Console, optional
        Where progress bars go (None: no progress display).

    Returns
    -------
    ScoreSummary

    Raises
    ------
    HcsError
        Unreadable plates, a plate that does not fit the model card, a bad model, options that
        conflict with earlier results in ``out_dir``, or (with ``on_error='fail'``) the first bad field.
    """
    options = options or ScoreOptions()
    shard = shard or Shard()
    out = Path(out_dir)
    if shard.from_launcher and shard.count > 1:
        # every rank of mpirun/horovodrun got the same --out: give each its own folder
        # (`hcs merge RESULTS_DIR` merges the shard-* folders inside it)
        out = out / shard.folder_name
    model_path = Path(model_dir) if model_dir is not None else default_model_dir()
    card = load_card(model_path)
    if not plate_dirs:
        raise ConfigError("no plate folder given (expected at least one PLATE_DIR)")
    scans, channels = scan_plates(plate_dirs, card, options)
    treatments = (
        read_treatments(options.metadata, positive_compounds=options.positive) if options.metadata else None
    )

    fields, problems = _field_table(scans, channels)
    # fitted on the whole plate, before sharding: every shard normalises a plate identically
    normalizer = PlateNormalizer(card.normalization, fields, channels)
    units = well_units([fields, problems])
    fields = fields[shard_mask(fields, shard, units)].reset_index(drop=True)
    problems = problems[shard_mask(problems, shard, units)].reset_index(drop=True)

    engine = open_engine(
        model_path, options.backend, options.precision, options.batch_size, options.threads, card
    )
    model_info = _model_summary(engine)
    listing = fields[KEYS + path_columns(channels) + ["_index"]].astype(str).to_numpy().tolist()
    fingerprint = {
        "model": {"name": card.model_name, "format": engine.fmt.name, "sha256": model_info["sha256"]},
        # the precision that runs, not the request: `auto` may resolve differently on another CPU
        "options": {**options.result_affecting(), "precision": engine.fmt.precision},
        "shard": shard.label,
        "fields": digest([listing, problems.astype(str).to_numpy().tolist()]),
    }
    fingerprint["digest"] = digest(fingerprint)
    store = PartStore(out)
    store.open(fingerprint, overwrite=options.overwrite)
    # a rerun of a finished run reuses the plates' recorded values: no refit, no decode
    if not options.overwrite:
        normalizer.remember(_recorded_normalization(out, fingerprint["digest"]))
    done = store.done_indices()
    todo = fields[~fields["_index"].isin(done)]
    workers = options.workers or default_workers()
    plate_of = fields.set_index("_index")["plate"].reindex(
        np.arange(fields["_index"].max() + 1 if len(fields) else 0)
    )
    plate_of = plate_of.to_numpy()
    if console is not None:
        console.print(
            f"model {card.model_name} ({model_path}), {engine.fmt.name} computing in "
            f"{engine.compiled_precision} ({engine.precision_reason}); batch {engine.batch_size}, "
            f"{engine.jobs} inference requests, {workers} loader threads; shard {shard.label}; "
            f"{len(fields)} fields, {len(fields) - len(todo)} already scored; intensity normalisation "
            f"{'per plate' if normalizer.per_plate else 'from the model card'}"
        )

    start = time.perf_counter()
    with plate_progress(console) as progress:
        tasks = {}
        if progress is not None:
            for plate, group in fields.groupby("plate", sort=True):
                tasks[plate] = progress.add_task(
                    str(plate), total=len(group), completed=int(group["_index"].isin(done).sum())
                )
        collector = _Collector(
            store, card.class_names, options.embeddings, options, plate_of, progress, tasks
        )
        jobs = (
            FieldJob(int(i), list(p), str(plate))
            for i, plate, *p in todo[["_index", "plate", *path_columns(channels)]].itertuples(index=False)
        )
        try:
            for batch in iter_batches(
                jobs,
                FieldPreparer(card, options.allow_bit_depth_mismatch, normalizer),
                engine.batch_size,
                engine.input_shape,
                workers,
                max_inflight=engine.batch_size * 2 * engine.jobs,
                fail_fast=options.on_error == "fail",
            ):
                collector.add_skipped(batch)
                if batch.indices:
                    engine.submit(batch.tensor, (batch.indices, batch.qc))
                collector.add_results(engine.poll())
        finally:
            # keep every finished result, also when a bad field (--on-error fail) or Ctrl-C stops the run
            collector.add_results(engine.drain())
            collector.flush()
    seconds = time.perf_counter() - start

    table = combine(fields, store.read_all(), problems)
    table = finish_fields(table, channels, card.class_names)
    table, embedding = split_embeddings(table)
    run_info = {
        "model": model_info,
        "plates": [
            {
                "source": str(Path(s.source).resolve()),
                "layout": s.layout,
                "plates": s.plates,
                "channels": s.channels,
                "fields": len(s.fields),
                "problems": len(s.problems),
            }
            for s in scans
        ],
        "options": {**options.to_dict(), "metadata": [str(Path(m).resolve()) for m in options.metadata]},
        "shard": shard.to_dict(),
        "fingerprint": fingerprint["digest"],
        "normalization": normalizer.record(fields["plate"].unique()),
        "engine": {**engine.describe(), "loader_threads": workers},
        "cpu": cpu_report(),
        "software": software_versions(),
    }
    counts = write_outputs(out, table, card.class_names, treatments, embedding, run_info)
    plates = []
    for plate, group in table.groupby("plate", sort=True):
        n_ok = int((group["status"] == OK).sum())
        now = collector.per_plate.get(str(plate), 0)
        plates.append(
            {
                "plate": plate,
                "fields": len(group),
                "ok": n_ok,
                "skipped": len(group) - n_ok,
                "scored_now": now,
                "resumed": int(len(fields[fields["plate"] == plate]) - now),
            }
        )
    if console is not None:
        console.print(summary_table(plates, f"hcs score -> {out}"))
    return ScoreSummary(
        out_dir=out,
        model_dir=model_path,
        format=engine.fmt.name,
        counts=counts,
        plates=plates,
        scored_now=collector.scored,
        seconds=seconds,
        fields_per_second=collector.scored / seconds if seconds > 0 else 0.0,
        batch_size=engine.batch_size,
        requests=engine.jobs,
        workers=workers,
        shard=shard.label,
        run_info=run_info,
    )
