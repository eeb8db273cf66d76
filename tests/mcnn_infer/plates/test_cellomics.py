"""Cellomics ArrayScan / CellInsight names, and detection next to every other layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from mcnn_infer.plates import LAYOUTS, scan_plate
from mcnn_infer.plates.layouts.cellomics import CellomicsLayout
from tests.fixtures.namings import KEYS, PLATE, write_namings
from tests.fixtures.tiny_plate import make_tiny_plate

ROOT = Path("/data/plates")

#: Real-looking names of every layout (each layout's own example first).
EXAMPLES = {
    "metaxpress": [
        LAYOUTS["metaxpress"].example,
        "MyPlate_B02_s3_w2.TIF",
        "G10_w1.tif",
        "Week1_150607_B02_s1_w1_thumbEB868A72-19FC-46BB-BDFA-66B8966A817C.tif",
        f"{PLATE}_B02_s1_w1.tif",
    ],
    "sbs": [LAYOUTS["sbs"].example, "Channel2-14-B-02.tif"],
    "harmony": [LAYOUTS["harmony"].example, "r16c24f12p03-ch4sk2fk1fl1.tiff"],
    "cellomics": [
        LAYOUTS["cellomics"].example,
        "AS_09125_050116030001_A01f00d1.tif",
        "WHICA-VTI1_090915160001_A01f00o1.tif",
        "MFGTMP_150819110001_P24f15d4.tiff",
        "MFGTMP_150819110001_AF48f100d2.TIF",
        "MFGTMP_150819110001_B02f01d0EB868A7219FC46BBBDFA66B8966A817C.TIF",
        "MFGTMP_150819110001_B02f01d0EB868A72-19FC-46BB-BDFA-66B8966A817C.TIF",
        "A01f00d0.TIF",
    ],
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MFGTMP_150819110001_A01f00d0.TIF", ("MFGTMP_150819110001", "A01", 1, "d0")),
        ("AS_09125_050116030001_A01f00d1.tif", ("AS_09125_050116030001", "A01", 1, "d1")),
        ("WHICA-VTI1_090915160001_H12f09o1.tif", ("WHICA-VTI1_090915160001", "H12", 10, "o1")),
        ("MFGTMP_150819110001_AF48f100d2.TIF", ("MFGTMP_150819110001", "AF48", 101, "d2")),
        ("P 1_b02f01d3EB868A7219FC46BBBDFA66B8966A817C.TIF", ("P 1", "B02", 2, "d3")),
        ("A01f00d0.TIF", ("Folder", "A01", 1, "d0")),
    ],
)
def test_names_give_plate_well_site_and_channel(name, expected):
    record = CellomicsLayout().parse(ROOT / "Folder" / name, ROOT)
    assert record is not None
    assert (record.plate, record.well, record.site, record.channel) == expected
    assert (record.timepoint, record.plane) == (1, 1)


@pytest.mark.parametrize(
    "name",
    [
        "MFGTMP_A01f00d0.C01",  # native Cellomics format, not a TIFF
        "MFGTMP_A01f0d0.TIF",  # fields have two or three digits
        "MFGTMP_A1f00d0.TIF",  # wells have a two-digit column
        "MFGTMP_A01f00.TIF",  # no channel
        "MFGTMP_A01f00d0_extra.TIF",
        "MFGTMP_A01f00d0EB868A72.TIF",  # not a whole GUID
    ],
)
def test_other_names_do_not_parse(name):
    assert CellomicsLayout().parse(ROOT / "P" / name, ROOT) is None


@pytest.mark.parametrize("layout", sorted(EXAMPLES))
def test_each_layout_parses_only_its_own_names(layout):
    for name in EXAMPLES[layout]:
        path = ROOT / "P1" / name
        parsed_by = [n for n, lay in LAYOUTS.items() if not lay.is_ignored(path) and lay.parse(path, ROOT)]
        ignored_by = [n for n, lay in LAYOUTS.items() if lay.is_ignored(path)]
        assert parsed_by + ignored_by == [layout], name


def test_detection_picks_each_layout(tmp_path):
    folders = {
        layout: make_tiny_plate(tmp_path / layout, layout=layout, sites=1, size=(8, 8))
        for layout in ("metaxpress", "sbs", "harmony")
    }
    folders.update(
        {f"{k}-3": v for k, v in write_namings(tmp_path / "n", size=(8, 8)).items() if k == "cellomics"}
    )
    detected = {name: scan_plate(folder).layout for name, folder in folders.items()}
    assert detected == {
        "metaxpress": "metaxpress",
        "sbs": "sbs",
        "harmony": "harmony",
        "cellomics-3": "cellomics",
    }


def test_cellomics_plate_export(tmp_path):
    folders = write_namings(tmp_path, wells=("B02", "C03"), sites=2, size=(8, 8))
    folder = folders["cellomics"]
    (folder / f"{PLATE}_B02f00d0.C01").write_bytes(b"\x10\x00\x00\x00native")
    (folder / f"{PLATE}.MDB").write_bytes(b"protocol database")
    scan = scan_plate(folder)
    assert scan.layout == "cellomics"
    assert scan.channels == KEYS["cellomics"]
    assert scan.fields[["plate", "well", "site"]].values.tolist() == [
        [PLATE, "B02", 1],
        [PLATE, "B02", 2],
        [PLATE, "C03", 1],
        [PLATE, "C03", 2],
    ]
    assert scan.fields.iloc[1]["path_d2"].endswith(f"{PLATE}_B02f01d2.TIF")
    assert scan.problems.empty
    assert sorted(scan.ignored["reason"]) == ["not a TIFF image", "not a TIFF image"]


def test_plate_is_the_name_prefix_so_plates_in_one_folder_stay_apart(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    names = [
        f"{p}_A01f00d{ch}.TIF" for p in ("AS_09125_050116030001", "AS_09125_050116040001") for ch in (0, 1)
    ]
    for name in [*names, "H12f00d0.tif", "H12f00d1.tif"]:  # no prefix: the folder names the plate
        tifffile.imwrite(folder / name, np.zeros((4, 4), np.uint16))
    scan = scan_plate(folder)
    assert scan.fields[["plate", "well"]].values.tolist() == [
        ["AS_09125_050116030001", "A01"],
        ["AS_09125_050116040001", "A01"],
        ["export", "H12"],
    ]
    assert scan.problems.empty


def test_incomplete_and_bad_fields_are_problems(tmp_path):
    folder = tmp_path / "P"
    folder.mkdir()
    for name in ("P_A01f00d0.TIF", "P_A01f00d1.TIF", "P_A02f00d0.TIF", "P_A00f00d0.TIF", "P_A00f00d1.TIF"):
        tifffile.imwrite(folder / name, np.zeros((4, 4), np.uint16))
    scan = scan_plate(folder, layout="cellomics")
    assert scan.fields["well"].tolist() == ["A01"]
    problems = sorted(scan.problems["problem"])
    assert len(problems) == 3
    assert problems[0].startswith("missing channel d1")
    assert all("well name 'A00'" in p for p in problems[1:])
