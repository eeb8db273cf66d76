"""LoadData-style manifests: the real BBBC021 image CSV resolved against a tiny tree, and escapes."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

from mcnn_infer.errors import LayoutError, MetadataError
from mcnn_infer.plates import scan_plate


def _tif(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.zeros((4, 5), np.uint16))


def test_real_bbbc021_manifest_against_a_tiny_tree(shared_data, tmp_path):
    csv = tmp_path / "BBBC021_v1_image.csv"
    shutil.copy(shared_data / "bbbc021" / "BBBC021_v1_image.csv", csv)
    table = pd.read_csv(csv)
    rows = table[
        (table["Image_Metadata_Plate_DAPI"] == "Week1_22123")
        & table["Image_Metadata_Well_DAPI"].isin(["C10", "D02"])
    ]
    assert len(rows) == 8  # 2 wells x 4 sites
    for row in rows.itertuples():
        for ch in ("DAPI", "Tubulin", "Actin"):
            _tif(tmp_path / getattr(row, f"Image_PathName_{ch}") / getattr(row, f"Image_FileName_{ch}"))
    scan = scan_plate(csv, plates=["Week1_22123"])
    assert scan.layout == "manifest"
    assert scan.channels == ["DAPI", "Tubulin", "Actin"]
    assert scan.fields[["well", "site"]].values.tolist() == [["C10", s] for s in (1, 2, 3, 4)] + [
        ["D02", s] for s in (1, 2, 3, 4)
    ]
    assert scan.fields.iloc[0]["path_Tubulin"].endswith("_C10_s1_w29DCB015C-38C2-41D2-A798-2E87A861AF7A.tif")
    # the other 58 image sets of that plate are listed as missing files, none silently dropped
    plate_rows = (table["Image_Metadata_Plate_DAPI"] == "Week1_22123").sum()
    assert scan.problems["problem"].str.contains("does not exist").sum() == (plate_rows - 8) * 3
    # and the same tree scans as a MetaXpress plate folder with identical fields
    folder = scan_plate(tmp_path / "Week1" / "Week1_22123")
    assert folder.layout == "metaxpress"
    assert folder.fields[["plate", "well", "site"]].equals(scan.fields[["plate", "well", "site"]])


def _manifest(tmp_path, rows):
    frame = pd.DataFrame(
        rows,
        columns=[
            "Image_FileName_DNA",
            "Image_PathName_DNA",
            "Metadata_Plate",
            "Metadata_Well",
            "Metadata_Site",
        ],
    )
    path = tmp_path / "root" / "manifest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def test_manifest_paths_may_not_escape_the_root(tmp_path):
    _tif(tmp_path / "root" / "imgs" / "a.tif")
    _tif(tmp_path / "outside.tif")
    (tmp_path / "root" / "imgs" / "link.tif").symlink_to(tmp_path / "outside.tif")
    path = _manifest(
        tmp_path,
        [
            ["a.tif", "imgs", "P1", "A1", 1],
            ["outside.tif", "..", "P1", "A2", 1],
            ["outside.tif", str(tmp_path), "P1", "A3", 1],
            ["link.tif", "imgs", "P1", "A4", 1],
        ],
    )
    scan = scan_plate(path)
    assert scan.fields["well"].tolist() == ["A01"]
    problems = dict(zip(scan.problems["well"], scan.problems["problem"], strict=True))
    assert "outside the root" in problems["A02"]
    assert "absolute path" in problems["A03"]
    assert "outside the root" in problems["A04"]


def test_manifest_bad_columns_and_bad_values(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Image_FileName_DNA,Image_PathName_DNA\na.tif,.\n")
    with pytest.raises(MetadataError, match="lacks a plate or well column"):
        scan_plate(bad)
    other = tmp_path / "other.csv"
    other.write_text("x,y\n1,2\n")
    with pytest.raises(LayoutError, match="not a manifest CSV"):
        scan_plate(other)
    _tif(tmp_path / "root" / "a.tif")
    path = _manifest(
        tmp_path,
        [["a.tif", "", "P1", "A1", 1], ["a.tif", "", "P1", "nowell", 1], ["a.tif", "", "P1", "A2", "x"]],
    )
    scan = scan_plate(path)
    assert scan.fields["well"].tolist() == ["A01"]
    assert len(scan.problems) == 2
