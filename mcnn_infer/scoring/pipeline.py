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
from mcnn_infer.activation import ActivationHead, load_head
from mcnn_infer.card import ModelCard, load_card
from mcnn_infer.cpu import cpu_report
from mcnn_infer.errors import ConfigError
from mcnn_infer.folder_lock import folder_lock
from mcnn_infer.metadata import read_treatments
from mcnn_infer.plate_normalization import PlateNormalizer, from_record
from mcnn_infer.plates import PlateScan
from mcnn_infer.preprocess import Normalization
from mcnn_infer.provenance import package_versions
from mcnn_infer.results import (
    KEYS,
    OK,
    path_columns,
    read_run_if_present,
    well_units,
)
from mcnn_infer.runtime import Engine, open_engine
from mcnn_infer.scoring.assemble import combine, finish_fields, split_embeddings, write_outputs
from mcnn_infer.scoring.collector import Collector, map_rows
from mcnn_infer.scoring.loader import FieldJob, FieldPreparer, iter_batches
from mcnn_infer.scoring.options import ScoreOptions, default_model_dir, default_workers, thread_plan
from mcnn_infer.scoring.plate_checks import field_table, scan_plates, wells_outside_map_format
from mcnn_infer.scoring.precision_hint import auto_precision_hint
from mcnn_infer.scoring.progress import plate_progress, stage_table, summary_table
from mcnn_infer.scoring.shard import Shard, results_folder, shard_mask
from mcnn_infer.scoring.stage_times import StageClock
from mcnn_infer.scoring.store import PartStore, digest
from mcnn_infer.scoring.thumbnails import representative_indices, split_thumbnails, thumbnails_table

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
        "class_names": card.class_names,
        "input": {
            "height": card.input.height,
            "width": card.input.width,
            "channels": card.input.channels,
            "bit_depth": card.input.bit_depth,
        },
        "sha256": card.formats[engine.fmt.name].get("sha256", {}),
        # wells the model trained or was selected on: flagged in_training, left out of plate QC
        "training_wells": training_wells(card),
    }


def training_wells(card: ModelCard) -> list[str]:
    """``plate/well`` keys of the card's ``training.wells`` (training and validation), sorted."""
    wells = card.training.get("wells") or {}
    return sorted({str(w) for part in ("train", "validation") for w in wells.get(part, [])})


