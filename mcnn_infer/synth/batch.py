"""Batch effects (per week and per plate) and rare field defects, drawn deterministically from the seed.

Each week and each plate shifts the stain intensity (gain) and background of every
channel and the cell density; the two effects multiply. Each field is occasionally out
of focus or nearly empty.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from mcnn_infer.synth.render import Acquisition

P_OUT_OF_FOCUS = 0.02
P_NEARLY_EMPTY = 0.01


@dataclass(frozen=True)
class BatchEffect:
    """Multipliers shared by all fields of a plate.

    Attributes
    ----------
    gain, background : tuple of 3 float
        Per-channel (DAPI, Tubulin, Actin) multipliers of the stained signal and the background.
    density : float
        Multiplier of the number of cells per field.
    vignetting : float
        Relative illumination loss at the corners.
    """

    gain: tuple[float, float, float]
    background: tuple[float, float, float]
    density: float
    vignetting: float


def name_key(name: str) -> int:
    """A stable 32-bit integer for a string (for seeding)."""
    return zlib.crc32(name.encode("utf-8"))


def batch_effect(seed: int, week: str, plate: str) -> BatchEffect:
    """Batch effect of ``plate`` (in ``week``): week effect times plate effect."""
    week_rng = np.random.default_rng([seed, 1, name_key(week)])
    plate_rng = np.random.default_rng([seed, 2, name_key(plate)])
    gain = np.exp(week_rng.normal(0, 0.10, 3) + plate_rng.normal(0, 0.06, 3))
    background = np.exp(week_rng.normal(0, 0.12, 3) + plate_rng.normal(0, 0.06, 3))
    density = float(np.exp(week_rng.normal(0, 0.08) + plate_rng.normal(0, 0.05)))
    vignetting = float(np.clip(0.2 + week_rng.normal(0, 0.05) + plate_rng.normal(0, 0.02), 0.0, 0.6))
    return BatchEffect(tuple(map(float, gain)), tuple(map(float, background)), density, vignetting)


def field_rng(seed: int, plate: str, well: str, site: int) -> np.random.Generator:
    """The random generator of one field (independent of generation order and worker)."""
    return np.random.default_rng([seed, 3, name_key(plate), name_key(well), int(site)])


def field_acquisition(batch: BatchEffect, rng: np.random.Generator) -> Acquisition:
    """Acquisition of one field: the plate's batch effect plus rare defocus or emptiness."""
    return Acquisition(
        gain=batch.gain,
        background=batch.background,
        vignetting=batch.vignetting,
        out_of_focus=bool(rng.random() < P_OUT_OF_FOCUS),
        nearly_empty=bool(rng.random() < P_NEARLY_EMPTY),
    )
