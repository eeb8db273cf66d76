"""OME-Zarr HCS plates written by ome-zarr-py (NGFF 0.4 and 0.5) read by scan_plate and read_field."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mcnn_infer.errors import LayoutError, PlateError
from mcnn_infer.images import read_field
from mcnn_infer.plates import LAYOUT_CHOICES, field_paths, scan_plate
from mcnn_infer.plates.ome_zarr import OME_ZARR
from tests.fixtures.ngff_plate import write_ngff_plate
from tests.fixtures.tiny_plate import make_tiny_plate

VERSIONS = ("0.4", "0.5")


@pytest.mark.parametrize("version", VERSIONS)
def test_plate_written_by_ome_zarr_py_is_read(tmp_path, version):
    store = tmp_path / "screen" / "plate1.zarr"
    pixels = write_ngff_plate(store, version=version, shape=(2, 2, 3, 16, 20))  # t c z y x
    scan = scan_plate(store)
    assert scan.layout == OME_ZARR
    assert scan.channels == ["DAPI", "GFP"]  # omero labels
    assert scan.plates == ["ngff-plate"]  # plate.name
    assert len(scan.problems) == 0
    fields = scan.fields
    assert fields["well"].unique().tolist() == ["B03", "C05"]
    assert sorted(set(fields["site"])) == [1, 2]
    assert sorted(set(fields["timepoint"])) == [1, 2] and sorted(set(fields["plane"])) == [1, 2, 3]
    assert len(fields) == 2 * 2 * 2 * 3  # wells x sites x t x z
    for _, row in fields.iterrows():
        well_path = f"{row['row']}/{row['col']}"
        data = pixels[(well_path, str(row["site"] - 1))]
        expected = np.moveaxis(data[row["timepoint"] - 1, :, row["plane"] - 1], 0, -1)  # (H, W, C)
        got = read_field(field_paths(row, scan.channels))
        assert got.dtype == np.uint16 and np.array_equal(got, expected)


@pytest.mark.parametrize("version", VERSIONS)
def test_axis_subset_without_labels_gives_numbered_channels(tmp_path, version):
    store = tmp_path / "cyx.zarr"
    pixels = write_ngff_plate(
        store, version=version, wells=("A/1",), fields=1, axes="cyx", shape=(3, 8, 10), labels=None, name=None
    )
    scan = scan_plate(store)
    assert scan.channels == ["c0", "c1", "c2"]
    assert scan.plates == ["cyx"]  # the store name without .zarr
    row = scan.fields.iloc[0]
    assert row["path_c1"].endswith("#c=1")
    assert np.array_equal(
        read_field(field_paths(row, scan.channels)), np.moveaxis(pixels[("A/1", "0")], 0, -1)
    )


def test_missing_well_field_and_bad_axes_are_problems(tmp_path):
    store = tmp_path / "p.zarr"
    write_ngff_plate(store, version="0.5", wells=("B/3", "C/5", "D/7"), shape=(1, 2, 1, 8, 8))
    shutil.rmtree(store / "C" / "5")  # well listed in the plate metadata, gone
    shutil.rmtree(store / "B" / "3" / "1")  # field listed in the well metadata, gone
    meta_file = store / "D" / "7" / "0" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["attributes"]["ome"]["multiscales"][0]["axes"] = meta["attributes"]["ome"]["multiscales"][0]["axes"][
        1:
    ]
    meta_file.write_text(json.dumps(meta))  # 4 axes declared for a 5-D array
    scan = scan_plate(store)
    problems = scan.problems.set_index(["well", "site"])["problem"]
    assert "C/5 is listed in the plate metadata" in problems[("C05", 0)]
    assert str(store / "C" / "5") in problems[("C05", 0)]
    assert "field '1' is listed in the well metadata" in problems[("B03", 2)]
    assert "4 axes but the full-resolution array has 5 dimensions" in problems[("D07", 1)]
    assert sorted(zip(scan.fields["well"], scan.fields["site"], strict=True)) == [("B03", 1), ("D07", 2)]


def test_folder_of_stores_gives_several_plates_and_forced_layout(tmp_path):
    write_ngff_plate(
        tmp_path / "screen" / "a.zarr", name="plateA", wells=("A/1",), fields=1, shape=(1, 2, 1, 8, 8)
    )
    write_ngff_plate(
        tmp_path / "screen" / "b.zarr",
        version="0.4",
        name="plateB",
        wells=("A/1",),
        fields=1,
        shape=(1, 2, 1, 8, 8),
    )
    scan = scan_plate(tmp_path / "screen")
    assert scan.layout == OME_ZARR and scan.plates == ["plateA", "plateB"]
    assert scan_plate(tmp_path / "screen", layout=OME_ZARR, plates=["plateB"]).plates == ["plateB"]
    assert OME_ZARR in LAYOUT_CHOICES


def test_mixed_folder_and_non_plate_store_are_refused(tmp_path):
    write_ngff_plate(tmp_path / "mixed" / "a.zarr", wells=("A/1",), fields=1, shape=(1, 3, 1, 8, 8))
    make_tiny_plate(tmp_path / "mixed", wells=("A01",))
    with pytest.raises(LayoutError, match="both OME-Zarr plates"):
        scan_plate(tmp_path / "mixed")
    import zarr

    zarr.open_group(str(tmp_path / "image.zarr"), mode="w").attrs["multiscales"] = []
    with pytest.raises(PlateError, match="no OME-NGFF 'plate' metadata"):
        scan_plate(tmp_path / "image.zarr")
    with pytest.raises(PlateError, match="no OME-Zarr plate found"):
        scan_plate(tmp_path / "mixed" / "P1", layout=OME_ZARR)


def test_duplicate_plate_names_are_refused(tmp_path):
    for name in ("a.zarr", "b.zarr"):
        write_ngff_plate(tmp_path / "s" / name, name="same", wells=("A/1",), fields=1, shape=(1, 1, 1, 4, 4))
    with pytest.raises(PlateError, match="plate name 'same'"):
        scan_plate(tmp_path / "s")


@pytest.mark.parametrize("version", VERSIONS)
def test_corrupt_metadata_is_a_problem_naming_the_path(tmp_path, version):
    store = tmp_path / "p.zarr"
    write_ngff_plate(store, version=version, wells=("B/3", "C/5"), shape=(1, 2, 1, 8, 8))
    meta = "zarr.json" if version == "0.5" else ".zattrs"
    (store / "C" / "5" / meta).write_text("{not json")
    (store / "B" / "3" / "1" / meta).write_text("{not json")
    scan = scan_plate(store)
    problems = scan.problems.set_index(["well", "site"])["problem"]
    assert f"the Zarr metadata of {store / 'C/5'} cannot be read" in problems[("C05", 0)]
    assert f"the Zarr metadata of {store / 'B/3/1'} cannot be read" in problems[("B03", 2)]
    assert scan.fields[["well", "site"]].drop_duplicates().values.tolist() == [["B03", 1]]
