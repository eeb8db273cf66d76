"""``convert_plates``: valid NGFF (0.4 and 0.5), exact round trip, problems recorded, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

from mcnn_infer.convert import PROBLEMS_FILE, convert_plates, plate_writer
from mcnn_infer.errors import ConfigError
from mcnn_infer.images import read_field
from mcnn_infer.plates import field_paths, scan_plate
from mcnn_infer.wells import row_index, split_well
from tests.fixtures.tiny_plate import make_tiny_plate

KEYS = ["plate", "well", "site", "timepoint", "plane"]


def make_harmony_tz_plate(root: Path, skip: tuple = ()) -> Path:
    """Harmony plate ``root/HZ``: wells B03, C05; 2 sites, 2 time points, 2 planes, 2 channels (uint16).

    ``skip`` lists (well, site, timepoint, plane) fields left out of the folder.
    """
    folder = root / "HZ" / "Images"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for well in ("B03", "C05"):
        row, col = split_well(well)
        for site in (1, 2):
            for t in (1, 2):
                for z in (1, 2):
                    if (well, site, t, z) in skip:
                        continue
                    for ch in (1, 2):
                        name = f"r{row_index(row):02d}c{col:02d}f{site:02d}p{z:02d}-ch{ch}sk{t}fk1fl1.tiff"
                        tifffile.imwrite(folder / name, rng.integers(0, 4000, (12, 14), dtype=np.uint16))
    return root / "HZ"


def assert_same_plate(source, converted) -> None:
    """Same field keys, channels and pixel arrays."""
    a, b = scan_plate(source), scan_plate(converted)
    assert b.channels == a.channels
    assert b.fields[KEYS].reset_index(drop=True).equals(a.fields[KEYS].reset_index(drop=True))
    for (_, ra), (_, rb) in zip(a.fields.iterrows(), b.fields.iterrows(), strict=True):
        x, y = read_field(field_paths(ra, a.channels)), read_field(field_paths(rb, b.channels))
        assert x.dtype == y.dtype and np.array_equal(x, y)


def store_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_round_trip_and_spec_validation(tmp_path, version):
    plate = make_tiny_plate(tmp_path / "src", wells=("B02", "C03", "H12"), sites=2)
    summary = convert_plates([plate], tmp_path / "out", ngff_version=version, levels=2)
    store = tmp_path / "out" / "P1.zarr"
    assert summary.written == 6 and summary.resumed == 0 and len(summary.problems) == 0
    assert (tmp_path / "out" / PROBLEMS_FILE).is_file()
    assert_same_plate(plate, store)
    if version == "0.4":
        from ome_zarr_models.v04.hcs import HCS
    else:
        from ome_zarr_models.v05.hcs import HCS
    hcs = HCS.from_zarr(zarr.open_group(str(store), mode="r"))  # raises if the metadata break the spec
    assert len(hcs.ome_attributes.plate.wells) == 3 and hcs.ome_attributes.plate.name == "P1"
    assert (store / ("zarr.json" if version == "0.5" else ".zattrs")).is_file()
    level1 = zarr.open_array(str(store / "B" / "2" / "0" / "1"), mode="r")
    assert level1.shape == (1, 3, 1, 32, 40) and level1.chunks == (1, 1, 1, 32, 40)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_second_reader_ome_zarr_py_opens_the_output(tmp_path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Plate, Reader

    plate = make_tiny_plate(tmp_path / "src", wells=("A01", "A02"), sites=1, channels=2)
    convert_plates([plate], tmp_path / "out", ngff_version=version)
    node = next(iter(Reader(parse_url(str(tmp_path / "out" / "P1.zarr")))()))
    assert any(isinstance(spec, Plate) for spec in node.specs)
    assert node.metadata["channel_names"] == ["w1", "w2"]
    tiled = np.asarray(node.data[0][0, :, 0])  # (C, rows*H, cols*W): the plate as one image
    scan = scan_plate(plate)
    second = read_field(field_paths(scan.fields.iloc[1], scan.channels))  # well A02
    assert np.array_equal(np.moveaxis(tiled[:, :64, 80:160], 0, -1), second)


def test_time_points_planes_missing_and_unreadable_fields(tmp_path):
    plate = make_harmony_tz_plate(tmp_path / "src", skip=(("C05", 2, 2, 2),))
    bad = next((plate / "Images").glob("r02c03f01p02-ch2sk1*"))
    bad.write_bytes(b"II*\x00 truncated")
    summary = convert_plates([plate], tmp_path / "out")
    problems = pd.read_csv(tmp_path / "out" / PROBLEMS_FILE)
    assert len(problems) == 1 and summary.plates[0].failed == 1
    row = problems.iloc[0]
    assert (row["well"], row["site"], row["timepoint"], row["plane"]) == ("B03", 1, 1, 2)
    assert "cannot read the source field" in row["problem"] and bad.name in row["problem"]
    converted = scan_plate(tmp_path / "out" / "HZ.zarr")
    source = scan_plate(plate)
    assert len(converted.fields) == len(source.fields) - 1 == 2 * 2 * 2 * 2 - 2
    reasons = converted.problems.set_index(["well", "site"])["problem"]
    assert "not in the source plate" in reasons[("C05", 2)]
    assert "cannot read the source field" in reasons[("B03", 1)]
    ok = source.fields.drop(
        index=source.fields.index[
            (source.fields["well"] == "B03")
            & (source.fields["site"] == 1)
            & (source.fields["timepoint"] == 1)
            & (source.fields["plane"] == 2)
        ]
    )
    assert converted.fields[KEYS].reset_index(drop=True).equals(ok[KEYS].reset_index(drop=True))


def test_interrupted_run_resumes_to_identical_output(tmp_path, monkeypatch):
    plate = make_harmony_tz_plate(tmp_path / "src")
    reference = convert_plates([plate], tmp_path / "ref")
    calls = {"n": 0}
    real = plate_writer.read_field

    def failing(paths):
        calls["n"] += 1
        if calls["n"] == 7:  # inside the second site of the first well
            raise KeyboardInterrupt
        return real(paths)

    monkeypatch.setattr(plate_writer, "read_field", failing)
    with pytest.raises(KeyboardInterrupt):
        convert_plates([plate], tmp_path / "out")
    partial = scan_plate(tmp_path / "out" / "HZ.zarr")  # readable; unfinished parts are problems
    assert len(partial.fields) == 4  # the first site (2 time points x 2 planes)
    assert partial.problems["well"].tolist() == ["B03", "C05"]
    assert "not completely written by hcs convert" in partial.problems["problem"].iloc[0]
    assert partial.problems["problem"].str.contains("has not finished this plate").all()
    monkeypatch.setattr(plate_writer, "read_field", real)
    resumed = convert_plates([plate], tmp_path / "out")
    assert resumed.resumed == 4 and resumed.written == reference.written - 4
    assert store_files(tmp_path / "out" / "HZ.zarr") == store_files(tmp_path / "ref" / "HZ.zarr")
    assert (tmp_path / "out" / PROBLEMS_FILE).read_bytes() == (tmp_path / "ref" / PROBLEMS_FILE).read_bytes()
    again = convert_plates([plate], tmp_path / "out")
    assert again.written == 0 and again.resumed == reference.written


def test_refuses_foreign_or_changed_stores(tmp_path):
    plate = make_tiny_plate(tmp_path / "src", wells=("A01",), channels=2)
    zarr.open_group(str(tmp_path / "foreign" / "P1.zarr"), mode="w").attrs["plate"] = {}
    with pytest.raises(ConfigError, match="not a plate written by hcs convert"):
        convert_plates([plate], tmp_path / "foreign")
    convert_plates([plate], tmp_path / "out")
    with pytest.raises(ConfigError, match="pass --overwrite"):
        convert_plates([plate], tmp_path / "out", levels=2)
    assert convert_plates([plate], tmp_path / "out", levels=2, overwrite=True).written == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        convert_plates([plate], tmp_path / "file")
    with pytest.raises(ConfigError, match="named like a Zarr store"):
        convert_plates([plate], tmp_path / "out.zarr")
    with pytest.raises(ConfigError, match="NGFF version"):
        convert_plates([plate], tmp_path / "o2", ngff_version="0.3")
