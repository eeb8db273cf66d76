"""``--pattern`` layouts, and the acceptance check: three namings of one plate give one field table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from mcnn_infer.errors import HcsError, LayoutError, PlateError
from mcnn_infer.images import read_field
from mcnn_infer.plates import field_paths, scan_plate
from mcnn_infer.plates.pattern import PatternLayout
from mcnn_infer.plates.scan import KEY_COLUMNS
from tests.fixtures.namings import CV7000_PATTERN, KEYS, PLATE, write_namings

ROOT = Path("/data/plates")
#: Cellomics names read through a pattern instead of the built-in layout (fields counted from 0).
CELLOMICS_PATTERN = r"(?i)(?P<plate>.+)_(?P<well>[A-P]\d{2})f(?P<site0>\d{2})(?P<channel>d\d)\.tiff?"


def _write(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        tifffile.imwrite(folder / name, np.zeros((4, 4), np.uint16))
    return folder


def test_three_namings_of_one_plate_give_the_same_field_table(tmp_path):
    folders = write_namings(tmp_path, wells=("B02", "B10", "C03", "H12"), sites=3)
    scans = {
        "metaxpress": scan_plate(folders["metaxpress"]),
        "cellomics": scan_plate(folders["cellomics"]),
        "pattern": scan_plate(folders["pattern"], pattern=CV7000_PATTERN),
    }
    assert {name: scan.layout for name, scan in scans.items()} == {
        "metaxpress": "metaxpress",
        "cellomics": "cellomics",
        "pattern": "pattern",
    }
    reference = scans["metaxpress"].fields
    assert len(reference) == 12 and reference["plate"].unique().tolist() == [PLATE]
    for name, scan in scans.items():
        assert scan.channels == KEYS[name]
        assert scan.problems.empty and scan.ignored.empty
        assert scan.fields.columns.tolist() == KEY_COLUMNS + [f"path_{c}" for c in scan.channels]
        # same fields: every key column equal, in value and dtype, row for row
        assert scan.fields[KEY_COLUMNS].equals(reference[KEY_COLUMNS]), name
    # same pixels: each field's channels, in declared order, are the same images
    for i in range(len(reference)):
        fields = [read_field(field_paths(s.fields.iloc[i], s.channels)) for s in scans.values()]
        assert fields[0].shape == (64, 80, 3)
        assert all(np.array_equal(fields[0], other) for other in fields[1:]), i
    # and a pattern reads the Cellomics names (0-based fields) exactly as the built-in layout does
    by_pattern = scan_plate(folders["cellomics"], pattern=CELLOMICS_PATTERN)
    assert by_pattern.fields.equals(scans["cellomics"].fields)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        # Harmony-like numeric row/col, 0-based field, plane and time point
        (
            r"r(?P<row>\d+)c(?P<col>\d+)f(?P<site0>\d+)p(?P<plane>\d+)-(?P<channel>ch\d)t(?P<timepoint0>\d+)\.tiff",
            "r02c11f00p03-ch2t0.tiff",
            ("Folder", "B11", 1, 1, 3, "ch2"),
        ),
        # row letters, no site (site 1), channel names without numbers, plate in the name
        (
            r"(?P<plate>[^_]+)_(?P<row>[A-Z]+)-(?P<col>\d+)_(?P<channel>DAPI|GFP)\.tif",
            "Screen7_AB-3_GFP.tif",
            ("Screen7", "AB03", 1, 1, 1, "GFP"),
        ),
        # an optional plate group that does not take part: the folder names the plate
        (
            r"(?:(?P<plate>P\d+)_)?(?P<well>\w\d+)_s(?P<site>\d+)_(?P<channel>w\d)\.tif",
            "b2_s4_w3.tif",
            ("Folder", "B02", 4, 1, 1, "w3"),
        ),
    ],
)
def test_pattern_groups(pattern, name, expected):
    record = PatternLayout(pattern).parse(ROOT / "Folder" / name, ROOT)
    assert record is not None
    assert (
        record.plate,
        record.well,
        record.site,
        record.timepoint,
        record.plane,
        record.channel,
    ) == expected


def test_the_whole_name_must_match(tmp_path):
    layout = PatternLayout(r"(?P<well>[A-P]\d{2})_(?P<channel>w\d)")
    assert layout.parse(ROOT / "P" / "B02_w1.tif", ROOT) is None  # re.fullmatch: the extension too
    assert PatternLayout(r"(?P<well>[A-P]\d{2})_(?P<channel>w\d)\.tif").parse(ROOT / "P" / "B02_w1.tif", ROOT)
    folder = _write(tmp_path / "P", "B02_w1.tif")
    with pytest.raises(
        PlateError, match=r"does not follow the pattern layout \(e\.g\. a name matching --pattern"
    ):
        scan_plate(folder, pattern=r"(?P<well>[A-P]\d{2})_(?P<channel>w\d)")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(?P<well>[A-P]\d{2}_(?P<channel>w\d)\.tif", "does not compile"),
        (r"(?P<well>[A-P]\d{2})_w\d\.tif", "no channel group"),
        (r"(?P<row>[A-P])_(?P<channel>w\d)\.tif", "no well group"),
        (r"(?P<well>\w+)_(?P<feild>\d+)_(?P<channel>w\d)\.tif", "unknown group(s) feild"),
        (r"(?P<well>\w+)_(?P<row>\w)_(?P<channel>w\d)\.tif", "both well and row/col"),
        (r"(?P<well>\w+)_(?P<site>\d)(?P<site0>\d)_(?P<channel>w\d)\.tif", "both site and site0"),
    ],
)
def test_bad_patterns_are_clear_errors(tmp_path, pattern, message):
    with pytest.raises(LayoutError) as info:
        PatternLayout(pattern)
    text = str(info.value)
    assert message in text and repr(pattern) in text and "expected a Python regular expression" in text
    folder = _write(tmp_path / "P", "B02_w1.tif")
    with pytest.raises(LayoutError, match=re.escape(message)):
        scan_plate(folder, pattern=pattern)


def test_pattern_conflicts_with_another_layout(tmp_path):
    folder = _write(tmp_path / "P", "P_B02_s1_w1.tif")
    good = r".*_(?P<well>[A-P]\d{2})_s(?P<site>\d)_(?P<channel>w\d)\.tif"
    with pytest.raises(LayoutError, match="sets the layout to 'pattern', but layout 'metaxpress'"):
        scan_plate(folder, layout="metaxpress", pattern=good)
    with pytest.raises(LayoutError, match="needs a file-name pattern"):
        scan_plate(folder, layout="pattern")
    assert scan_plate(folder, layout="pattern", pattern=good).layout == "pattern"
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("Image_FileName_w1,Image_PathName_w1\n")
    with pytest.raises(LayoutError, match="is a file"):
        scan_plate(manifest, pattern=good)


def test_bad_values_become_problems_with_a_hint(tmp_path):
    folder = _write(tmp_path / "P", "B02_f0_w1.tif", "B02_f1_w1.tif", "Z99_f1_w1.tif", "B03_fx_w1.tif")
    scan = scan_plate(folder, pattern=r"(?P<well>\w+)_f(?P<site>\w+)_(?P<channel>w\d)\.tif")
    assert scan.fields[["well", "site"]].values.tolist() == [["B02", 1]]
    problems = dict(
        zip(scan.problems["path"].map(lambda p: Path(p).name), scan.problems["problem"], strict=True)
    )
    assert "site 0 in B02_f0_w1.tif is below 1" in problems["B02_f0_w1.tif"]
    assert "(?P<site0>...)" in problems["B02_f0_w1.tif"]
    assert "site 'x' in B03_fx_w1.tif is not a number" in problems["B03_fx_w1.tif"]
    assert problems["Z99_f1_w1.tif"].startswith("well Z99 is outside every plate format")  # (#26)


def test_channels_are_ordered_by_number_then_name(tmp_path):
    names = [f"A01_{ch}.tif" for ch in ("ch10", "ch2", "ch1")]
    scan = scan_plate(_write(tmp_path / "P", *names), pattern=r"(?P<well>A01)_(?P<channel>ch\d+)\.tif")
    assert scan.channels == ["ch1", "ch2", "ch10"]
    names = [f"A01_{ch}.tif" for ch in ("GFP", "DAPI", "Actin")]
    scan = scan_plate(_write(tmp_path / "Q", *names), pattern=r"(?P<well>A01)_(?P<channel>[A-Za-z]+)\.tif")
    assert scan.channels == ["Actin", "DAPI", "GFP"]


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=60).map(lambda t: t + ".tif"))
def test_any_name_gives_a_record_none_or_a_plate_error(name):
    layout = PatternLayout(r"(?P<plate>.*?)_?(?P<row>\w+?)(?P<col>\d*)_(?P<site0>.*)_(?P<channel>.+)\.tif")
    try:
        record = layout.parse(ROOT / "P" / name, ROOT)
    except HcsError as exc:
        assert str(exc)
        return
    assert record is None or (record.site >= 1 and record.channel)
