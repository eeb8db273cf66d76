"""Treatment metadata from the real BBBC021 CSVs and from plate maps."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mcnn_infer.errors import MetadataError
from mcnn_infer.metadata import read_treatments


def test_real_bbbc021_csvs(shared_data, tmp_path):
    for name in ("BBBC021_v1_image.csv", "BBBC021_v1_moa.csv"):
        shutil.copy(shared_data / "bbbc021" / name, tmp_path / name)
    table = read_treatments(tmp_path / "BBBC021_v1_image.csv", positive_compounds=["taxol"])
    assert len(table) == 3300 and table["plate"].nunique() == 55
    moas = set(table["moa"].dropna())
    assert len(moas) == 13 and "DMSO" in moas and "Eg5 inhibitors" in moas
    # 103 annotated treatments + DMSO, as in the published annotation
    annotated = table.dropna(subset=["moa"]).drop_duplicates(["compound", "concentration"])
    assert len(annotated[annotated["compound"] != "DMSO"]) == 103
    row = table[(table["plate"] == "Week1_22123") & (table["well"] == "C02")].iloc[0]
    assert row["compound"] == "DMSO" and row["role"] == "negative" and row["moa"] == "DMSO"
    assert set(table.loc[table["compound"] == "taxol", "role"]) == {"positive"}
    assert table["concentration"].dtype == float


def test_plate_map(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text(
        "plate,well,compound,concentration,role,label\n"
        "P1,A1,DMSO,0,negative,DMSO\nP1,a02,cpdA,0.1,treated,Actin disruptors\nP1,A03,cpdB,1e-1,treated,\n"
        "P1,H12,taxol,3,positive,Microtubule stabilizers\n"
    )
    table = read_treatments(path)
    assert table["well"].tolist() == ["A01", "A02", "A03", "H12"]
    assert table["role"].tolist() == ["negative", "treated", "treated", "positive"]
    assert table.loc[2, "moa"] is None and table.loc[1, "concentration"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("plate,well,compound,concentration,role\nP1,A1,x,abc,treated\n", "concentration 'abc'"),
        ("plate,well,compound,concentration,role\nP1,A1,x,-1,treated\n", "non-negative"),
        ("plate,well,compound,concentration,role\nP1,A1,x,1,sample\n", "role 'sample'"),
        ("plate,well,compound,concentration,role\nP1,Z,x,1,treated\n", "well name 'Z'"),
        ("plate,well,compound,concentration,role\nP1,A1,x,1,treated\nP1,A01,y,1,treated\n", "two treatments"),
        ("a,b\n1,2\n", "expected a plate map"),
    ],
)
def test_bad_plate_maps(tmp_path, body, message):
    path = tmp_path / "map.csv"
    path.write_text(body)
    with pytest.raises(MetadataError, match=message) as err:
        read_treatments(path)
    assert str(path) in str(err.value) or "metadata" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(MetadataError, match="does not exist"):
        read_treatments(tmp_path / "none.csv")


def test_sites_of_a_well_collapse_to_one_row(tmp_path):
    rows = pd.DataFrame(
        {
            "Image_Metadata_Plate_DAPI": ["W1_1"] * 3,
            "Image_Metadata_Well_DAPI": ["B02"] * 3,
            "Image_Metadata_Compound": ["cpd"] * 3,
            "Image_Metadata_Concentration": ["0.3", "0.300000", "0.3"],
            "Replicate": ["2"] * 3,
        }
    )
    rows.to_csv(tmp_path / "img.csv", index=False)
    table = read_treatments(tmp_path / "img.csv")
    assert len(table) == 1 and table.loc[0, "replicate"] == 2 and table.loc[0, "role"] == "treated"


def test_plate_map_well_outside_every_format_is_refused(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("plate,well,compound,concentration,role,label\nP1,B02,DMSO,0,negative,\nP1,Z99,x,1,treated,\n")
    with pytest.raises(MetadataError, match=r"line 3: well Z99 is outside every plate format"):
        read_treatments([path])
