"""Render a design to disk: 16-bit TIFFs in the BBBC021 folder layout, BBBC021 CSVs and the truth tables.

Output folder ``OUT``::

    OUT/Week1/Week1_22123/Week1_150607_B02_s1_w1<GUID>.tif   (w1 DAPI, w2 Tubulin, w4 Actin; uint16)
    OUT/BBBC021_v1_image.csv      real schema, one row per generated field
    OUT/BBBC021_v1_moa.csv        compound, concentration, moa
    OUT/truth_compounds.csv       compound, moa, ec50_uM, hill_slope, arrest_style, delta_<param>...
    OUT/truth_fields.csv          plate, well, site, compound, concentration, moa, role, replicate,
                                  strength, out_of_focus, nearly_empty, file_w1, file_w2, file_w4
    OUT/skipped_fields.csv        fields of the source design not rendered, with the reason
    OUT/platemap.csv              (simple designs) plate, well, compound, concentration, role, label
    OUT/synth.json                options, counts and timing of the run

Every file is written atomically (temporary file in the same folder, then ``os.replace``).
Fields are rendered in parallel worker processes; each field's randomness depends only on
the seed, plate, well and site, so the output does not depend on ``workers``.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from mcnn_infer import __version__
from mcnn_infer.atomic import atomic_path, write_json, write_table
from mcnn_infer.errors import ConfigError
from mcnn_infer.progress import progress_bar
from mcnn_infer.synth.batch import batch_effect, field_acquisition, field_rng, name_key
from mcnn_infer.synth.design import IMAGE_COLUMNS, SynthDesign
from mcnn_infer.synth.phenotypes import field_params
from mcnn_infer.synth.render import CHANNELS, Acquisition, render_field

STRENGTH_NOISE_SD = 0.03
_CHUNK = 4
MIN_SIZE = 16
MAX_SIZE = 8192

#: Field size (height, width) in pixels unless given: the BBBC021 field of view at full resolution.
FIELD_SIZE = (1024, 1280)


@dataclass(frozen=True)
class FieldTask:
    """Everything a worker needs to render and write one field."""

    paths: tuple[str, str, str]
    params: dict[str, float]
    arrest_style: str
    size: tuple[int, int]
    seed: tuple[int, ...]
    acquisition: Acquisition


@dataclass
class SynthResult:
    """Outcome of :func:`generate`.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    design : SynthDesign
        The rendered design.
    truth_fields : pandas.DataFrame
        Contents of ``truth_fields.csv`` (one row per written field).
    seconds : float
        Wall-clock time of rendering and writing.
    files : dict[str, Path]
        The tables written (``image_csv``, ``moa_csv``, ``truth_compounds``, ``truth_fields``,
        ``skipped``, ``platemap`` when present, ``run``).
    preview : Path or None
        The contact sheet, when one was made.
    """

    out_dir: Path
    design: SynthDesign
    truth_fields: pd.DataFrame
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
    preview: Path | None = None

    @property
    def n_fields(self) -> int:
        """Number of fields written."""
        return len(self.truth_fields)

    @property
    def fields_per_second(self) -> float:
        """Generation rate."""
        return self.n_fields / self.seconds if self.seconds > 0 else float("inf")


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate an image size (height, width) in pixels."""
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"image size {size!r} is not two integers (expected (height, width), e.g. (256, 320))"
        ) from exc
    if not (MIN_SIZE <= height <= MAX_SIZE and MIN_SIZE <= width <= MAX_SIZE):
        raise ConfigError(
            f"image size {height}x{width} is out of range (expected {MIN_SIZE}..{MAX_SIZE} per side)"
        )
    return height, width


