"""The canonical row order of result tables: every run, resumed run and merge produces it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mcnn_infer.errors import PlateError
from mcnn_infer.wells import row_index, split_well


def _well_order(well: str) -> tuple[int, int]:
    try:
        row, col = split_well(well)
    except PlateError:
        return (0, 0)
    return (row_index(row), col)


def sort_key_frame(table: pd.DataFrame, first_path: str | None = None) -> pd.DataFrame:
    """Sort keys (plate, row index, column, site, time point, plane, first path) of each row."""
    order = [_well_order(str(w)) for w in table["well"]]
    keys = pd.DataFrame(
        {
            "plate": table["plate"].astype(str).to_numpy(),
            "_row": np.array([o[0] for o in order], dtype=np.int64),
            "_col": np.array([o[1] for o in order], dtype=np.int64),
            "site": table["site"].astype(np.int64).to_numpy(),
            "timepoint": table["timepoint"].astype(np.int64).to_numpy(),
            "plane": table["plane"].astype(np.int64).to_numpy(),
            "_path": (
                table[first_path].fillna("").astype(str) if first_path else table["reason"].fillna("")
            ).to_numpy(),
        },
        index=table.index,
    )
    return keys


def canonical_order(table: pd.DataFrame, first_path: str | None = None) -> pd.DataFrame:
    """Rows in plate, row, column, site, time point, plane order (then scored before skipped),
    index reset: the one order every run, resumed run and merge produces."""
    if table.empty:
        return table.reset_index(drop=True)
    keys = sort_key_frame(table, first_path)
    keys["_reason"] = table["reason"].fillna("").astype(str).to_numpy() if "reason" in table else ""
    order = keys.sort_values(
        ["plate", "_row", "_col", "site", "timepoint", "plane", "_path", "_reason"], kind="stable"
    )
    return table.loc[order.index].reset_index(drop=True)


def well_units(tables: Sequence[pd.DataFrame]) -> list[tuple[str, str]]:
    """All (plate, well) pairs of some tables, in canonical plate, row, column order."""
    pairs = set()
    for table in tables:
        pairs.update(zip(table["plate"].astype(str), table["well"].astype(str), strict=True))
    return sorted(pairs, key=lambda pw: (pw[0], *_well_order(pw[1]), pw[1]))
