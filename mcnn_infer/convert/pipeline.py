"""Convert plates (any layout :func:`mcnn_infer.plates.scan_plate` reads) to OME-Zarr HCS stores.

``OUT/<plate>.zarr`` per plate, plus ``OUT/convert_problems.csv``: every field that could not be
converted and every problem of the source scans (never silently dropped). A re-run with the
same input and options resumes: fields already complete are skipped, and the output equals
that of an uninterrupted run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console

from mcnn_infer.atomic import write_table
from mcnn_infer.convert.ngff_metadata import DEFAULT_NGFF_VERSION, NGFF_VERSIONS
from mcnn_infer.convert.plate_writer import PlateJob, PlateOutcome, PlateWriter
from mcnn_infer.errors import ConfigError
from mcnn_infer.folder_lock import folder_lock
from mcnn_infer.plates import scan_plate
from mcnn_infer.plates.ome_zarr import OME_ZARR
from mcnn_infer.progress import progress_bar

#: Output formats of ``hcs convert --to``.
TARGETS = (OME_ZARR,)
PROBLEMS_FILE = "convert_problems.csv"
PROBLEM_COLUMNS = ["plate", "well", "site", "timepoint", "plane", "path", "problem"]
MAX_LEVELS = 8


@dataclass
class ConvertSummary:
    """Result of :func:`convert_plates`.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    plates : list of PlateOutcome
        Per plate: store path and counts of field-table rows written, resumed (already complete
        from an earlier run) and failed.
    problems : pandas.DataFrame
        ``plate, well, site, timepoint, plane, path, problem`` (also in ``problems_file``).
    problems_file : Path
    seconds : float
        Wall time of this run.
    """

    out_dir: Path
    plates: list[PlateOutcome]
    problems: pd.DataFrame
    problems_file: Path
    seconds: float

    @property
    def written(self) -> int:
        return sum(p.written for p in self.plates)

    @property
    def resumed(self) -> int:
        return sum(p.resumed for p in self.plates)


def convert_plates(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    to: str = OME_ZARR,
    ngff_version: str = DEFAULT_NGFF_VERSION,
    levels: int = 1,
    layout: str | None = None,
    root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    console: Console | None = None,
    pattern: str | None = None,
) -> ConvertSummary:
    """Convert every plate found in ``paths`` to ``out_dir/<plate>.zarr``.

    Parameters
    ----------
    paths : sequence of path
        Plate folders, OME-Zarr plates or manifest CSVs (several plates each are fine).
    out_dir : path
        Folder receiving one ``<plate>.zarr`` per plate and ``convert_problems.csv``.
    to : str
        Output format (:data:`TARGETS`).
    ngff_version : str
        ``0.4`` (Zarr v2) or ``0.5`` (Zarr v3).
    levels : int
        Resolution levels per image: 1 = full resolution only; each further level halves y, x.
    layout, root, pattern : optional
        As for :func:`mcnn_infer.plates.scan_plate` (``pattern``: a file-name regex for an
        instrument without a layout).
    overwrite : bool
        Replace a store ``hcs convert`` wrote from other input or options (stores it did not
        write are never touched).
    console : rich.console.Console, optional
        Where the progress bar goes (None: no progress bar).

    Raises
    ------
    ConfigError
        Unknown format, version or level count; ``out_dir`` is a file or a ``.zarr`` store;
        two plates share a name; an existing store that this converter did not write (or
        wrote from other input, without ``overwrite``).
    FolderLockedError
        Another process writes into ``out_dir`` (refused before anything is read or written).
    PlateError, LayoutError
        From scanning the inputs.
    """
    start = time.perf_counter()
    if to not in TARGETS:
        raise ConfigError(f"--to {to!r} is not a known output format (expected one of {', '.join(TARGETS)})")
    if ngff_version not in NGFF_VERSIONS:
        raise ConfigError(
            f"NGFF version {ngff_version!r} is not supported (expected one of {', '.join(NGFF_VERSIONS)})"
        )
    if not 1 <= int(levels) <= MAX_LEVELS:
        raise ConfigError(f"--levels {levels} is out of range (expected 1 to {MAX_LEVELS})")
    out = Path(os.path.abspath(out_dir))
    _check_out(out)
    with folder_lock(out):
        return _convert(paths, out, ngff_version, levels, layout, root, overwrite, console, pattern, start)


def _convert(paths, out: Path, ngff_version, levels, layout, root, overwrite, console, pattern, start):
    jobs, source_problems = _jobs(paths, out, layout, root, pattern)
    writer = PlateWriter(ngff_version, int(levels), overwrite)
    outcomes: list[PlateOutcome] = []
    with progress_bar("fields", console=console, enabled=console is not None) as bar:
        task = bar.add_task("convert to OME-Zarr", total=sum(len(j.fields) for j in jobs))
        for job in jobs:
            bar.update(task, description=f"convert {job.name}")
            outcomes.append(writer.write(job, lambda n: bar.advance(task, n)))
    rows = source_problems + [p for o in outcomes for p in o.problems]
    problems = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    problems_file = out / PROBLEMS_FILE
    write_table(problems, problems_file)
    return ConvertSummary(out, outcomes, problems, problems_file, time.perf_counter() - start)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} is a file (expected a folder to receive one <plate>.zarr per plate)")
    if out.name.lower().endswith(".zarr"):
        raise ConfigError(
            f"output {out} is named like a Zarr store (expected a folder that receives one <plate>.zarr per "
            "plate, e.g. converted/)"
        )


def _jobs(paths, out: Path, layout, root, pattern=None) -> tuple[list[PlateJob], list[dict]]:
    jobs: list[PlateJob] = []
    problems: list[dict] = []
    seen: dict[str, Path] = {}
    for path in paths:
        scan = scan_plate(path, layout=layout, root=root, pattern=pattern)
        for row in scan.problems.itertuples(index=False):
            problems.append(
                {
                    "plate": row.plate,
                    "well": row.well,
                    "site": row.site,
                    "timepoint": 0,
                    "plane": 0,
                    "path": row.path,
                    "problem": f"source scan: {row.problem}",
                }
            )
        for plate in scan.plates:
            if plate in seen:
                raise ConfigError(
                    f"plate name {plate!r} occurs in {seen[plate]} and {scan.source} (expected distinct plate "
                    "names: each becomes <plate>.zarr)"
                )
            if plate in ("", ".", "..") or "/" in plate or os.sep in plate:
                raise ConfigError(
                    f"plate name {plate!r} of {scan.source} cannot name a folder (expected a plain name)"
                )
            seen[plate] = scan.source
            fields = scan.fields[scan.fields["plate"] == plate].reset_index(drop=True)
            jobs.append(PlateJob(plate, list(scan.channels), fields, out / f"{plate}.zarr"))
    return jobs, problems
