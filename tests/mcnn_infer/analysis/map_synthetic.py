"""Synthetic well profiles with a known answer for the mAP tests.

Two plates with 8 DMSO wells each; every treatment has 2 wells on each plate. ``strong``
treatments are shifted far from DMSO along their own direction, ``noise`` treatments are drawn
from the DMSO distribution. MoAs: each strong compound belongs to one of ``n_moas`` MoAs whose
compounds share the direction of the shift (plus a small compound-specific part).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_FEATURES = 24


def synthetic_profiles(
    *,
    seed: int = 0,
    n_moas: int = 3,
    compounds_per_moa: int = 3,
    n_noise: int = 4,
    shift: float = 4.0,
    plates: tuple[str, ...] = ("Week1_1", "Week2_1"),
    n_dmso: int = 8,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    moa_dirs = rng.normal(0, 1, (n_moas, N_FEATURES))
    treatments = []
    for m in range(n_moas):
        for c in range(compounds_per_moa):
            direction = moa_dirs[m] + 0.3 * rng.normal(0, 1, N_FEATURES)
            treatments.append((f"s{m}{c}", f"MoA{m}", shift * direction / np.linalg.norm(direction) * 3))
    for k in range(n_noise):
        treatments.append((f"n{k}", None, np.zeros(N_FEATURES)))
    rows = []
    for plate in plates:
        plate_offset = rng.normal(0, 0.5, N_FEATURES)
        wells = [("DMSO", None, np.zeros(N_FEATURES), "negative")] * n_dmso
        wells += [(c, m, v, "treated") for c, m, v in treatments for _ in range(2)]
        for i, (compound, moa, mean, role) in enumerate(wells):
            x = plate_offset + mean + rng.normal(0, 1, N_FEATURES)
            rows.append(
                {
                    "Metadata_Plate": plate,
                    "Metadata_Well": f"W{i:03d}",
                    "Metadata_Batch": plate.split("_")[0],
                    "Metadata_Compound": compound,
                    "Metadata_Concentration": 0.0 if role == "negative" else 1.0,
                    "Metadata_MoA": moa,
                    "Metadata_Role": role,
                }
                | {f"emb_{j:03d}": float(v) for j, v in enumerate(x)}
            )
    return pd.DataFrame(rows)
