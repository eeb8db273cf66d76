"""Synthetic BBBC021-like plates with known ground truth.

Typical use::

    from mcnn_infer.synth import generate, simple_design
    result = generate(tmp_path, simple_design(plates=1, compounds_per_moa=1, concentrations=2),
                      size=(64, 80), progress=False)

:func:`synthesize` is what ``hcs synth`` calls: it builds the design from counts or from
the real BBBC021 tables, renders it and optionally writes a contact sheet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mcnn_infer.errors import ConfigError
from mcnn_infer.synth import design as defaults
from mcnn_infer.synth.design import SynthDesign, bbbc021_design, simple_design
from mcnn_infer.synth.phenotypes import DMSO, MOAS, CompoundTruth, hill
from mcnn_infer.synth.preview import contact_sheet
from mcnn_infer.synth.render import CHANNEL_NAMES, CHANNELS, Acquisition, render_field
from mcnn_infer.synth.writer import FIELD_SIZE, SynthResult, generate

__all__ = [
    "CHANNELS",
    "CHANNEL_NAMES",
    "DMSO",
    "MOAS",
    "Acquisition",
    "CompoundTruth",
    "SynthDesign",
    "SynthResult",
    "bbbc021_design",
    "contact_sheet",
    "generate",
    "hill",
    "render_field",
    "simple_design",
    "synthesize",
]


def synthesize(
    out_dir: str | os.PathLike[str],
    *,
    like: str = "simple",
    plates: int | None = None,
    plate_names: Sequence[str] = (),
    wells: Sequence[str] | None = None,
    sites: int | None = None,
    size: tuple[int, int] = FIELD_SIZE,
    seed: int = 0,
    workers: int = 1,
    compounds_per_moa: int = defaults.COMPOUNDS_PER_MOA,
    concentrations: int = defaults.CONCENTRATIONS,
    replicates: int = defaults.REPLICATES,
    controls: int = defaults.CONTROLS,
    positive_controls: int = defaults.POSITIVE_CONTROLS,
    control_layout: str = defaults.CONTROL_LAYOUTS[0],
    moas: Sequence[str] | None = None,
    plate_format: int = defaults.PLATE_FORMAT,
    unannotated: str = "skip",
    metadata_dir: str | os.PathLike[str] | None = None,
    preview: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> SynthResult:
    """Build a design, render it into ``out_dir`` and optionally write ``preview.png``.

    Parameters
    ----------
    like : {"simple", "bbbc021"}
        ``bbbc021`` reproduces the real design (``plates``/``plate_names``, ``wells``, ``sites``
        select a subset; ``unannotated`` and ``metadata_dir`` as in :func:`bbbc021_design`);
        ``simple`` builds a dose-response screen from the counts (see :func:`simple_design`).
    size : (int, int)
        Image height and width in pixels.

    Other parameters are passed to the design functions and :func:`generate`; the defaults of a
    simple screen are those of :mod:`mcnn_infer.synth.design`.

    Raises
    ------
    ConfigError
        For options that do not fit the chosen mode.
    """
    if like == "bbbc021":
        if plates is not None and plate_names:
            raise ConfigError("give either a plate count or plate names, not both")
        design = bbbc021_design(
            plates=list(plate_names) if plate_names else plates,
            wells=wells,
            sites=sites,
            seed=seed,
            unannotated=unannotated,
            metadata_dir=metadata_dir,
        )
    elif like == "simple":
        if plate_names or wells:
            raise ConfigError(
                "plate names and wells select from the real design: use them with like='bbbc021'"
            )
        design = simple_design(
            plates=plates,
            compounds_per_moa=compounds_per_moa,
            concentrations=concentrations,
            replicates=replicates,
            sites=sites or defaults.SITES,
            controls=controls,
            positive_controls=positive_controls,
            control_layout=control_layout,
            moas=moas,
            plate_format=plate_format,
            seed=seed,
        )
    else:
        raise ConfigError(f"like={like!r} is not valid (expected 'bbbc021' or 'simple')")
    result = generate(
        out_dir, design, size=size, seed=seed, workers=workers, progress=progress, overwrite=overwrite
    )
    if preview:
        result.preview = contact_sheet(Path(out_dir))
    return result
