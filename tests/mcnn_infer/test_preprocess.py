"""The shared preprocessing: area resize and per-channel normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.errors import ConfigError, ModelCardError
from mcnn_infer.preprocess import Normalization, area_resize, fit_normalization, normalize, preprocess_field


def test_integer_factor_is_block_mean():
    image = np.arange(8 * 12 * 2, dtype=np.uint16).reshape(8, 12, 2)
    out = area_resize(image, (4, 3))
    assert out.shape == (4, 3, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 2, 1], image[2:4, 8:12, 1].mean())


def test_fractional_factor_preserves_mean_and_constants():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4096, (100, 130, 3)).astype(np.uint16)
    out = area_resize(image, (64, 80))
    assert out.shape == (64, 80, 3)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), image.mean(axis=(0, 1)), rtol=2e-3)
    flat = area_resize(np.full((100, 130, 1), 7, np.uint16), (64, 80))
    np.testing.assert_allclose(flat, 7.0, rtol=1e-6)
    # a bright column stays where it was, spread over the output pixels that cover it
    line = np.zeros((10, 30, 1), np.float32)
    line[:, 14] = 30.0
    resized = area_resize(line, (10, 20))
    assert resized[:, 9].mean() > 0 and resized[:, :8].max() == 0 and resized[:, 11:].max() == 0
    assert resized.sum() == pytest.approx(line.sum() * (20 / 30))


def test_same_size_is_a_no_op_copy_free():
    image = np.ones((16, 20, 2), np.float32)
    assert area_resize(image, (16, 20)) is image


def test_fit_and_apply_normalisation():
    rng = np.random.default_rng(1)
    fields = [np.stack([rng.normal(100, 10, (32, 40)), rng.normal(1000, 50, (32, 40))], -1) for _ in range(3)]
    norm = fit_normalization(fields, percentiles=(1, 99))
    assert norm.n_fields == 3 and norm.n_channels == 2
    assert 60 < norm.low[0] < 100 < norm.high[0] < 140
    out = preprocess_field(fields[0], norm, (16, 20))
    assert out.shape == (16, 20, 2) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 and 0.3 < out.mean() < 0.7
    again = Normalization.from_dict(norm.to_dict())
    assert again == norm


def test_bad_normalisation_values_and_shapes():
    with pytest.raises(ConfigError, match="high > low"):
        Normalization(low=(5.0,), high=(5.0,))
    with pytest.raises(ConfigError, match="one low and one high"):
        Normalization(low=(0.0, 1.0), high=(2.0,))
    with pytest.raises(ModelCardError, match="normalization in card.json is invalid"):
        Normalization.from_dict({"low": [0]}, "card.json")
    norm = Normalization(low=(0.0,), high=(10.0,))
    with pytest.raises(ConfigError, match="3 channels"):
        normalize(np.zeros((4, 4, 3)), norm)
    with pytest.raises(ConfigError, match=r"\(H, W, C\)"):
        preprocess_field(np.zeros((4, 4)), norm, (2, 2))


def test_five_channels_and_upscaling():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (50, 70, 5)).astype(np.uint8)
    out = area_resize(image, (32, 40))
    assert out.shape == (32, 40, 5) and out.dtype == np.float32
    for c in range(5):  # channels resized in groups of 4 (OpenCV's limit) equal one at a time: no mixing
        np.testing.assert_allclose(out[..., c], area_resize(image[..., c : c + 1], (32, 40))[..., 0])
    up = area_resize(np.full((8, 10, 2), 3, np.uint16), (20, 24))
    assert up.shape == (20, 24, 2)
    np.testing.assert_allclose(up, 3.0, rtol=1e-6)


_CONCURRENT_RESIZE = """
import faulthandler, sys, threading
import numpy as np
faulthandler.dump_traceback_later(float(sys.argv[1]), exit=True)  # a hang prints every thread's stack
from mcnn_infer.preprocess import area_resize
rng = np.random.default_rng(0)
images = [rng.integers(0, 4096, (500 + 7 * k, 630 + 5 * k, 3)).astype(np.uint16) for k in range(8)]
expected = [area_resize(im, (64, 80)) for im in images]
failures = []
def work(k):
    for _ in range(20):
        if not np.array_equal(area_resize(images[k], (64, 80)), expected[k]):
            failures.append(k)
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
a = rng.random((512, 512))
print("ok", len(failures), float(np.trace(a @ a.T)) > 0)  # BLAS in the main thread afterwards
"""


def test_resize_from_eight_threads_then_blas_does_not_hang():
    """A deadlock here (numpy's OpenBLAS entered from several threads) fails within 120 s with a thread dump."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _CONCURRENT_RESIZE, "120"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"concurrent resize hung or failed:\n{done.stderr[-4000:]}"
    assert done.stdout.split() == ["ok", "0", "True"]


def test_tile_offsets_cover_the_field_evenly():
    from mcnn_infer.preprocess import tile_offsets

    assert tile_offsets((640, 640), (256, 256)) == [(y, x) for y in (0, 192, 384) for x in (0, 192, 384)]
    assert tile_offsets((256, 256), (256, 256)) == [(0, 0)]
    assert tile_offsets((1024, 1280), (512, 512)) == [(y, x) for y in (0, 512) for x in (0, 384, 768)]
    for field, tile in (((640, 640), (128, 128)), ((500, 700), (256, 128))):
        offsets = tile_offsets(field, tile)
        covered = np.zeros(field, bool)
        for y, x in offsets:
            assert 0 <= y <= field[0] - tile[0] and 0 <= x <= field[1] - tile[1]
            covered[y : y + tile[0], x : x + tile[1]] = True
        assert covered.all()


def test_tile_larger_than_the_field_is_refused():
    from mcnn_infer.preprocess import tile_offsets

    with pytest.raises(ConfigError, match="tile width 512 px: expected 1 to the field width"):
        tile_offsets((640, 480), (256, 512))
