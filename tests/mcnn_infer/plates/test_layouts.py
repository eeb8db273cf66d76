"""Each folder layout on file names exactly as the instruments write them, and detection."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from mcnn_infer.errors import LayoutError, PlateError
from mcnn_infer.plates import scan_plate

GUIDS = [
    "EB868A72-19FC-46BB-BDFA-66B8966A817C",
    "1C3B9BCC-E48F-4C2F-9D31-8F46D8B5B972",
    "570437EF-C8DC-4074-8D63-7FA3A7271FEE",
    "00B21F33-BDAB-4363-92C2-F4FB7545F08C",
]


def _tif(path, value=100, shape=(8, 10), dtype=np.uint16):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.full(shape, value, dtype=dtype))
    return path


def test_bbbc021_metaxpress_folder_with_guids_thumbs_and_other_files(tmp_path):
    plate = tmp_path / "Week1" / "Week1_22123"
    for well in ("B02", "C11"):
        for site in (1, 2):
            for k, ch in enumerate((1, 2, 4)):
                _tif(plate / f"Week1_150607_{well}_s{site}_w{ch}{GUIDS[(site + k) % 4]}.tif")
    _tif(plate / f"Week1_150607_B02_s1_w1_thumb{GUIDS[0]}.tif")
    (plate / "notes.txt").write_text("operator notes")
    scan = scan_plate(tmp_path / "Week1")
    assert scan.layout == "metaxpress"
    assert scan.channels == ["w1", "w2", "w4"]
    assert scan.fields["plate"].unique().tolist() == ["Week1_22123"]
    assert scan.fields[["well", "site"]].values.tolist() == [["B02", 1], ["B02", 2], ["C11", 1], ["C11", 2]]
    assert all(scan.fields["path_w4"].str.contains("_w4"))
    assert scan.problems.empty
    reasons = dict(
        zip(scan.ignored["path"].map(lambda p: p.rsplit("/", 1)[-1]), scan.ignored["reason"], strict=True)
    )
    assert "thumbnail" in reasons[f"Week1_150607_B02_s1_w1_thumb{GUIDS[0]}.tif"]
    assert reasons["notes.txt"] == "not a TIFF image"


def test_metaxpress_timepoints_and_names_without_prefix_or_site(tmp_path):
    plate = tmp_path / "PlateX"
    for t in (1, 2):
        for ch in (1, 2):
            _tif(plate / f"TimePoint_{t}" / f"PlateX_A01_s1_w{ch}.TIF")
    _tif(plate / "TimePoint_1" / "G10_w1.tif")
    _tif(plate / "TimePoint_1" / "G10_w2.tif")
    scan = scan_plate(plate)
    assert scan.fields["plate"].unique().tolist() == ["PlateX"]
    assert scan.fields[["well", "site", "timepoint"]].values.tolist() == [
        ["A01", 1, 1],
        ["A01", 1, 2],
        ["G10", 1, 1],
    ]


def test_sbs_real_plate(shared_data):
    scan = scan_plate(shared_data / "sbs96")
    assert scan.layout == "sbs"
    assert scan.channels == ["Channel1", "Channel2"]
    assert len(scan.fields) == 96 and scan.fields["well"].nunique() == 96
    assert scan.fields.iloc[0]["well"] == "A01" and scan.fields.iloc[-1]["well"] == "H12"
    assert scan.fields.iloc[13]["path_Channel2"].endswith("Channel2-14-B-02.tif")
    assert scan.problems.empty


def test_harmony_export(tmp_path):
    images = tmp_path / "MyPlate__2024-01-01T10_00_00-Measurement 1" / "Images"
    for r, c in ((2, 3), (16, 24)):
        for f in (1, 2):
            for ch in (1, 2):
                _tif(images / f"r{r:02d}c{c:02d}f{f:02d}p01-ch{ch}sk1fk1fl1.tiff")
    (images / "Index.idx.xml").write_text("<xml/>")
    scan = scan_plate(images.parent)
    assert scan.layout == "harmony"
    assert scan.channels == ["ch1", "ch2"]
    assert scan.fields["plate"].unique().tolist() == ["MyPlate__2024-01-01T10_00_00-Measurement 1"]
    assert scan.fields[["well", "site"]].values.tolist() == [["B03", 1], ["B03", 2], ["P24", 1], ["P24", 2]]


def test_unknown_layout_lists_layouts_tried_with_examples(tmp_path):
    _tif(tmp_path / "image_001.tif")
    with pytest.raises(LayoutError) as err:
        scan_plate(tmp_path)
    message = str(err.value)
    for fragment in (
        "metaxpress",
        "sbs",
        "harmony",
        "Channel1-01-A-01.tif",
        "r01c01f01p01-ch1sk1fk1fl1.tiff",
        "image_001.tif",
        "manifest",
    ):
        assert fragment in message


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(PlateError, match="holds no image files"):
        scan_plate(tmp_path)
    with pytest.raises(PlateError, match="does not exist"):
        scan_plate(tmp_path / "nope")


def test_missing_channel_and_duplicates_are_recorded_not_dropped(tmp_path):
    _tif(tmp_path / f"P_B02_s1_w1{GUIDS[0]}.tif")
    _tif(tmp_path / f"P_B02_s1_w2{GUIDS[1]}.tif")
    _tif(tmp_path / f"P_B03_s1_w1{GUIDS[2]}.tif")  # w2 missing
    _tif(tmp_path / f"P_B04_s1_w1{GUIDS[0]}.tif")
    _tif(tmp_path / f"P_B04_s1_w1{GUIDS[3]}.tif")  # duplicate w1
    _tif(tmp_path / f"P_B04_s1_w2{GUIDS[1]}.tif")
    _tif(tmp_path / "stray_name.tif")  # a TIFF that is not a field image
    scan = scan_plate(tmp_path, layout="metaxpress")
    assert scan.fields["well"].tolist() == ["B02"]
    problems = dict(zip(scan.problems["well"], scan.problems["problem"], strict=True))
    assert problems["B03"].startswith("missing channel w2")
    assert problems["B04"].startswith("duplicate files for channel w1")
    assert any("does not follow the metaxpress layout" in p for p in scan.problems["problem"])
    assert len(scan.problems) == 3


def test_symlink_out_of_the_plate_is_refused(tmp_path):
    outside = _tif(tmp_path / "elsewhere" / "secret.tif")
    plate = tmp_path / "plate"
    _tif(plate / "Channel1-01-A-01.tif")
    _tif(plate / "Channel2-01-A-01.tif")
    (plate / "Channel1-02-A-02.tif").symlink_to(outside)
    _tif(plate / "Channel2-02-A-02.tif")
    scan = scan_plate(plate)
    assert scan.fields["well"].tolist() == ["A01"]
    assert any("outside the plate folder" in p for p in scan.problems["problem"])


def test_requested_channel_order_and_unknown_layout_name(tmp_path):
    for ch in (1, 2, 3):
        _tif(tmp_path / f"Channel{ch}-01-A-01.tif")
    scan = scan_plate(tmp_path, channels=["Channel3", "Channel1"])
    assert scan.channels == ["Channel3", "Channel1"]
    assert list(scan.fields.columns[-2:]) == ["path_Channel3", "path_Channel1"]
    assert scan.ignored["reason"].str.contains("Channel2 not requested").any()
    with pytest.raises(LayoutError, match="unknown layout 'opera'"):
        scan_plate(tmp_path, layout="opera")


def test_a_layout_written_to_the_base_class_works(tmp_path, monkeypatch):
    """A new instrument: subclass Layout (pattern + from_match), list it; ignored files and channel order default."""
    import re

    from mcnn_infer.plates import scan as scan_module
    from mcnn_infer.plates.base import ChannelFile, Layout, plate_name_for

    class DotLayout(Layout):
        name = "dots"
        description = "test instrument"
        example = "B02.s1.c1.tif"
        pattern = re.compile(r"^([A-P]\d\d)\.s(\d)\.c(\d)\.tif$")

        def from_match(self, match, path, plate_root):
            return ChannelFile(
                plate=plate_name_for(path, plate_root),
                well=match.group(1),
                site=int(match.group(2)),
                channel=f"c{match.group(3)}",
                path=path,
            )

    plate = tmp_path / "P9"
    plate.mkdir()
    for well in ("B02", "C03"):
        for channel in (2, 1):
            tifffile.imwrite(plate / f"{well}.s1.c{channel}.tif", np.zeros((8, 8), np.uint16))
    monkeypatch.setitem(scan_module.LAYOUTS, "dots", DotLayout())
    scan = scan_plate(plate, layout="dots")
    assert scan.channels == ["c1", "c2"] and scan.fields["well"].tolist() == ["B02", "C03"]
    assert scan.problems.empty and scan.ignored.empty


def test_every_layout_module_registers_itself_in_detect_order():
    import pkgutil

    from mcnn_infer.plates import LAYOUTS, layouts

    modules = {info.name for info in pkgutil.iter_modules(layouts.__path__)}
    assert {type(layout).__module__.rsplit(".", 1)[1] for layout in LAYOUTS.values()} == modules
    assert list(LAYOUTS) == ["metaxpress", "sbs", "harmony", "cellomics"]  # the detector's tie order
    orders = [layout.detect_order for layout in LAYOUTS.values()]
    assert orders == sorted(orders)


def test_wells_outside_every_plate_format_are_problems_never_fields(tmp_path):
    """``Z99`` and ``A49`` in a plate folder: problem rows naming the well, the other wells scanned."""
    import numpy as np
    import tifffile

    from mcnn_infer.plates import scan_plate

    plate = tmp_path / "P1"
    plate.mkdir()
    for well in ("B02", "Z99", "A49"):
        for channel in (1, 2):
            tifffile.imwrite(plate / f"P1_{well}_s1_w{channel}.tif", np.zeros((8, 8), np.uint16))
    scan = scan_plate(plate)
    assert scan.fields["well"].tolist() == ["B02"]
    problems = scan.problems.set_index("well")["problem"]
    assert set(problems.index) == {"Z99", "A49"}
    assert problems["Z99"].startswith("well Z99 is outside every plate format")
    assert problems["A49"].startswith("well A49 is outside every plate format")