def software_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    return {"hcs": __version__, **package_versions(SCORING_PACKAGES)}


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
    FolderLockedError
        Another run writes into the same results folder (refused before anything is read or written).
    HcsError
        Unreadable plates, a plate that does not fit the model card, a bad model, options that
        conflict with earlier results in ``out_dir``, or (with ``on_error='fail'``) the first bad field.
    """
    shard = shard or Shard()
    with folder_lock(results_folder(out_dir, shard)):
        run = prepare_run(plate_dirs, out_dir, model_dir, options or ScoreOptions(), shard, console)
        collector, seconds = run_inference(run, console)
        return finish_run(run, collector, seconds, console)


@dataclass
class ScoringRun:
    """Everything a scoring run decided before the first field is read (see :func:`prepare_run`).

    Attributes
    ----------
    out : Path
        The results folder (a ``shard-i-of-n`` folder inside ``--out`` under a launcher).
    model_path : Path
    card : ModelCard
    options : ScoreOptions
    shard : Shard
    scans : list of PlateScan
    channels : list of str
        Plate channel keys in model order.
    treatments : pandas.DataFrame or None
        Treatments per well from ``--metadata``.
    fields, problems : pandas.DataFrame
        This shard's fields (with ``_index``) and problem rows.
    normalizer : PlateNormalizer
    engine : Engine
    store : PartStore
    fingerprint : dict
    todo : pandas.DataFrame
        Fields not yet in the result parts.
    workers : int
        Loader threads.
    head : ActivationHead or None
        The dense head for activation maps of thumbnailed fields (loaded before the scoring loop starts).
    clock : StageClock
        Stage times of the scoring loop (filled by :func:`run_inference`).
    """

    out: Path
    model_path: Path
    card: ModelCard
    options: ScoreOptions
    shard: Shard
    scans: list[PlateScan]
    channels: list[str]
    treatments: pd.DataFrame | None
    fields: pd.DataFrame
    problems: pd.DataFrame
    normalizer: PlateNormalizer
    engine: Engine
    store: PartStore
    fingerprint: dict[str, Any]
    todo: pd.DataFrame
    workers: int
    head: ActivationHead | None = None
    clock: StageClock = field(default_factory=StageClock)


def prepare_run(
    plate_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str] | None,
    options: ScoreOptions,
    shard: Shard,
    console: Console | None = None,
) -> ScoringRun:
    """Scan and check the plates, take this shard's wells, compile the model and open the result store."""
    out = results_folder(out_dir, shard)
    model_path = Path(model_dir) if model_dir is not None else default_model_dir()
    card = load_card(model_path)
    if not plate_dirs:
        raise ConfigError("no plate folder given (expected at least one PLATE_DIR)")
    scans, channels = scan_plates(plate_dirs, card, options)
    treatments = (
        read_treatments(options.metadata, positive_compounds=options.positive) if options.metadata else None
    )
    if treatments is not None:  # a plate map gives its plates' format: wells beyond it are problems
        scans = [wells_outside_map_format(scan, treatments) for scan in scans]

    fields, problems = field_table(scans, channels)
    # fitted on the whole plate, before sharding: every shard normalises a plate identically
    normalizer = PlateNormalizer(card.normalization, fields, channels)
    units = well_units([fields, problems])
    fields = fields[shard_mask(fields, shard, units)].reset_index(drop=True)
    problems = problems[shard_mask(problems, shard, units)].reset_index(drop=True)

    engine = open_engine(
        model_path, options.backend, options.precision, options.batch_size, options.threads, card
    )
    listing = fields[KEYS + path_columns(channels) + ["_index"]].astype(str).to_numpy().tolist()
    fingerprint = {
        "model": {
            "name": card.model_name,
            "format": engine.fmt.name,
            "sha256": card.formats[engine.fmt.name].get("sha256", {}),
        },
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
    todo = fields[~fields["_index"].isin(store.done_indices())]
    workers = options.workers or default_workers()
    if console is not None:
        console.print(
            f"model {card.model_name} ({model_path}), {engine.fmt.name} computing in "
            f"{engine.compute_summary()} ({engine.precision_reason}); batch {engine.batch_size}, "
            f"{engine.jobs} inference requests on {engine.streams} streams ({engine.threads} threads), {workers} "
            f"loader threads; shard {shard.label}; "
            f"{len(fields)} fields, {len(fields) - len(todo)} already scored; intensity normalisation "
            f"{'per plate' if normalizer.per_plate else 'from the model card'}"
        )
    return ScoringRun(
        out=out,
        model_path=model_path,
        card=card,
        options=options,
        shard=shard,
        scans=scans,
        channels=channels,
        treatments=treatments,
        fields=fields,
        problems=problems,
        normalizer=normalizer,
        engine=engine,
        store=store,
        fingerprint=fingerprint,
        todo=todo,
        workers=workers,
        head=load_head(card, model_path) if options.thumbnails and engine.feature_map_output else None,
    )


def run_inference(run: ScoringRun, console: Console | None = None) -> tuple[Collector, float]:
    """Decode, preprocess and infer the fields still to do, writing result parts as they finish.

    Returns the collector (what was scored now, per plate) and the wall time of the loop (s).
    """
    fields, engine, options = run.fields, run.engine, run.options
    done = set(fields["_index"]) - set(run.todo["_index"])
    plate_of = fields.set_index("_index")["plate"].reindex(
        np.arange(fields["_index"].max() + 1 if len(fields) else 0)
    )
    start = time.perf_counter()
    with plate_progress(console) as progress:
        tasks = {}
        if progress is not None:
            for plate, group in fields.groupby("plate", sort=True):
                tasks[plate] = progress.add_task(
                    str(plate), total=len(group), completed=int(group["_index"].isin(done).sum())
                )
        head = run.head
        collector = Collector(
            run.store,
            run.card.class_names,
            options.embeddings,
            options,
            plate_of.to_numpy(),
            progress,
            tasks,
            head,
        )
        chosen = representative_indices(fields) if options.thumbnails else set()
        jobs = (
            FieldJob(int(i), list(p), str(plate), int(i) in chosen)
            for i, plate, *p in run.todo[["_index", "plate", *path_columns(run.channels)]].itertuples(
                index=False
            )
        )
        clock = run.clock
        busy = engine.busy_seconds
        clock.start()
        preparer = FieldPreparer(
            run.card, options.allow_bit_depth_mismatch, run.normalizer, options.thumbnails, clock
        )
        try:
            for batch in iter_batches(
                jobs,
                preparer,
                engine.batch_size,
                engine.input_shape,
                run.workers,
                max_inflight=engine.batch_size * 2 * engine.jobs,
                fail_fast=options.on_error == "fail",
                clock=clock,
            ):
                with clock.stage("writing"):
                    collector.add_skipped(batch)
                if batch.indices:
                    with clock.wait("inference"):
                        # feature maps only of the rows that get an activation map (none without a head)
                        rows = map_rows(batch.qc) if head is not None else []
                        engine.submit(batch.tensor, (batch.indices, batch.qc), rows)
                with clock.stage("writing"):
                    collector.add_results(engine.poll())
        finally:
            # keep every finished result, also when a bad field (--on-error fail) or Ctrl-C stops the run
            with clock.wait("inference"):
                finished = engine.drain()
            with clock.stage("writing"):
                collector.add_results(finished)
                collector.flush()
            clock.stop(collector.scored, engine.busy_seconds - busy)
    return collector, time.perf_counter() - start


def finish_run(
    run: ScoringRun, collector: Collector, seconds: float, console: Console | None = None
) -> ScoreSummary:
    """Assemble the parts into the final tables, write them and ``run.json``; summarise the run."""
    card, engine, fields, options = run.card, run.engine, run.fields, run.options
    stored, thumbs = split_thumbnails(run.store.read_all())
    table = combine(fields, stored, run.problems)
    table = finish_fields(table, run.channels, card.class_names)
    thumbnails = thumbnails_table(table, thumbs)
    table, embedding = split_embeddings(table)
    stages = run.clock.report()
    hint = auto_precision_hint(card, options.backend, options.precision, engine.fmt.precision)
    run_info = {
        "model": _model_summary(engine),
        "plates": [
            {
                "source": str(Path(s.source).resolve()),
                "layout": s.layout,
                "plates": s.plates,
                "channels": s.channels,
                "fields": len(s.fields),
                "problems": len(s.problems),
            }
            for s in run.scans
        ],
        "options": {**options.to_dict(), "metadata": [str(Path(m).resolve()) for m in options.metadata]},
        "shard": run.shard.to_dict(),
        "fingerprint": run.fingerprint["digest"],
        "normalization": run.normalizer.record(fields["plate"].unique()),
        "engine": {**engine.describe(), "loader_threads": run.workers},
        "threads": thread_plan(options, run.workers, engine.streams, engine.threads),
        "cpu": cpu_report(),
        "stages": stages,
        "precision_hint": hint,
        "software": software_versions(),
    }
    counts = write_outputs(run.out, table, card.class_names, run.treatments, embedding, run_info, thumbnails)
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
        console.print(summary_table(plates, f"hcs score -> {run.out}"))
        console.print(stage_table(stages))
        if hint:
            console.print(hint, highlight=False, markup=False)
    return ScoreSummary(
        out_dir=run.out,
        model_dir=run.model_path,
        format=engine.fmt.name,
        counts=counts,
        plates=plates,
        scored_now=collector.scored,
        seconds=seconds,
        fields_per_second=collector.scored / seconds if seconds > 0 else 0.0,
        batch_size=engine.batch_size,
        requests=engine.jobs,
        workers=run.workers,
        shard=run.shard.label,
        run_info=run_info,
    )
