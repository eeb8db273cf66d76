"""The cheaper loader computes what the earlier one did: QC measures and flags, preprocessed fields.

References below are the earlier implementations, written out here: image QC with ``np.median`` on
the (H, W, C) field, and the integer-factor area resize as numpy block means.
"""

from __future__ import annotations

import glob

import numpy as np
import pytest
import tifffile

from mcnn_infer.image_qc import image_qc
from mcnn_infer.images import read_field, read_planes
from mcnn_infer.preprocess import Normalization, preprocess_field, preprocess_planes
from tests.conftest import SHARED_DATA
from tests.fixtures.tiny_plate import make_tiny_plate, well_names


def reference_qc(raw: np.ndarray) -> dict:
    """image_qc before the loader work (one field, channels last)."""
    sat = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else 1.0
    fg, sat_frac, focus = 0.0, 0.0, []
    for c in range(raw.shape[2]):
        ch = raw[:, :, c]
        sub = ch[::4, ::4].astype(np.float32).ravel()
        med = float(np.median(sub))
        mad = float(np.median(np.abs(sub - med)))
        thr = med + 5.0 * 1.4826 * max(mad, 1e-6 if raw.dtype.kind == "f" else 0.5)
        fg = max(fg, float(np.count_nonzero(sub > thr)) / sub.size)
        sat_frac = max(sat_frac, float(np.count_nonzero(sub >= sat)) / sub.size)
        # integer pixels: the variances in float64 (image_qc sums them in float64; float pixels keep float32)
        x = ch[::2, ::2].astype(np.float64 if raw.dtype.kind in "ui" else np.float32)
        lap = 4.0 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
        var = float(x.var())
        focus.append(float(lap.var()) / var if var > 0 else 0.0)
    return {
        "fg_fraction": fg,
        "sat_fraction": sat_frac,
        "focus": float(np.mean(focus)),
        "qc_empty": fg < 0.005,
        "qc_saturated": sat_frac > 0.01,
    }


def assert_same_qc(got: dict, want: dict) -> None:
    """Flags, foreground and saturation fractions to the bit; focus (float64 sums in a different order) to 1e-9."""
    assert {k: v for k, v in got.items() if k != "focus"} == {k: v for k, v in want.items() if k != "focus"}
    assert got["focus"] == pytest.approx(want["focus"], rel=1e-9, abs=1e-12)


def _fixture_fields(tmp_path) -> list[np.ndarray]:
    """Fields of the test plates (uint16 and uint8 random texture, odd sizes), the real BBBC021 and sbs96
    channel files, and fields made to be flagged: nearly empty, saturated, flat."""
    fields = []
    for dtype, size in ((np.uint16, (64, 80)), (np.uint8, (61, 83)), (np.uint16, (1024, 1280))):
        wells = well_names(4 if size[0] < 1000 else 1)
        plate = make_tiny_plate(
            tmp_path / f"{np.dtype(dtype).name}-{size[0]}", wells=wells, size=size, dtype=dtype
        )
        files = sorted(plate.glob("*.tif"))
        fields += [read_field(files[k : k + 3]) for k in range(0, len(files), 3)]
    real = (
        sorted(glob.glob(str(SHARED_DATA / "bbbc021" / "*.tif")))[:3]
        + sorted(glob.glob(str(SHARED_DATA / "sbs96" / "**" / "*.tif"), recursive=True))[:2]
    )
    fields += [tifffile.imread(f)[:, :, None] for f in real]
    rng = np.random.default_rng(3)
    empty = rng.normal(200, 3, (96, 120, 3)).clip(0).astype(np.uint16)
    saturated = empty.copy()
    saturated[:40, :60, 1] = 65535
    flat = np.full((50, 70, 2), 9, np.uint8)
    return [*fields, empty, saturated, flat]


def test_qc_measures_and_flags_are_unchanged_on_the_fixtures(tmp_path):
    fields = _fixture_fields(tmp_path)
    flagged = {"qc_empty": 0, "qc_saturated": 0}
    for raw in fields:
        want = reference_qc(raw)
        for got in (image_qc(raw), image_qc([raw[:, :, c] for c in range(raw.shape[2])])):
            assert {k: got[k] for k in ("qc_empty", "qc_saturated")} == {
                k: want[k] for k in ("qc_empty", "qc_saturated")
            }
            # integer pixels: the histogram medians are the partition's, to the bit
            assert_same_qc(got, want)
        for key in flagged:
            flagged[key] += bool(want[key])
    assert flagged["qc_empty"] >= 2 and flagged["qc_saturated"] >= 1  # the flags were exercised


