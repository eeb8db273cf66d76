"""Rendering of single fields: format, determinism, defects and camera model."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.synth.phenotypes import DMSO_PARAMS, field_params, make_compound
from mcnn_infer.synth.render import Acquisition, render_field

SIZE = (96, 120)


def _render(seed=0, params=None, style="bipolar", acquisition=None, size=SIZE):
    return render_field(params or DMSO_PARAMS, style, size, np.random.default_rng(seed), acquisition)


def test_field_is_three_uint16_channels_quantised_like_a_12_bit_camera():
    image = _render()
    assert image.shape == (3, *SIZE) and image.dtype == np.uint16
    assert np.all(image % 16 == 0)
    for channel in image:
        background, bright = np.percentile(channel, [5, 99.5])
        assert 150 < background < 1000 and bright > background + 300


def test_same_seed_same_field_other_seed_other_field():
    assert np.array_equal(_render(seed=1), _render(seed=1))
    assert not np.array_equal(_render(seed=1), _render(seed=2))


def test_nearly_empty_fields_have_little_dna_stain():
    full = _render(acquisition=Acquisition()).astype(float)
    empty = _render(acquisition=Acquisition(nearly_empty=True)).astype(float)
    full_fg = (full[0] > np.percentile(full[0], 5) + 500).mean()
    empty_fg = (empty[0] > np.percentile(empty[0], 5) + 500).mean()
    assert empty_fg < 0.25 * full_fg


def test_out_of_focus_fields_lose_fine_detail():
    sharp = _render(acquisition=Acquisition(), size=(192, 240)).astype(float)
    blurred = _render(acquisition=Acquisition(out_of_focus=True), size=(192, 240)).astype(float)

    def detail(img):
        smooth = np.log1p(img[1])
        return np.abs(np.diff(smooth, axis=0)).mean() + np.abs(np.diff(smooth, axis=1)).mean()

    # Noise keeps some pixel-level differences; the structure-level drop is large.
    assert detail(blurred) < 0.8 * detail(sharp)


def test_vignetting_darkens_the_corners():
    flat = Acquisition(vignetting=0.0)
    dark = Acquisition(vignetting=0.5)
    empty = {**DMSO_PARAMS, "density": 0.05}
    a, b = (
        _render(params=empty, acquisition=flat).astype(float),
        _render(params=empty, acquisition=dark).astype(float),
    )
    corners = (slice(0, 12), slice(0, 12))
    assert b[2][corners].mean() < a[2][corners].mean() - 30


def test_batch_gain_scales_the_signal():
    low = _render(acquisition=Acquisition(gain=(0.5, 0.5, 0.5))).astype(float)
    high = _render(acquisition=Acquisition(gain=(1.5, 1.5, 1.5))).astype(float)
    assert (np.percentile(high, 99, axis=(1, 2)) > np.percentile(low, 99, axis=(1, 2)) * 1.5).all()


@pytest.mark.parametrize("style", ["bipolar", "monoaster", "multiaster", "scattered"])
def test_every_arrest_style_renders(style):
    params = {**DMSO_PARAMS, "arrest": 0.6}
    image = _render(params=params, style=style)
    assert image.shape == (3, *SIZE) and image.max() > image.min()


def test_mitotic_arrest_condenses_the_dna():
    compound = make_compound("x", "Eg5 inhibitors", np.random.default_rng(0))

    def dna_area(params, style):
        areas = []
        for seed in (3, 4):
            dapi = _render(seed=seed, params=params, style=style, size=(192, 240))[0].astype(float)
            areas.append((dapi > np.percentile(dapi, 5) + 500).mean())
        return np.mean(areas)

    assert dna_area(field_params(compound, 1.0), "monoaster") < 0.85 * dna_area(DMSO_PARAMS, "bipolar")
