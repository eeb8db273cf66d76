"""``hcs merge``: combine the outputs of sharded ``hcs score`` runs into one results folder.

The merged tables equal those of one unsharded run: fields are concatenated and put in
canonical order, ``qc_blurry`` is recomputed over whole plates, and wells and treatments are
aggregated again from the fields.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mcnn_infer.errors import ConfigError
from mcnn_infer.folder_lock import folder_lock
from mcnn_infer.results import (
    EMBEDDINGS_FILE,
    FIELDS,
    KEYS,
    RUN_FILE,
    THUMBNAILS_FILE,
    WELLS,
    canonical_order,
    read_run,
    stored_channels,
)
from mcnn_infer.scoring.assemble import finish_fields, treatment_frame, write_outputs
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.thumbnails import finish_thumbnails

SHARD_RUN = "a finished `hcs score --shard i/n` run; re-run that shard to finish it"


def _expand_shard_folders(folders: list[Path]) -> list[Path]:
    """Replace a RESULTS_DIR shared by the ranks of mpirun/horovodrun by its ``shard-*`` folders."""
    out: list[Path] = []
    for folder in folders:
        inner = sorted(folder.glob("shard-*-of-*")) if not (folder / RUN_FILE).exists() else []
        out.extend(inner or [folder])
    return out


def merge_results(
    shard_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], allow_missing: bool = False
) -> dict[str, int]:
    """Merge shard results folders into ``out_dir``.

    Parameters
    ----------
    shard_dirs : sequence of path
        RESULTS_DIRs of ``hcs score --shard i/n`` runs of one plate set with one model.
    out_dir : path
        Where the merged ``fields``, ``wells``, ``treatments``, ``embeddings`` and ``run.json`` go.
    allow_missing : bool
        Merge even if some shards of ``n`` are absent (their wells are then missing).

    Returns
    -------
    dict
        Row counts of the merged tables, and ``shards``: the number of shard folders merged.

    Raises
    ------
    ConfigError
        A folder is not a finished run, runs used different models or options, a shard is
        given twice or missing, or a field occurs in two shards.
    FolderLockedError
        Another process writes into ``out_dir`` (refused before any shard is read).
    """
    with folder_lock(out_dir):
        return _merge(shard_dirs, out_dir, allow_missing)


def _merge(shard_dirs, out_dir, allow_missing: bool) -> dict[str, int]:
    folders = _expand_shard_folders([Path(d) for d in shard_dirs])
    if not folders:
        raise ConfigError("no shard results folder given (expected RESULTS_DIRs of `hcs score --shard i/n`)")
    records = [read_run(f, SHARD_RUN) for f in folders]
    runs = [record.data for record in records]
    first = runs[0]
    for folder, run in zip(folders[1:], records[1:], strict=True):
        for key in ("model", "plates"):
            if run.data.get(key) != first.get(key):
                raise ConfigError(
                    f"{folder} was scored with a different {key} than {folders[0]} (expected shards of one run)"
                )
        a = ScoreOptions.same_results(run.options)
        b = ScoreOptions.same_results(records[0].options)
        if a != b:
            changed = sorted(k for k in a if a[k] != b.get(k))
            raise ConfigError(f"{folder} used other options than {folders[0]} ({', '.join(changed)})")
    counts = {run["shard"]["count"] for run in runs}
    if len(counts) != 1:
        raise ConfigError(f"the folders come from different shard counts {sorted(counts)} (expected one n)")
    n = counts.pop()
    indices = [run["shard"]["index"] for run in runs]
    dupes = sorted({i for i in indices if indices.count(i) > 1})
    if dupes:
        raise ConfigError(f"shard {dupes[0]}/{n} is given twice (expected each shard once)")
    missing = sorted(set(range(n)) - set(indices))
    if missing and not allow_missing:
        raise ConfigError(
            f"shards {', '.join(f'{i}/{n}' for i in missing)} are missing (pass their results folders, "
            "or --allow-missing to merge a partial set)"
        )
    model = first["model"]
    class_names = model["class_names"]
    fields = pd.concat([pd.read_parquet(f / f"{FIELDS}.parquet") for f in folders], ignore_index=True)
    scored = fields[fields["timepoint"] > 0]
    dup = scored.duplicated(KEYS)
    if dup.any():
        row = scored[dup].iloc[0]
        raise ConfigError(
            f"field plate {row['plate']} well {row['well']} site {row['site']} occurs in two shard folders "
            "(expected disjoint shards)"
        )
    channels = stored_channels(fields)
    fields = finish_fields(fields, channels, class_names)
    wells = [pd.read_parquet(f / f"{WELLS}.parquet") for f in folders]
    treatments = None
    if all(treatment_frame(w) is not None for w in wells):
        treatments = pd.concat([treatment_frame(w) for w in wells], ignore_index=True)
    embeddings = None
    if all((f / EMBEDDINGS_FILE).is_file() for f in folders) and first["options"].get("embeddings"):
        emb = pd.concat([pd.read_parquet(f / EMBEDDINGS_FILE) for f in folders], ignore_index=True)
        embeddings = canonical_order(emb.assign(reason="")).drop(columns="reason")
    thumbnails = None
    present = [f / THUMBNAILS_FILE for f in folders if (f / THUMBNAILS_FILE).is_file()]
    if present:
        # each shard kept its own wells' thumbnails (wells are never split): concatenate, canonical order
        thumbs = pd.concat([pd.read_parquet(p) for p in present], ignore_index=True)
        thumbnails = finish_thumbnails(canonical_order(thumbs.assign(reason="")).drop(columns="reason"))
    run_info = {
        **{k: v for k, v in first.items() if k not in ("counts", "shard", "fingerprint", "engine", "cpu")},
        "merged_from": [
            {
                "dir": str(f.resolve()),
                "shard": run["shard"],
                "fingerprint": run.get("fingerprint"),
                "counts": run.get("counts"),
                "engine": run.get("engine"),
                "cpu": run.get("cpu"),
            }
            for f, run in zip(folders, runs, strict=True)
        ],
        "shard": {"index": 0, "count": 1, "source": "merge", "merged_shards": sorted(indices), "of": n},
    }
    counts = write_outputs(Path(out_dir), fields, class_names, treatments, embeddings, run_info, thumbnails)
    return {**counts, "shards": len(folders)}
