"""Plane locators: build/parse, dispatch from read_image / image_info, and the safety checks."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from mcnn_infer import image_checks
from mcnn_infer.errors import ImageReadError
from mcnn_infer.images import image_info, read_image
from mcnn_infer.zarr_planes import is_plane_locator, make_locator, parse_locator


def _array(path, data, zarr_format=3):
    array = zarr.create_array(
        str(path),
        shape=data.shape,
        chunks=(1, 1, 1, *data.shape[-2:]),
        dtype=data.dtype,
        zarr_format=zarr_format,
    )
    array[...] = data
    return path


def test_locator_round_trip_and_detection(tmp_path):
    text = make_locator(tmp_path / "p.zarr/B/3/0/0", [("t", 0), ("c", 1), ("z", 2)])
    assert text == f"{tmp_path}/p.zarr/B/3/0/0#t=0&c=1&z=2"
    parsed = parse_locator(text)
    assert parsed.array == f"{tmp_path}/p.zarr/B/3/0/0" and parsed.selection == (("t", 0), ("c", 1), ("z", 2))
    assert str(parsed) == text and parsed.index[:3] == (0, 1, 2)
    assert make_locator("/a/yx", []) == "/a/yx#" and is_plane_locator("/a/yx#")
    for not_locator in ("/data/plate/img_w1.tif", "relative/a#c=1", "/a/b#c=1&q=2", "/a/b#c=x"):
        assert not is_plane_locator(not_locator)
    with pytest.raises(ValueError):
        make_locator("/a", [("c", 0), ("c", 1)])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_read_image_reads_one_plane(tmp_path, zarr_format):
    data = np.arange(2 * 3 * 2 * 5 * 7, dtype=np.uint16).reshape(2, 3, 2, 5, 7)
    path = _array(tmp_path / "a", data, zarr_format)
    locator = make_locator(path, [("t", 1), ("c", 2), ("z", 0)])
    assert np.array_equal(read_image(locator), data[1, 2, 0])
    info = image_info(locator)
    assert (info.height, info.width, info.dtype, info.bit_depth) == (5, 7, "uint16", 16)


def test_bad_planes_raise_naming_the_locator(tmp_path, monkeypatch):
    data = np.zeros((1, 2, 1, 4, 5), dtype=np.float32)
    data[0, 1, 0, 0, 0] = np.nan
    path = _array(tmp_path / "f", data)
    nan = make_locator(path, [("t", 0), ("c", 1), ("z", 0)])
    with pytest.raises(ImageReadError, match="1 NaN or infinite") as err:
        read_image(nan)
    assert nan in str(err.value)
    with pytest.raises(ImageReadError, match="c=5 is out of range"):
        read_image(make_locator(path, [("t", 0), ("c", 5), ("z", 0)]))
    with pytest.raises(ImageReadError, match="selects 2 axes"):
        read_image(make_locator(path, [("t", 0), ("c", 0)]))
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(make_locator(tmp_path / "missing", [("c", 0)]))
    monkeypatch.setattr(image_checks, "MAX_PIXELS", 10)
    with pytest.raises(ImageReadError, match="more than the limit"):
        image_info(make_locator(path, [("t", 0), ("c", 0), ("z", 0)]))
    monkeypatch.undo()
    complex_path = tmp_path / "cx"
    zarr.create_array(str(complex_path), shape=(1, 4, 4), dtype=np.complex64)
    with pytest.raises(ImageReadError, match="pixel type complex64"):
        read_image(make_locator(complex_path, [("c", 0)]))


def test_corrupt_chunk_is_an_image_read_error(tmp_path):
    data = np.ones((1, 1, 1, 6, 6), dtype=np.uint8)
    path = _array(tmp_path / "c", data)
    chunk = next(p for p in path.rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"not zstd")
    with pytest.raises(ImageReadError, match="could not be read"):
        read_image(make_locator(path, [("t", 0), ("c", 0), ("z", 0)]))


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_an_array_rewritten_in_place_is_read_anew(tmp_path, zarr_format):
    import shutil

    path = tmp_path / "a"
    _array(path, np.full((1, 2, 1, 4, 5), 7, np.uint16), zarr_format)
    locator = make_locator(path, [("t", 0), ("c", 1), ("z", 0)])
    assert read_image(locator).shape == (4, 5) and read_image(locator)[0, 0] == 7  # the second read is cached
    shutil.rmtree(path)
    _array(path, np.full((1, 2, 1, 6, 3), 9, np.uint8), zarr_format)  # new shape and dtype, same path
    plane = read_image(locator)
    assert plane.shape == (6, 3) and plane.dtype == np.uint8 and plane[0, 0] == 9
    assert image_info(locator).bit_depth == 8
