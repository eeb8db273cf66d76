"""A small synthetic scoring-results folder with known truth (EC50s, MoAs, batches).

Probabilities follow known Hill curves: for a compound of MoA ``m`` at concentration ``c``,
``P(m) = 0.05 + 0.9 * h(c)`` with ``h`` a Hill curve of the compound's true EC50 and slope,
plus Gaussian noise; the rest of the mass goes mostly to DMSO. Embeddings are MoA centres
scaled by ``h(c)`` plus a batch offset, a small compound offset and noise, so that 1-NN
with held-out compounds (NSC) and held-out batches (NSCB) is well defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ["DMSO", "Actin", "Tubulin", "DNA"]
PLATES = ["Week1_100", "Week1_101", "Week2_200", "Week2_201"]
CONCS = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
# compound, moa, ec50 (µM), hill, week
COMPOUNDS = [
    ("cmpA1", "Actin", 0.3, 1.0, "Week1"),
    ("cmpA2", "Actin", 2.0, 1.5, "Week2"),
    ("cmpT1", "Tubulin", 0.1, 1.2, "Week1"),
    ("cmpT2", "Tubulin", 1.0, 0.8, "Week2"),
    ("cmpD1", "DNA", 0.5, 1.0, "Week2"),
    ("cmpD2", "DNA", 3.0, 1.3, "Week1"),
]
N_FEATURES = 16


def _rows(n: int) -> list[str]:
    return [f"{chr(65 + i // 12)}{i % 12 + 1:02d}" for i in range(n)]


def write_fake_results(
    root: Path, *, seed: int = 0, noise: float = 0.03, embeddings: bool = True
) -> pd.DataFrame:
    """Write ``wells.parquet``, ``fields.parquet``, ``embeddings.parquet``, ``run.json`` and
    ``truth_compounds.csv`` into ``root``; return the truth table."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    centres = {m: rng.normal(0, 1, N_FEATURES) * 3 for m in CLASSES[1:]}
    batch_off = {"Week1": rng.normal(0, 0.3, N_FEATURES), "Week2": rng.normal(0, 0.3, N_FEATURES)}
    comp_off = {c[0]: rng.normal(0, 0.3, N_FEATURES) for c in COMPOUNDS}
    wells, fields, embs = [], [], []
    for plate in PLATES:
        week = plate.split("_")[0]
        layout = [("DMSO", "DMSO", 0.0, "negative", 0.0)] * 8 + [
            ("pos-taxol", "Tubulin", 1.0, "positive", 1.0)
        ] * 4
        for name, moa, ec50, hill, cw in COMPOUNDS:
            if cw == week:
                for c in CONCS:
                    layout.append((name, moa, c, "treated", 1.0 / (1.0 + (ec50 / c) ** hill)))
        for well, (name, moa, conc, role, h) in zip(_rows(len(layout)), layout, strict=True):
            p = np.full(len(CLASSES), 0.0)
            target = CLASSES.index(moa)
            p_t = 0.05 + 0.9 * h if target else 0.0
            others = 1.0 - p_t
            p[0] = 0.85 * others
            p[1:] += 0.15 * others / 3
            p[target] = p_t if target else p[0]
            p = np.clip(p + rng.normal(0, noise, p.size), 1e-3, None)
            p /= p.sum()
            pred = CLASSES[int(np.argmax(p))]
            row = {
                "plate": plate,
                "well": well,
                "n_fields": 2,
                "predicted_class": pred,
                "confidence": float(p.max()),
            }
            row.update({f"prob_{c}": float(v) for c, v in zip(CLASSES, p, strict=True)})
            # Like BBBC021, MoA labels only where the phenotype is present (h >= 0.5).
            label = moa if role != "treated" or h >= 0.5 else None
            row.update({"compound": name, "concentration": conc, "moa": label, "role": role})
            wells.append(row)
            for site in (1, 2):
                fields.append(
                    {
                        "plate": plate,
                        "well": well,
                        "site": site,
                        "timepoint": 1,
                        "status": "ok",
                        "reason": "",
                        "predicted_class": pred,
                        "confidence": float(p.max()),
                        "qc_empty": bool(site == 2 and well == "A01" and plate == PLATES[0]),
                        "qc_saturated": False,
                        "qc_blurry": False,
                    }
                )
                v = batch_off[week] + rng.normal(0, 0.3, N_FEATURES)
                if target:
                    v = v + h * (centres[moa] + comp_off.get(name, 0))
                embs.append(
                    {"plate": plate, "well": well, "site": site, "timepoint": 1}
                    | {f"emb_{k:03d}": float(x) for k, x in enumerate(np.maximum(v + 2.0, 0))}
                )
    pd.DataFrame(wells).to_parquet(root / "wells.parquet", index=False)
    pd.DataFrame(fields).to_parquet(root / "fields.parquet", index=False)
    if embeddings:
        pd.DataFrame(embs).to_parquet(root / "embeddings.parquet", index=False)
    (root / "run.json").write_text('{"model": {"model_name": "fake-mcnn"}, "plates": 4}\n')
    truth = pd.DataFrame(
        [{"compound": n, "moa": m, "ec50_uM": e, "hill_slope": h} for n, m, e, h, _ in COMPOUNDS]
    )
    truth.to_csv(root / "truth_compounds.csv", index=False)
    return truth