def field_truth(
    design: SynthDesign, seed: int
) -> tuple[pd.DataFrame, list[tuple[dict[str, float], Acquisition]]]:
    """Per-field truth (strength, defects) and render inputs, in the order of ``design.fields``."""
    rows = []
    inputs = []
    batches: dict[str, object] = {}
    for rec in design.fields.itertuples(index=False):
        compound = design.compounds[rec.compound]
        rng = field_rng(seed, rec.plate, rec.well, rec.site)
        strength = float(compound.strength(rec.concentration))
        if compound.delta:
            strength = float(np.clip(strength + rng.normal(0.0, STRENGTH_NOISE_SD), 0.0, 1.0))
        if rec.plate not in batches:
            batches[rec.plate] = batch_effect(seed, rec.week, rec.plate)
        batch = batches[rec.plate]
        acquisition = field_acquisition(batch, rng)
        params = field_params(compound, strength)
        params["density"] *= batch.density
        inputs.append((params, acquisition))
        rows.append(
            {
                "plate": rec.plate,
                "well": rec.well,
                "site": rec.site,
                "compound": rec.compound,
                "concentration": rec.concentration,
                "moa": rec.moa,
                "role": rec.role,
                "replicate": rec.replicate,
                "strength": strength,
                "out_of_focus": acquisition.out_of_focus,
                "nearly_empty": acquisition.nearly_empty,
                **{f"file_{ch}": f"{rec.path_name}/{getattr(rec, f'file_{ch}')}" for ch in CHANNELS},
            }
        )
    return pd.DataFrame(rows), inputs


def render_task(task: FieldTask) -> np.ndarray:
    """Render the (3, H, W) uint16 image of a task."""
    rng = np.random.default_rng(list(task.seed))
    return render_field(task.params, task.arrest_style, task.size, rng, task.acquisition)


def _write_tasks(tasks: list[FieldTask]) -> int:
    for task in tasks:
        image = render_task(task)
        for channel, path in zip(image, task.paths, strict=True):
            with atomic_path(path) as tmp:
                tifffile.imwrite(tmp, channel, photometric="minisblack")
    return len(tasks)


