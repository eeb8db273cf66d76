"""Safe TIFF reading on real files and on every kind of broken file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from mcnn_infer import image_checks
from mcnn_infer.errors import ChannelMismatchError, ImageReadError
from mcnn_infer.images import image_info, read_field, read_image

BBBC021_FIELD = "Week1_150607_C02_s3_w1E54F0108-F44A-4F6E-9637-6A9DE80F0823.tif"


def test_real_16bit_bbbc021_field(shared_data):
    path = shared_data / "bbbc021" / BBBC021_FIELD
    data = read_image(path)
    assert data.shape == (1024, 1280) and data.dtype == np.uint16
    assert 0 < data.mean() < 65535 and data.max() > data.min()
    info = image_info(path)
    assert (info.height, info.width, info.bit_depth) == (1024, 1280, 16)


def test_real_8bit_palette_sbs_field_gives_raw_intensities(shared_data):
    gfp = shared_data / "sbs96" / "Channel1-01-A-01.tif"
    dna = shared_data / "sbs96" / "Channel2-01-A-01.tif"
    with tifffile.TiffFile(gfp) as tif:
        expected = tif.pages[0].asarray()
    field = read_field([gfp, dna])
    assert field.shape == (640, 640, 2) and field.dtype == np.uint8
    np.testing.assert_array_equal(field[..., 0], expected)
    assert image_info(gfp).bit_depth == 8


def test_compressed_tiff(tmp_path):
    data = np.arange(64 * 80, dtype=np.uint16).reshape(64, 80)
    tifffile.imwrite(tmp_path / "z.tif", data, compression="zlib")
    np.testing.assert_array_equal(read_image(tmp_path / "z.tif"), data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello, not a tiff at all", "not a readable TIFF"),
        (b"II*\x00\x08\x00\x00\x00\xff", "TIFF"),
    ],
)
def test_broken_files(tmp_path, content, message):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_truncated_tiff(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 4000, (256, 256), dtype=np.uint16))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ImageReadError, match=str(path)):
        read_image(path)


def test_huge_declared_size_is_refused_before_allocation(tmp_path):
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((2, 2), np.uint16))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(200_000)
        tif.pages[0].tags["ImageLength"].overwrite(200_000)
    with pytest.raises(ImageReadError, match="more than the limit"):
        read_image(path)


def test_limit_is_configurable(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((20, 20), np.uint8))
    monkeypatch.setattr(image_checks, "MAX_PIXELS", 100)
    with pytest.raises(ImageReadError, match="400 pixels"):
        read_image(tmp_path / "a.tif")


def test_nan_in_float_tiff_and_unsupported_dtype_and_rgb(tmp_path):
    data = np.ones((8, 8), np.float32)
    data[2, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", data)
    with pytest.raises(ImageReadError, match="1 NaN or infinite"):
        read_image(tmp_path / "nan.tif")
    tifffile.imwrite(tmp_path / "c.tif", np.ones((8, 8), np.complex64))
    with pytest.raises(ImageReadError, match="pixel type complex64"):
        read_image(tmp_path / "c.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.ones((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(ImageReadError, match="single-channel"):
        read_image(tmp_path / "rgb.tif")


def test_channels_of_a_field_must_agree(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((8, 8), np.uint16))
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((8, 9), np.uint16))
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ChannelMismatchError, match="8x9"):
        read_field([tmp_path / "a.tif", tmp_path / "b.tif"])
    with pytest.raises(ChannelMismatchError, match="uint8"):
        read_field([tmp_path / "a.tif", tmp_path / "c.tif"])
    assert read_field([tmp_path / "a.tif", tmp_path / "a.tif"]).shape == (8, 8, 2)
