"""Morphological phenotypes of DMSO and the 12 BBBC021 mechanisms of action (MoAs).

A phenotype is a set of named field parameters (cell density, size, shape, nucleus and
cytoskeleton properties, channel brightness). DMSO has :data:`DMSO_PARAMS`; each MoA adds
a change :data:`MOA_DELTAS` to them. Each compound gets its own *variant* of its MoA's
change (every component rescaled, plus small off-target changes), its own potency
(EC50, µM) and Hill slope. A field treated at concentration ``c`` has phenotype strength
``s = hill(c; EC50, slope)`` in [0, 1] and parameters ``DMSO + s * variant_delta``, so low
concentrations look like DMSO.

Some MoAs are deliberately subtle (Cholesterol-lowering, Kinase inhibitors) and some
share features (Microtubule destabilizers, Eg5 and Aurora kinase inhibitors all arrest
cells in mitosis), as in the real BBBC021 data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mcnn_infer.errors import ConfigError

DMSO = "DMSO"

#: The 12 BBBC021 MoA labels, spelled as in ``BBBC021_v1_moa.csv``.
MOAS: tuple[str, ...] = (
    "Actin disruptors",
    "Aurora kinase inhibitors",
    "Cholesterol-lowering",
    "DNA damage",
    "DNA replication",
    "Eg5 inhibitors",
    "Epithelial",
    "Kinase inhibitors",
    "Microtubule destabilizers",
    "Microtubule stabilizers",
    "Protein degradation",
    "Protein synthesis",
)

#: Short codes used for compound names in simple designs.
MOA_CODES: dict[str, str] = {
    "Actin disruptors": "ACT",
    "Aurora kinase inhibitors": "AUR",
    "Cholesterol-lowering": "CHL",
    "DNA damage": "DDA",
    "DNA replication": "DRE",
    "Eg5 inhibitors": "EG5",
    "Epithelial": "EPI",
    "Kinase inhibitors": "KIN",
    "Microtubule destabilizers": "MTD",
    "Microtubule stabilizers": "MTS",
    "Protein degradation": "PDG",
    "Protein synthesis": "PSY",
}

#: Field parameters of untreated (DMSO) cells. Scales are relative to a DMSO field
#: (``density`` 1 = about 200 cells per 1024x1280 field, ``cell_scale`` 1 = 30 px radius at
#: 1024x1280); fractions are per cell; ``bright_*`` multiply a channel's signal.
DMSO_PARAMS: dict[str, float] = {
    "density": 1.0,  # cells per field, relative
    "cluster": 0.25,  # fraction of cells in clusters (islands)
    "cell_scale": 1.0,  # cell radius, relative
    "aspect": 1.5,  # mean cell elongation (major / minor axis)
    "irregularity": 0.15,  # amplitude of boundary harmonics
    "nuc_ratio": 0.5,  # nucleus radius / cell radius
    "nuc_bright": 1.0,  # DAPI brightness of interphase nuclei
    "chromatin": 0.3,  # amplitude of chromatin texture
    "mitotic": 0.03,  # fraction of normal (bipolar) mitoses
    "arrest": 0.0,  # fraction of cells arrested in the MoA's mitotic style
    "multinuc": 0.02,  # fraction of multinucleate cells
    "micronuclei": 0.03,  # fraction of cells with micronuclei
    "tub_fil": 1.0,  # microtubule filament density
    "tub_bundle": 0.0,  # thick microtubule bundles per cell
    "tub_diffuse": 1.0,  # diffuse (unpolymerised) tubulin
    "act_fibers": 1.0,  # stress fibre density
    "act_cortex": 1.0,  # cortical actin at the cell edge
    "act_puncta": 0.0,  # actin aggregates per cell
    "act_diffuse": 1.0,  # diffuse actin
    "bright_dapi": 1.0,
    "bright_tub": 1.0,
    "bright_act": 1.0,
}

PARAM_NAMES: tuple[str, ...] = tuple(DMSO_PARAMS)

# (low, high) bounds applied after interpolation.
_BOUNDS: dict[str, tuple[float, float]] = {
    "density": (0.05, 3.0),
    "cluster": (0.0, 0.95),
    "cell_scale": (0.3, 2.5),
    "aspect": (1.0, 4.0),
    "irregularity": (0.0, 0.5),
    "nuc_ratio": (0.2, 0.9),
    "nuc_bright": (0.2, 3.0),
    "chromatin": (0.0, 1.0),
    "mitotic": (0.0, 0.9),
    "arrest": (0.0, 0.9),
    "multinuc": (0.0, 0.9),
    "micronuclei": (0.0, 0.9),
}

#: Change of each MoA at full strength, added to :data:`DMSO_PARAMS`.
MOA_DELTAS: dict[str, dict[str, float]] = {
    "Actin disruptors": {
        "act_fibers": -0.9,
        "act_puncta": 1.4,
        "act_cortex": -0.5,
        "cell_scale": -0.12,
        "aspect": -0.3,
    },
    "Aurora kinase inhibitors": {
        "multinuc": 0.4,
        "nuc_ratio": 0.1,
        "cell_scale": 0.35,
        "density": -0.4,
        "arrest": 0.08,
        "chromatin": 0.1,
    },
    "Cholesterol-lowering": {
        "cell_scale": 0.07,
        "tub_diffuse": 0.15,
        "act_diffuse": -0.1,
        "density": -0.1,
        "act_fibers": -0.15,
    },
    "DNA damage": {
        "nuc_ratio": 0.1,
        "micronuclei": 0.35,
        "density": -0.35,
        "cell_scale": 0.22,
        "chromatin": 0.2,
        "nuc_bright": 0.1,
    },
    "DNA replication": {
        "density": -0.3,
        "nuc_ratio": 0.06,
        "cell_scale": 0.12,
        "nuc_bright": 0.25,
        "chromatin": -0.1,
        "micronuclei": 0.08,
    },
    "Eg5 inhibitors": {"arrest": 0.45, "density": -0.1, "tub_fil": -0.2},
    "Epithelial": {
        "cluster": 0.6,
        "cell_scale": -0.12,
        "act_cortex": 1.0,
        "aspect": -0.35,
        "irregularity": -0.07,
        "act_fibers": -0.4,
    },
    "Kinase inhibitors": {"aspect": 0.3, "act_fibers": 0.25, "cell_scale": 0.08, "irregularity": 0.05},
    "Microtubule destabilizers": {
        "arrest": 0.35,
        "tub_fil": -0.85,
        "tub_diffuse": 0.45,
        "cell_scale": -0.1,
        "aspect": -0.25,
    },
    "Microtubule stabilizers": {
        "tub_bundle": 1.0,
        "tub_fil": -0.35,
        "arrest": 0.3,
        "multinuc": 0.05,
        "tub_diffuse": -0.2,
    },
    "Protein degradation": {
        "cell_scale": -0.2,
        "aspect": -0.3,
        "tub_diffuse": 0.3,
        "tub_fil": -0.3,
        "nuc_bright": 0.12,
        "density": -0.15,
        "act_puncta": 0.25,
    },
    "Protein synthesis": {
        "bright_tub": -0.35,
        "bright_act": -0.3,
        "cell_scale": -0.2,
        "density": -0.1,
        "act_fibers": -0.2,
    },
}

#: How cells arrested by a MoA look (``arrest`` fraction): monopolar aster with a DNA ring
#: (Eg5), no spindle and scattered condensed chromosomes (destabilizers), several asters
#: (stabilizers), or large polyploid cells with a bipolar-like spindle (Aurora).
ARREST_STYLES: dict[str, str] = {
    "Eg5 inhibitors": "monoaster",
    "Microtubule destabilizers": "scattered",
    "Microtubule stabilizers": "multiaster",
    "Aurora kinase inhibitors": "bipolar",
}

# Typical size of a parameter, used for off-target changes of compound variants.
_PARAM_SCALE: dict[str, float] = {
    name: max(abs(value), 0.1) if name not in ("mitotic", "arrest", "multinuc", "micronuclei") else 0.05
    for name, value in DMSO_PARAMS.items()
}


@dataclass(frozen=True)
class CompoundTruth:
    """Ground truth of one compound.

    Attributes
    ----------
    compound : str
        Compound name.
    moa : str
        Mechanism of action (one of :data:`MOAS`), ``DMSO``, or ``unannotated`` for
        compounds rendered as DMSO-like because they have no MoA.
    ec50_um : float
        Concentration (µM) of half-maximal phenotype strength.
    hill_slope : float
        Hill coefficient of the concentration-strength curve (> 0).
    delta : dict[str, float]
        Parameter change at full strength (this compound's variant of its MoA).
    arrest_style : str
        Look of mitotically arrested cells (see :data:`ARREST_STYLES`).
    """

    compound: str
    moa: str
    ec50_um: float
    hill_slope: float
    delta: dict[str, float] = field(default_factory=dict)
    arrest_style: str = "bipolar"

    def strength(self, concentration_um: float | np.ndarray) -> np.ndarray:
        """Phenotype strength in [0, 1] at ``concentration_um`` (µM); 0 for DMSO-like compounds."""
        if self.moa in (DMSO, "unannotated") or not self.delta:
            return np.zeros_like(np.asarray(concentration_um, dtype=float))
        return hill(concentration_um, self.ec50_um, self.hill_slope)

    def to_row(self) -> dict[str, object]:
        """Flat dict for ``truth_compounds.csv`` (variant deltas as ``delta_<param>`` columns)."""
        row: dict[str, object] = {
            "compound": self.compound,
            "moa": self.moa,
            "ec50_uM": self.ec50_um,
            "hill_slope": self.hill_slope,
            "arrest_style": self.arrest_style,
        }
        for name in PARAM_NAMES:
            row[f"delta_{name}"] = float(self.delta.get(name, 0.0))
        return row


def hill(concentration_um: float | np.ndarray, ec50_um: float, slope: float) -> np.ndarray:
    """Hill curve ``c^h / (c^h + EC50^h)``.

    Parameters
    ----------
    concentration_um : float or array, shape (n,)
        Concentrations in µM (>= 0).
    ec50_um : float
        Half-maximal concentration in µM (> 0).
    slope : float
        Hill coefficient ``h`` (> 0).

    Returns
    -------
    numpy.ndarray
        Strength in [0, 1], same shape as ``concentration_um``.
    """
    if not (ec50_um > 0 and slope > 0):
        raise ConfigError(f"Hill curve needs EC50 > 0 and slope > 0, got EC50={ec50_um!r}, slope={slope!r}")
    conc = np.clip(np.asarray(concentration_um, dtype=float), 0.0, None)
    ratio = (conc / ec50_um) ** slope
    return ratio / (1.0 + ratio)


def make_compound(
    compound: str,
    moa: str,
    rng: np.random.Generator,
    *,
    ec50_um: float | None = None,
    ec50_range_um: tuple[float, float] = (0.1, 3.0),
    slope_range: tuple[float, float] = (0.9, 2.5),
) -> CompoundTruth:
    """Draw a compound's variant of its MoA phenotype and its potency.

    Each component of the MoA change is scaled by a factor in [0.6, 1.3]; two other
    parameters get a small off-target change. EC50 is log-uniform in ``ec50_range_um``
    unless given.

    Raises
    ------
    ConfigError
        If ``moa`` is not one of :data:`MOAS`.
    """
    if moa not in MOA_DELTAS:
        raise ConfigError(f"compound {compound!r} has MoA {moa!r}; expected one of {', '.join(MOAS)}")
    base = MOA_DELTAS[moa]
    delta = {name: value * float(rng.uniform(0.6, 1.3)) for name, value in base.items()}
    others = [name for name in PARAM_NAMES if name not in base]
    for name in rng.choice(others, size=2, replace=False):
        delta[str(name)] = float(rng.normal(0.0, 0.08 * _PARAM_SCALE[str(name)]))
    if ec50_um is None:
        low, high = np.log10(ec50_range_um)
        ec50_um = float(10 ** rng.uniform(low, high))
    slope = float(rng.uniform(*slope_range))
    return CompoundTruth(
        compound=compound,
        moa=moa,
        ec50_um=float(ec50_um),
        hill_slope=slope,
        delta=delta,
        arrest_style=ARREST_STYLES.get(moa, "bipolar"),
    )


def dmso_like(compound: str, moa: str = DMSO) -> CompoundTruth:
    """Truth of a compound that looks like DMSO at every concentration (``moa`` DMSO or unannotated)."""
    return CompoundTruth(compound=compound, moa=moa, ec50_um=math.inf, hill_slope=1.0, delta={})


def field_params(compound: CompoundTruth | None, strength: float) -> dict[str, float]:
    """Parameters of a field: ``DMSO_PARAMS + strength * compound.delta``, clipped to valid ranges.

    Parameters
    ----------
    compound : CompoundTruth or None
        The field's compound; None (or a DMSO-like compound) gives DMSO parameters.
    strength : float
        Phenotype strength in [0, 1].
    """
    params = dict(DMSO_PARAMS)
    if compound is not None:
        for name, value in compound.delta.items():
            params[name] += strength * value
    for name, value in params.items():
        low, high = _BOUNDS.get(name, (0.0, 5.0))
        params[name] = float(min(max(value, low), high))
    return params