def test_float_fields_keep_the_partition_median():
    rng = np.random.default_rng(0)
    raw = rng.random((40, 52, 2), dtype=np.float32)
    assert image_qc(raw) == reference_qc(raw)


@pytest.mark.parametrize(
    ("shape", "size"), [((1024, 1280, 3), (128, 128)), ((64, 80, 3), (32, 40)), ((100, 130, 3), (64, 80))]
)
def test_preprocessing_planes_equals_the_field_and_the_block_mean(shape, size):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 65535, shape).astype(np.uint16)
    norm = Normalization(low=(100.0, 50.0, 0.0), high=(60000.0, 30000.0, 65535.0))
    planes = [np.ascontiguousarray(raw[:, :, c]) for c in range(3)]
    got = preprocess_planes(planes, norm, size)
    np.testing.assert_array_equal(got, preprocess_field(raw, norm, size))
    if shape[0] % size[0] == 0 and shape[1] % size[1] == 0:  # the earlier numpy block mean
        fy, fx = shape[0] // size[0], shape[1] // size[1]
        blocks = (
            raw.reshape(size[0], fy, size[1], fx, 3).astype(np.float32).mean(axis=(1, 3), dtype=np.float32)
        )
        low, high = np.float32(norm.low), np.float32(norm.high)
        want = np.clip((blocks - low) * (np.float32(1.0) / (high - low)), 0.0, 1.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_a_field_at_the_model_size_is_normalised_from_camera_counts(tmp_path):
    plate = make_tiny_plate(tmp_path, wells=["B02"], size=(64, 80))
    paths = sorted(str(p) for p in plate.glob("*.tif"))
    norm = Normalization(low=(0.0,) * 3, high=(65535.0,) * 3)
    raw = read_field(paths)
    want = raw.astype(np.float32) / np.float32(65535.0)
    np.testing.assert_allclose(preprocess_planes(read_planes(paths), norm, (64, 80)), want, rtol=1e-6)


@pytest.mark.parametrize("channels", [1, 3, 5])
@pytest.mark.parametrize("shape", [(1024, 1280), (7, 3000), (3, 5)])
def test_blocked_normalisation_is_the_per_pixel_formula_to_the_bit(shape, channels):
    """Blocks of rows (1024x1280: 102 rows a block, and a remainder), merged channels, 5 channels (no merge)."""
    rng = np.random.default_rng(channels)
    planes = [rng.integers(0, 65535, shape).astype(np.uint16) for _ in range(channels)]
    lows = tuple(float(v) for v in rng.uniform(0, 500, channels))
    highs = tuple(float(v) for v in rng.uniform(20000, 60000, channels))
    want = np.stack(
        [
            np.clip(
                (p.astype(np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo)), np.float32(0), np.float32(1)
            )
            for p, lo, hi in zip(planes, lows, highs, strict=True)
        ],
        axis=-1,
    )
    got = preprocess_planes(planes, Normalization(low=lows, high=highs), shape)
    np.testing.assert_array_equal(got, want)
    batch = np.zeros((2, *shape, channels), np.float32)  # a row of a batch, as the loader writes it
    preprocess_planes(planes, Normalization(low=lows, high=highs), shape, out=batch[1])
    np.testing.assert_array_equal(batch[1], want)
    assert not batch[0].any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_histogram_statistics_match_the_partition_on_many_distributions(dtype):
    """Medians, MAD, foreground threshold and saturation from one histogram: the earlier numbers, to the bit
    (and the focus of the float64 variances)."""
    rng = np.random.default_rng(7)
    top = np.iinfo(dtype).max
    for k in range(60):
        shape = (int(rng.integers(12, 90)), int(rng.integers(12, 90)), int(rng.integers(1, 4)))
        kind = k % 4
        if kind == 0:  # background with a few bright objects
            raw = rng.poisson(rng.uniform(1, top / 20), shape).astype(float)
            raw[rng.random(shape) < 0.05] = rng.uniform(top / 4, top)
        elif kind == 1:  # nearly flat
            raw = np.full(shape, rng.uniform(0, top)) + rng.integers(0, 3, shape)
        elif kind == 2:  # bimodal, partly saturated
            raw = np.where(rng.random(shape) < 0.5, rng.uniform(0, top / 3), top) + rng.normal(0, 2, shape)
        else:  # uniform over the whole range
            raw = rng.uniform(0, top + 1, shape)
        raw = np.clip(raw, 0, top).astype(dtype)
        assert_same_qc(image_qc(raw), reference_qc(raw))
