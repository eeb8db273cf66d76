from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcnn_infer.errors import ConfigError
from mcnn_train.splits import check_split, make_split


def _table(n_moas: int, compounds: int, concs: int, dmso_wells: int, plates: int = 2, sites: int = 2):
    rows = []
    well = 0
    for m in range(n_moas):
        for c in range(compounds):
            for k in range(concs):
                well += 1
                for s in range(sites):
                    rows.append(
                        dict(
                            plate=f"P{well % plates}",
                            well=f"W{well:03d}",
                            site=s + 1,
                            compound=f"M{m}-C{c}",
                            concentration=float(k + 1),
                            moa=f"MoA{m}",
                            role="treated",
                        )
                    )
    for d in range(dmso_wells):
        for s in range(sites):
            rows.append(
                dict(
                    plate=f"P{d % plates}",
                    well=f"D{d:03d}",
                    site=s + 1,
                    compound="DMSO",
                    concentration=0.0,
                    moa="DMSO",
                    role="negative",
                )
            )
    table = pd.DataFrame(rows)
    names = sorted(table["moa"].unique())
    table["label"] = table["moa"].map({n: i for i, n in enumerate(names)})
    return table, names


@settings(max_examples=40, deadline=None)
@given(
    n_moas=st.integers(1, 4),
    compounds=st.integers(1, 4),
    concs=st.integers(1, 3),
    dmso=st.integers(2, 10),
    fraction=st.floats(0.1, 0.6),
    seed=st.integers(0, 1000),
)
def test_compound_split_never_leaks(n_moas, compounds, concs, dmso, fraction, seed):
    table, _ = _table(n_moas, compounds, concs, dmso)
    split = make_split(table, "compound", fraction, seed)
    assert np.intersect1d(split.train, split.val).size == 0
    assert np.union1d(split.train, split.val).size == len(table)
    train, val = table.iloc[split.train], table.iloc[split.val]
    treated_train = set(train.loc[train.role == "treated", "compound"])
    treated_val = set(val.loc[val.role == "treated", "compound"])
    assert not treated_train & treated_val  # every concentration of a compound on one side
    wells = lambda t: set(zip(t.plate, t.well, strict=True))  # noqa: E731
    assert not wells(train) & wells(val)  # fields of a well never on both sides
    assert set(train.moa) == set(table.moa)  # every class keeps training data
    if compounds >= 2:
        assert set(val.moa) >= {m for m in table.moa if m != "DMSO"}


def test_single_compound_class_is_reported():
    table, _ = _table(2, 1, 2, 4)
    split = make_split(table, "compound", 0.3, 0)
    assert split.summary["classes_without_validation_compound"] == ["MoA0", "MoA1"]


def test_plate_split_holds_out_whole_plates():
    table, names = _table(2, 2, 2, 4, plates=3)
    split = make_split(table, "plate", 0.34, 0)
    val_plates = set(table.iloc[split.val].plate)
    assert val_plates == set(split.summary["held_out_plates"]) and len(val_plates) == 1
    assert not val_plates & set(table.iloc[split.train].plate)
    check_split(table, split, names, "test")


def test_plate_split_needs_two_plates():
    table, _ = _table(2, 2, 2, 4, plates=1)
    with pytest.raises(ConfigError, match="at least 2 plates"):
        make_split(table, "plate", 0.3, 0)


def test_class_without_training_images_is_an_error():
    table, names = _table(2, 2, 2, 4, plates=2)
    table.loc[table.moa == "MoA1", "plate"] = "P9"  # MoA1 lives on one plate only
    split = make_split(table, "plate", 0.34, 3)
    if "P9" not in split.summary["held_out_plates"]:
        split = type(split)(train=split.val, val=split.train, mode="plate")
    with pytest.raises(ConfigError, match=r"classes \['MoA1'\] have no training images"):
        check_split(table, split, names, "plates X")
