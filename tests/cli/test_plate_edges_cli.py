"""Plates at the edges, from the command line: z-stacks, wells outside every format, NGFF versions
from the future, and a field whose header lies among good fields."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from mcnn_infer.images import read_image
from mcnn_infer.plates import scan_plate
from mcnn_infer.plates.ome_zarr import NgffVersionWarning
from tests.fixtures.ngff_plate import write_ngff_plate
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate


@pytest.fixture(scope="module")
def ngff_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("ngff-model") / "m", channels=("DAPI", "GFP"), size=(16, 20))


@pytest.fixture(scope="module")
def zstack(tmp_path_factory) -> tuple[Path, dict]:
    """An OME-Zarr plate whose fields have 3 z-planes (t=1, c=2, z=3, 16x20)."""
    store = tmp_path_factory.mktemp("zstack") / "Z.zarr"
    pixels = write_ngff_plate(store, version="0.5", wells=("B/3", "C/5"), fields=2, shape=(1, 2, 3, 16, 20))
    return store, pixels


def test_zstack_without_a_choice_is_refused_naming_the_option(hcs, ngff_model, zstack, tmp_path):
    store, _ = zstack
    result = hcs("score", store, "--model", ngff_model, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "up to 3 z-planes per field" in message and "--planes max" in message
    assert not (tmp_path / "out" / "fields.csv").exists()


def test_plates_shows_the_planes(hcs, zstack):
    store, _ = zstack
    result = hcs("plates", store)
    assert result.exit_code == 0, result.stderr
    assert "z-planes" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "ngff-plate" in line and "│" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[7:9] == ["1", "3"]  # time points, z-planes
    assert "ngff-plate: 3 z-planes per field" in " ".join(result.stdout.split())


def test_zstack_scored_as_chosen_and_recorded(hcs, ngff_model, zstack, tmp_path):
    store, pixels = zstack
    out = tmp_path / "max"
    result = hcs("score", store, "--model", ngff_model, "--out", out, "--planes", "max", "--quiet")
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv")
    assert len(fields) == 4 and (fields["status"] == "ok").all() and (fields["plane"] == 0).all()
    first = fields.iloc[0]
    assert (first["well"], first["site"]) == ("B03", 1)
    expected = pixels[("B/3", "0")][0].max(axis=1)  # (c, y, x): the maximum over z
    np.testing.assert_array_equal(read_image(first["path_DAPI"]), expected[0])
    np.testing.assert_array_equal(read_image(first["path_GFP"]), expected[1])
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["planes"] == "max"

    # the choice is part of the resume fingerprint: another choice in the same folder is refused
    other = hcs("score", store, "--model", ngff_model, "--out", out, "--planes", "2", "--quiet")
    assert other.exit_code == 2 and "options.planes ('max' -> '2')" in other.stderr

    one = tmp_path / "plane2"
    assert hcs("score", store, "--model", ngff_model, "--out", one, "--planes", "2", "--quiet").exit_code == 0
    fields = pd.read_csv(one / "fields.csv")
    assert (fields["plane"] == 2).all() and fields["path_DAPI"].str.endswith("c=0&z=1").all()


def test_wells_outside_every_format_are_skipped_with_their_reason(hcs, tmp_path):
    model = make_tiny_model(tmp_path / "m")
    plate = make_tiny_plate(tmp_path / "plates", wells=("B02", "B03"))
    for image in sorted(plate.glob("P1_B02_*.tif")):
        shutil.copy(image, plate / image.name.replace("_B02_", "_Z99_"))
        shutil.copy(image, plate / image.name.replace("_B02_", "_A49_"))
    out = tmp_path / "out"
    result = hcs("score", plate, "--model", model, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv").set_index("well")
    assert fields.loc[["B02", "B03"], "status"].eq("ok").all()
    for well in ("Z99", "A49"):
        assert fields.loc[well, "status"] == "skipped"
        assert fields.loc[well, "reason"].startswith(f"well {well} is outside every plate format")


def _set_version(store: Path, layout: str, version: str) -> None:
    if layout == "0.5":
        meta_file = store / "zarr.json"
        meta = json.loads(meta_file.read_text())
        meta["attributes"]["ome"]["version"] = version
    else:
        meta_file = store / ".zattrs"
        meta = json.loads(meta_file.read_text())
        meta["plate"]["version"] = version
    meta_file.write_text(json.dumps(meta))


@pytest.mark.parametrize("layout", ["0.4", "0.5"])
def test_ngff_version_from_the_future_is_read_where_it_fits_with_one_warning(hcs, tmp_path, layout):
    store = tmp_path / "future.zarr"
    write_ngff_plate(store, version=layout, wells=("B/3", "C/5"), fields=2, shape=(1, 2, 1, 8, 8))
    _set_version(store, layout, "9.9")
    # one field whose metadata fits no known version (no multiscales): a problem naming the version
    meta_name = "zarr.json" if layout == "0.5" else ".zattrs"
    meta_file = store / "C" / "5" / "1" / meta_name
    meta = json.loads(meta_file.read_text())
    attrs = meta["attributes"]["ome"] if layout == "0.5" else meta
    attrs["pyramid"] = attrs.pop("multiscales")
    meta_file.write_text(json.dumps(meta))

    with pytest.warns(NgffVersionWarning, match=r"version '9.9'.*3 fields read, 1 problems listed"):
        scan = scan_plate(store)
    assert sorted(zip(scan.fields["well"], scan.fields["site"], strict=True)) == [("B03", 1), ("B03", 2), ("C05", 1)]
    problem = scan.problems.set_index(["well", "site"]).loc[("C05", 2), "problem"]
    assert "no 'multiscales' metadata" in problem and "declares OME-NGFF version 9.9" in problem

    result = hcs("plates", store)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("hcs: warning:")]
    assert len(warnings) == 1 and "OME-NGFF version '9.9'" in warnings[0]


def test_known_versions_give_no_warning(tmp_path, recwarn):
    store = tmp_path / "now.zarr"
    write_ngff_plate(store, version="0.5", wells=("B/3",), fields=1, shape=(1, 2, 1, 8, 8))
    scan_plate(store)
    assert not [w for w in recwarn if issubclass(w.category, NgffVersionWarning)]


@pytest.mark.parametrize("bad", ["B/3/0", "C/5/1"])
def test_zarr_field_declaring_1e12_pixels_among_good_fields_is_skipped(hcs, ngff_model, tmp_path, bad):
    store = tmp_path / "P.zarr"
    write_ngff_plate(store, version="0.5", wells=("B/3", "C/5"), fields=2, shape=(1, 2, 1, 16, 20))
    level = store / bad / "s0"
    shutil.rmtree(level)
    zarr.create_array(str(level), shape=(1, 2, 1, 10**6, 10**6), chunks=(1, 1, 1, 16, 20), dtype="uint16")
    out = tmp_path / "out"
    result = hcs("score", store, "--model", ngff_model, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv")
    skipped = fields[fields["status"] == "skipped"]
    assert len(fields) == 4 and len(skipped) == 1
    well, site = bad.split("/")[0] + "0" + bad.split("/")[1], int(bad.split("/")[2]) + 1
    assert (skipped.iloc[0]["well"], skipped.iloc[0]["site"]) == (well, site)
    assert "1000000000000 pixels, more than the limit" in skipped.iloc[0]["reason"]
    assert (out / "run.json").is_file()


def test_zarr_field_declaring_too_many_planes_is_a_problem(tmp_path):
    store = tmp_path / "P.zarr"
    write_ngff_plate(store, version="0.5", wells=("B/3",), fields=2, shape=(1, 2, 1, 16, 20))
    level = store / "B/3/1" / "s0"
    shutil.rmtree(level)
    zarr.create_array(str(level), shape=(10**9, 2, 1, 16, 20), chunks=(1, 1, 1, 16, 20), dtype="uint16")
    scan = scan_plate(store)
    assert scan.fields["site"].tolist() == [1]
    assert "declares 2000000000 planes" in scan.problems.iloc[0]["problem"]


def test_tiff_first_field_declaring_too_many_pixels_does_not_stop_the_plate(hcs, tmp_path):
    import tifffile

    model = make_tiny_model(tmp_path / "m")
    plate = make_tiny_plate(tmp_path / "plates", wells=("B02", "B03", "C02"))
    first = sorted(plate.glob("P1_B02_s1_w1*.tif"))[0]
    with tifffile.TiffFile(first, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(1_000_000)
        tif.pages[0].tags["ImageLength"].overwrite(1_000_000)
    out = tmp_path / "out"
    result = hcs("score", plate, "--model", model, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv").set_index("well")
    assert fields.loc["B02", "status"] == "skipped" and "more than the limit" in fields.loc["B02", "reason"]
    assert fields.loc[["B03", "C02"], "status"].eq("ok").all()


def test_tiff_zstack_through_a_pattern(hcs, tmp_path):
    """Any layout: a TIFF z-stack named by --pattern is refused without --planes and projected with it."""
    import tifffile

    model = make_tiny_model(tmp_path / "m", channels=("w1", "w2"), size=(8, 8))
    plate = tmp_path / "P1"
    plate.mkdir()
    rng = np.random.default_rng(0)
    stacks = {}
    for well in ("B02", "B03"):
        for channel in (1, 2):
            planes = rng.integers(0, 60000, size=(4, 8, 8), dtype=np.uint16)
            stacks[(well, channel)] = planes
            for z, plane in enumerate(planes, start=1):
                tifffile.imwrite(plate / f"{well}_z{z}_w{channel}.tif", plane)
    pattern = r"(?P<well>[A-P]\d{2})_z(?P<plane>\d)_(?P<channel>w\d)\.tif"
    refused = hcs("score", plate, "--model", model, "--out", tmp_path / "o1", "--pattern", pattern, "--quiet")
    assert refused.exit_code == 2 and "up to 4 z-planes" in refused.stderr
    out = tmp_path / "o2"
    args = ["--model", model, "--out", out, "--pattern", pattern, "--planes", "mean", "--quiet"]
    result = hcs("score", plate, *args)
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv")
    assert fields["well"].tolist() == ["B02", "B03"] and (fields["status"] == "ok").all()
    expected = np.rint(stacks[("B03", 2)].astype(np.float64).mean(axis=0)).astype(np.uint16)
    np.testing.assert_array_equal(read_image(fields.iloc[1]["path_w2"]), expected)


def test_wells_beyond_the_plate_maps_format_are_skipped(hcs, tmp_path):
    model = make_tiny_model(tmp_path / "m")
    plate = make_tiny_plate(tmp_path / "plates", wells=("B02", "B03", "M05"))
    plate_map = tmp_path / "map.csv"
    plate_map.write_text(
        "plate,well,compound,concentration,role,label\nP1,B02,DMSO,0,negative,\nP1,B03,cpd,1,treated,\n"
        "P1,H12,cpd,2,treated,\n"
    )
    out = tmp_path / "out"
    result = hcs("score", plate, "--model", model, "--out", out, "--metadata", plate_map, "--quiet")
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv").set_index("well")
    assert fields.loc[["B02", "B03"], "status"].eq("ok").all()
    assert fields.loc["M05", "status"] == "skipped"
    assert fields.loc["M05", "reason"].startswith(
        "well M05 is outside the 96-well format of this plate (rows A-H, columns 1-12), the format of plate "
        "P1's wells in the plate map"
    )
    # without the plate map the wells give the format (384): M05 is scored
    plain = tmp_path / "plain"
    assert hcs("score", plate, "--model", model, "--out", plain, "--quiet").exit_code == 0
    assert pd.read_csv(plain / "fields.csv")["status"].eq("ok").all()
