"""A fake SBS translocation plate: plate map, model wells table and classical wells table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcnn_infer.analysis.potency import four_pl
from mcnn_infer.analysis.translocation import SCALES


def sbs_plate_map(path):
    rows = []
    for r in "ABCDEFGH":
        for c in range(1, 13):
            control = -1 if c <= 2 else (1 if c == 12 else 0)
            rows.append(
                {
                    "ImageNumber": len(rows) + 1,
                    "Column": f"{c:02d}",
                    "Row": r,
                    "SBS_Doses": 0 if control else c - 2,
                    "SBS_Controls": control,
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return pd.DataFrame(rows)


def write_comparison_inputs(tmp_path, model_ec50, classical_ec50, trained_rows="ABCD", scales=tuple(SCALES)):
    """A plate of 8 rows: model log-odds and classical log-ratio are 4PLs of the dose (hill 2).

    The classical table holds ``scales``: the ratio is exp(log-ratio) (convex), the nuclear
    fraction ratio / (1 + ratio).
    """
    sbs = sbs_plate_map(tmp_path / "map.csv")
    rng = np.random.default_rng(0)
    wells = [f"{r}{int(c):02d}" for r, c in zip(sbs["Row"], sbs["Column"], strict=True)]
    dose = sbs["SBS_Doses"].to_numpy(float)
    control = sbs["SBS_Controls"].to_numpy()
    level = np.where(control == -1, 0.0, np.where(control == 1, 1.0, 0.0))
    treated = control == 0
    model_level, classical_level = level.copy(), level.copy()
    model_level[treated] = four_pl(dose[treated], 0, 1, model_ec50, 2.0)
    classical_level[treated] = four_pl(dose[treated], 0, 1, classical_ec50, 2.0)
    logodds = -3 + 6 * model_level + rng.normal(0, 0.1, len(wells))
    results = tmp_path / "results"
    results.mkdir()
    pd.DataFrame(
        {
            "plate": "sbs96",
            "well": wells,
            "prob_nuclear": 1 / (1 + np.exp(-logodds)),
            "logodds_nuclear": logodds,
            "in_training": (control != 0) & sbs["Row"].isin(list(trained_rows)).to_numpy(),
        }
    ).to_parquet(results / "wells.parquet")
    classical = tmp_path / "classical" / "analysis"
    classical.mkdir(parents=True)
    log_ratio = -0.3 + 1.8 * classical_level + rng.normal(0, 0.03, len(wells))
    columns = {
        SCALES["ratio"]: np.exp(log_ratio),
        SCALES["log-ratio"]: log_ratio,
        SCALES["nuclear-fraction"]: np.exp(log_ratio) / (1 + np.exp(log_ratio)),
    }
    pd.DataFrame({"well": wells, **{SCALES[s]: columns[SCALES[s]] for s in scales}}).to_csv(
        classical / "translocation_wells.csv", index=False
    )
    return results, tmp_path / "classical", tmp_path / "map.csv"