def generate(
    out_dir: str | os.PathLike[str],
    design: SynthDesign,
    size: tuple[int, int] = FIELD_SIZE,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> SynthResult:
    """Render every field of ``design`` into ``out_dir`` and write the CSVs and truth tables.

    Parameters
    ----------
    out_dir : path
        Output folder (created if needed).
    design : SynthDesign
        From :func:`~mcnn_infer.synth.design.bbbc021_design` or
        :func:`~mcnn_infer.synth.design.simple_design`.
    size : (int, int)
        Image height and width in pixels (BBBC021: 1024x1280).
    seed : int
        Seed of every field's randomness; the same seed gives identical files.
    workers : int
        Worker processes (1 renders in this process).
    progress : bool
        Show a progress bar with rate and ETA.
    overwrite : bool
        Allow writing into a folder that already holds a synthetic screen.

    Raises
    ------
    ConfigError
        For a bad size or worker count, an empty design, or an existing screen without ``overwrite``.
    """
    height, width = check_size(size)
    if int(workers) < 1:
        raise ConfigError(f"workers={workers} is not valid (expected an integer >= 1)")
    if design.fields.empty:
        raise ConfigError("the design has no fields to render (check the plate, well and site selection)")
    out = Path(out_dir)
    if (out / "truth_fields.csv").exists() and not overwrite:
        raise ConfigError(
            f"{out} already holds a synthetic screen (truth_fields.csv); pass overwrite to replace it"
        )
    out.mkdir(parents=True, exist_ok=True)

    truth, inputs = field_truth(design, seed)
    tasks = []
    for rec, (params, acquisition) in zip(design.fields.itertuples(index=False), inputs, strict=True):
        folder = out / rec.path_name
        folder.mkdir(parents=True, exist_ok=True)
        tasks.append(
            FieldTask(
                paths=tuple(str(folder / getattr(rec, f"file_{ch}")) for ch in CHANNELS),
                params=params,
                arrest_style=design.compounds[rec.compound].arrest_style,
                size=(height, width),
                seed=(seed, 4, name_key(rec.plate), name_key(rec.well), int(rec.site)),
                acquisition=acquisition,
            )
        )
    chunks = [tasks[i : i + _CHUNK] for i in range(0, len(tasks), _CHUNK)]
    start = time.perf_counter()
    with progress_bar("fields", enabled=progress) as bar:
        job = bar.add_task("synth fields", total=len(tasks))
        if workers == 1:
            for chunk in chunks:
                bar.advance(job, _write_tasks(chunk))
        else:
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(max_workers=int(workers), mp_context=context) as pool:
                futures = [pool.submit(_write_tasks, chunk) for chunk in chunks]
                for future in as_completed(futures):
                    bar.advance(job, future.result())
    seconds = time.perf_counter() - start

    files = write_tables(out, design, truth)
    run = {
        "hcs_version": __version__,
        "kind": design.kind,
        "size": [height, width],
        "seed": seed,
        "workers": int(workers),
        "n_fields": len(truth),
        "n_skipped": len(design.skipped),
        "n_plates": int(truth["plate"].nunique()),
        "seconds": round(seconds, 3),
        "fields_per_second": round(len(truth) / seconds, 3) if seconds > 0 else None,
        "channels": {"w1": "DAPI", "w2": "Tubulin", "w4": "Actin"},
    }
    write_json(out / "synth.json", run)
    files["run"] = out / "synth.json"
    return SynthResult(out_dir=out, design=design, truth_fields=truth, seconds=seconds, files=files)


def bbbc021_image_table(design: SynthDesign) -> pd.DataFrame:
    """The ``BBBC021_v1_image.csv`` rows of the design's fields (real schema and order of columns)."""
    f = design.fields
    table = pd.DataFrame(
        {
            "TableNumber": f["table_number"],
            "ImageNumber": f["image_number"],
            "Image_FileName_DAPI": f["file_w1"],
            "Image_PathName_DAPI": f["path_name"],
            "Image_FileName_Tubulin": f["file_w2"],
            "Image_PathName_Tubulin": f["path_name"],
            "Image_FileName_Actin": f["file_w4"],
            "Image_PathName_Actin": f["path_name"],
            "Image_Metadata_Plate_DAPI": f["plate"],
            "Image_Metadata_Well_DAPI": f["well"],
            "Replicate": f["replicate"],
            "Image_Metadata_Compound": f["compound"],
            "Image_Metadata_Concentration": f["concentration"],
        }
    )
    return table[list(IMAGE_COLUMNS)]


def write_tables(out: Path, design: SynthDesign, truth: pd.DataFrame) -> dict[str, Path]:
    """Write the BBBC021 CSVs, truth tables, skipped fields and plate map; return their paths."""
    files = {
        "image_csv": out / "BBBC021_v1_image.csv",
        "moa_csv": out / "BBBC021_v1_moa.csv",
        "truth_compounds": out / "truth_compounds.csv",
        "truth_fields": out / "truth_fields.csv",
        "skipped": out / "skipped_fields.csv",
    }
    write_table(bbbc021_image_table(design), files["image_csv"])
    with atomic_path(files["moa_csv"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        # Real layout: quoted strings, concentrations unquoted with 6 decimals.
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(["compound", "concentration", "moa"])
        for rec in design.moa_table.itertuples(index=False):
            writer.writerow([str(rec.compound), _SixDecimals(rec.concentration), str(rec.moa)])
    used = set(design.fields["compound"])
    compounds = pd.DataFrame([c.to_row() for name, c in design.compounds.items() if name in used])
    write_table(compounds, files["truth_compounds"])
    write_table(truth, files["truth_fields"])
    write_table(design.skipped, files["skipped"])
    if design.platemap is not None:
        files["platemap"] = out / "platemap.csv"
        write_table(design.platemap, files["platemap"])
    return files


class _SixDecimals(float):
    """A float that the csv module writes unquoted with 6 decimals (``3.000000``)."""

    def __repr__(self) -> str:
        return f"{float(self):.6f}"

    __str__ = __repr__
