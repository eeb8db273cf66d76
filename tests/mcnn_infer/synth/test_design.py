"""BBBC021-like and simple experimental designs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mcnn_infer.errors import ConfigError, MetadataError
from mcnn_infer.synth.design import (
    FIELD_COLUMNS,
    POSITIVE_CONTROL,
    bbbc021_design,
    read_bbbc021_tables,
    simple_design,
)
from mcnn_infer.synth.phenotypes import DMSO, MOAS, hill

GUID_NAME = re.compile(r"^Week\d+_\d{6}_[A-H]\d\d_s\d_w[124][0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\.tif$")


def test_shipped_tables_equal_the_real_ones(shared_data):
    shipped_image, shipped_moa = read_bbbc021_tables()
    real_image, real_moa = read_bbbc021_tables(shared_data / "bbbc021")
    pd.testing.assert_frame_equal(shipped_image, real_image)
    pd.testing.assert_frame_equal(shipped_moa, real_moa)


def test_bbbc021_design_reuses_the_real_plates_files_and_moas(shared_data):
    design = bbbc021_design(plates=2, sites=1, seed=0)
    fields = design.fields
    assert list(fields.columns) == list(FIELD_COLUMNS)
    assert sorted(fields["plate"].unique()) == ["Week1_22123", "Week1_22141"]
    assert set(fields["path_name"]) == {"Week1/Week1_22123", "Week1/Week1_22141"}
    assert set(fields["site"]) == {1}
    real = pd.read_csv(shared_data / "bbbc021" / "BBBC021_v1_image.csv")
    real = real.set_index("Image_FileName_DAPI")
    for row in fields.itertuples():
        source = real.loc[row.file_w1]
        assert (source["Image_Metadata_Plate_DAPI"], source["Image_Metadata_Well_DAPI"]) == (
            row.plate,
            row.well,
        )
        assert source["Image_Metadata_Compound"] == row.compound
        assert source["Image_FileName_Actin"] == row.file_w4
    moa = pd.read_csv(shared_data / "bbbc021" / "BBBC021_v1_moa.csv")
    annotated = moa.groupby("compound")["moa"].first()
    for name, truth in design.compounds.items():
        if name != DMSO:
            assert truth.moa == annotated[name]
            # Annotated doses show a clear phenotype.
            assert truth.strength(moa[moa["compound"] == name]["concentration"].min()) > 0.6
    assert (fields.loc[fields["compound"] == DMSO, "role"] == "negative").all()
    assert set(design.moa_table["compound"]) <= set(fields["compound"])


def test_unannotated_compounds_are_skipped_with_a_reason_or_rendered_dmso_like():
    skip = bbbc021_design(plates=2, sites=1)
    assert len(skip.skipped) == 32 and set(skip.skipped["compound"]) == {"AZ-H", "aphidicolin"}
    assert skip.skipped["reason"].str.contains("no MoA annotation").all()
    assert not set(skip.fields["compound"]) & {"AZ-H", "aphidicolin"}
    keep = bbbc021_design(plates=2, sites=1, unannotated="dmso-like")
    assert len(keep.fields) == len(skip.fields) + 32 and keep.skipped.empty
    assert keep.compounds["aphidicolin"].moa == "unannotated"
    assert keep.compounds["aphidicolin"].strength(100.0) == 0.0


def test_bbbc021_subsets_by_plate_name_well_and_site():
    design = bbbc021_design(plates=["Week10_40111"], wells=["b2", "C03"], sites=2)
    assert set(design.fields["plate"]) == {"Week10_40111"}
    assert set(design.fields["well"]) <= {"B02", "C03"} and set(design.fields["site"]) <= {1, 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plates": ["Week99_1"]}, "Week99_1"),
        ({"plates": 56}, "plates=56"),
        ({"plates": 1, "wells": ["A01"]}, "A01"),
        ({"plates": 1, "sites": 5}, "sites=5"),
        ({"plates": 1, "unannotated": "drop"}, "drop"),
    ],
)
def test_bbbc021_design_rejects_bad_selections(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        bbbc021_design(**kwargs)


def test_missing_metadata_names_the_file(tmp_path):
    with pytest.raises(MetadataError, match="BBBC021_v1_image.csv"):
        read_bbbc021_tables(tmp_path)


def test_simple_design_lays_out_treatments_and_controls():
    design = simple_design(compounds_per_moa=2, concentrations=5, replicates=2, seed=1)
    fields, platemap = design.fields, design.platemap
    assert platemap is not None and list(platemap.columns) == [
        "plate",
        "well",
        "compound",
        "concentration",
        "role",
        "label",
    ]
    assert not platemap.duplicated(["plate", "well"]).any()
    treated = platemap[platemap["role"] == "treated"]
    assert len(treated) == 12 * 2 * 5 * 2
    # MoAs are annotated only where the phenotype shows (Hill strength >= 0.5), as in BBBC021
    assert set(treated["label"]) == {*MOAS, ""}
    for row in treated.itertuples():
        truth = design.compounds[row.compound]
        visible = hill(row.concentration, truth.ec50_um, truth.hill_slope) >= 0.5
        assert row.label == (truth.moa if visible else "")
    per_plate = platemap.groupby(["plate", "role"]).size().unstack()
    assert (per_plate["negative"] == 8).all() and (per_plate["positive"] == 4).all()
    assert (platemap.loc[platemap["role"] == "positive", "compound"] == POSITIVE_CONTROL).all()
    # Replicates of one treatment are on different plates.
    assert treated.groupby(["compound", "concentration"])["plate"].nunique().eq(2).all()
    doses = np.sort(treated["concentration"].unique())
    assert len(doses) == 5 and np.allclose(np.diff(np.log10(doses)), np.log10(doses[1] / doses[0]), rtol=1e-3)
    assert fields["file_w1"].map(GUID_NAME.match).all() and fields["file_w4"].map(GUID_NAME.match).all()
    assert fields["file_w1"].nunique() == len(fields)
    assert (fields["path_name"] == fields["week"] + "/" + fields["plate"]).all()


def test_simple_design_is_deterministic_and_seed_dependent():
    a, b, c = simple_design(seed=4), simple_design(seed=4), simple_design(seed=5)
    pd.testing.assert_frame_equal(a.fields, b.fields)
    assert not a.fields["file_w1"].equals(c.fields["file_w1"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plates": 1}, "--plates 4"),
        ({"replicates": 0}, "replicates=0"),
        ({"moas": ["Magic"]}, "Magic"),
        ({"controls": 12, "positive_controls": 6}, "exceed"),
        ({"concentration_range_um": (1.0, 0.1)}, "concentration range"),
    ],
)
def test_simple_design_rejects_bad_counts(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        simple_design(**kwargs)


def test_interleaved_controls_alternate_down_both_edge_columns():
    design = simple_design(
        plates=1, compounds_per_moa=1, concentrations=2, replicates=1, controls=16, positive_controls=16,
        moas=["Eg5 inhibitors"], plate_format=384, control_layout="interleaved",
    )
    wells = design.fields.drop_duplicates("well").set_index("well")["role"]
    rows = "ABCDEFGHIJKLMNOP"
    for i, r in enumerate(rows):
        assert wells[f"{r}01"] == ("negative" if i % 2 == 0 else "positive")
        assert wells[f"{r}24"] == ("positive" if i % 2 == 0 else "negative")
    assert (wells == "negative").sum() == 16 and (wells == "positive").sum() == 16
    with pytest.raises(ConfigError, match="control_layout='diagonal' is not valid"):
        simple_design(plates=1, control_layout="diagonal")
