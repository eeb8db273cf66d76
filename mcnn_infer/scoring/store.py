"""Incremental, atomic, resumable result parts in ``RESULTS_DIR/.parts``.

Each part is a Parquet file of scored (or skipped) fields named after its lowest field
index, written atomically; ``fingerprint.json`` records what the parts were computed from
(model checksums, result-affecting options, shard, the field list). A re-run with the same
fingerprint scores only fields that no part holds; a different fingerprint is refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from mcnn_infer.atomic import write_json, write_table
from mcnn_infer.errors import ConfigError
from mcnn_infer.results import EMBEDDINGS_FILE, RUN_FILE, TABLES, THUMBNAILS_FILE

PARTS_DIR = ".parts"
FINGERPRINT_FILE = "fingerprint.json"
#: Final outputs a scoring run writes (removed by --overwrite).


def digest(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class PartStore:
    """Result parts of one output folder.

    Parameters
    ----------
    out_dir : path
        The run's RESULTS_DIR.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.parts_dir = self.out_dir / PARTS_DIR

    def open(self, fingerprint: dict[str, Any], overwrite: bool = False) -> None:
        """Start or resume: check (or write) the fingerprint.

        Raises
        ------
        ConfigError
            If earlier results in the folder were computed from another model, options,
            shard or field list and ``overwrite`` is False.
        """
        if overwrite:
            self.clear()
        file = self.parts_dir / FINGERPRINT_FILE
        if file.is_file():
            old = json.loads(file.read_text(encoding="utf-8"))
            if old.get("digest") != fingerprint["digest"]:
                changed = _changes(old, fingerprint)
                raise ConfigError(
                    f"results folder {self.out_dir} holds results of a different run (changed: "
                    f"{', '.join(changed) or 'unknown'}); pass a new --out or --overwrite to discard them"
                )
            return
        if self.out_dir.is_dir() and not self.parts_dir.is_dir() and (self.out_dir / RUN_FILE).is_file():
            raise ConfigError(
                f"results folder {self.out_dir} holds finished results without resume data; "
                "pass a new --out or --overwrite to replace them"
            )
        write_json(file, fingerprint)

    def clear(self) -> None:
        """Delete parts and final outputs of an earlier run (``--overwrite``)."""
        if self.parts_dir.is_dir():
            shutil.rmtree(self.parts_dir)
        for name in TABLES:
            for suffix in (".parquet", ".csv"):
                (self.out_dir / f"{name}{suffix}").unlink(missing_ok=True)
        for name in (EMBEDDINGS_FILE, THUMBNAILS_FILE, RUN_FILE):
            (self.out_dir / name).unlink(missing_ok=True)

    def part_files(self) -> list[Path]:
        if not self.parts_dir.is_dir():
            return []
        return sorted(self.parts_dir.glob("part-*.parquet"))

    def done_indices(self) -> set[int]:
        """Global indices of the fields already stored."""
        done: set[int] = set()
        for file in self.part_files():
            done.update(pq.read_table(file, columns=["_index"]).column("_index").to_pylist())
        return done

    def write_part(self, rows: pd.DataFrame) -> Path:
        """Write rows (with ``_index``) as one part, atomically."""
        first = int(rows["_index"].min())
        path = self.parts_dir / f"part-{first:09d}.parquet"
        if path.exists():
            raise ConfigError(f"result part {path} already exists (two runs writing into {self.out_dir}?)")
        write_table(rows.reset_index(drop=True), path)
        return path

    def read_all(self) -> pd.DataFrame:
        """All stored rows, sorted by ``_index``; raises ConfigError on a field stored twice."""
        files = self.part_files()
        if not files:
            return pd.DataFrame({"_index": pd.Series(dtype="int64")})
        table = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        dupes = table["_index"][table["_index"].duplicated()]
        if not dupes.empty:
            raise ConfigError(
                f"result parts in {self.parts_dir} hold field {int(dupes.iloc[0])} twice "
                "(two runs wrote into the same folder?); re-run with --overwrite"
            )
        return table.sort_values("_index", kind="stable").reset_index(drop=True)


def _changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``key (old -> new)`` for every differing leaf of two fingerprints."""
    out = []
    for key in sorted(set(old) | set(new)):
        if key == "digest":
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            show = key not in ("fields", "sha256")
            out.append(f"{prefix}{key} ({a!r} -> {b!r})" if show else f"{prefix}{key}")
    return out
