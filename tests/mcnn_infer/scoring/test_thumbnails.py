"""Thumbnails made while scoring: composites, which fields, the table in the results folder."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from mcnn_infer.card import load_card
from mcnn_infer.errors import ConfigError
from mcnn_infer.images import read_field
from mcnn_infer.preprocess import preprocess_field
from mcnn_infer.results import KEYS, THUMBNAIL_COLUMNS, THUMBNAILS_FILE
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from mcnn_infer.scoring.thumbnails import (
    LONG_SIDE,
    MAX_QC_THUMBNAILS,
    PALETTE,
    composite,
    encode,
    representative_indices,
    thumbnail_size,
    thumbnails_table,
)


def test_composite_maps_channels_to_colours_and_keeps_the_aspect():
    field = np.zeros((512, 640, 3), np.float32)
    field[..., 0] = 1.0  # channel 1 only: blue
    rgb = composite(field)
    assert rgb.shape == (205, 256, 3) and rgb.dtype == np.uint8
    assert rgb[..., 2].min() == 255 and rgb[..., 1].max() < 100 and rgb[..., 0].max() == 0
    field[..., 1] = 0.5  # plus half green
    assert composite(field)[0, 0].tolist() == [0, 217, 255]
    assert thumbnail_size(64, 80) == (64, 80)  # never enlarged
    assert thumbnail_size(1024, 1280) == (205, LONG_SIDE)
    decoded = cv2.imdecode(np.frombuffer(encode(rgb), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == rgb.shape and abs(int(decoded[..., 0].mean()) - 255) < 8  # BGR: blue first
    with pytest.raises(ConfigError, match="expected \\(H, W, C\\) with 1..6 channels"):
        composite(np.zeros((8, 8, 7), np.float32))


def test_composite_of_many_channels_adds_the_same_colours():
    """5+ channels take numpy's per-channel sum (OpenCV's transform takes at most 4): same colours."""
    y, x = np.mgrid[0:1000, 0:1300].astype(np.float32)
    field = np.zeros((1000, 1300, 5), np.float32)
    for c in range(3):  # smooth, like cells at thumbnail scale (pixel noise averages away either way)
        field[..., c] = 0.5 + 0.4 * np.sin(x / (60 + 20 * c)) * np.cos(y / (90 - 10 * c))
    np.testing.assert_array_equal(composite(field), composite(field[..., :3]))
    want = np.clip(cv2.resize(field[..., :3], (256, 197), interpolation=cv2.INTER_AREA) @ PALETTE[:3], 0, 1)
    assert np.abs(composite(field).astype(float) - 255 * want).max() <= 2.0  # two-step area resize: 5x5 block means first


def test_representative_is_each_wells_first_field():
    fields = pd.DataFrame(
        {
            "plate": ["P1", "P1", "P1", "P2"],
            "well": ["B02", "B02", "B03", "B02"],
            "site": [2, 1, 3, 1],
            "timepoint": 1,
            "plane": 1,
            "_index": [10, 11, 12, 13],
        }
    )
    assert representative_indices(fields) == {11, 12, 13}


def test_qc_flagged_thumbnails_are_capped_per_plate():
    n = MAX_QC_THUMBNAILS + 5
    fields = pd.DataFrame(
        {
            "_index": range(n + 1),
            "plate": "P1",
            "well": "B02",
            "site": range(1, n + 2),
            "timepoint": 1,
            "plane": 1,
        }
    )
    thumbs = pd.DataFrame(
        {
            "_index": range(n + 1),
            "thumb_image": [b"x"] * (n + 1),
            "thumb_format": "jpeg",
            "thumb_width": 4,
            "thumb_height": 3,
            "thumb_why": ["representative"] + ["qc_flag"] * n,
        }
    )
    table = thumbnails_table(fields, thumbs)
    assert list(table.columns) == [*KEYS, *THUMBNAIL_COLUMNS]
    assert len(table) == 1 + MAX_QC_THUMBNAILS and table["cam"].isna().all()

    # problem rows of the field table (files that are no field) have no _index: never a thumbnail
    problems = pd.DataFrame({"_index": [np.nan, np.nan], "plate": "P1", "well": "Z99", "site": 1, "timepoint": 1})
    with_problems = pd.concat([fields, problems.assign(plane=1)], ignore_index=True)
    assert thumbnails_table(with_problems, thumbs).equals(table)


def test_scoring_writes_one_thumbnail_per_well_from_the_model_input(tiny_model, tmp_path):
    from tests.fixtures.tiny_plate import make_tiny_plate, well_names

    plate = make_tiny_plate(tmp_path / "p", wells=well_names(6), sites=2)
    out = tmp_path / "out"
    score_plates([plate], out, tiny_model, ScoreOptions(batch_size=4))
    thumbs = pd.read_parquet(out / THUMBNAILS_FILE)
    reps = thumbs[thumbs["thumb_why"] == "representative"]
    assert len(reps) == 6 and (reps["site"] == 1).all() and reps["well"].is_unique
    fields = pd.read_parquet(out / "fields.parquet")
    flagged = fields[(fields["qc_empty"] | fields["qc_saturated"]) & (fields["site"] > 1)]
    extra = thumbs[thumbs["thumb_why"] == "qc_flag"]
    assert sorted(zip(extra["well"], extra["site"], strict=True)) == sorted(
        zip(flagged["well"], flagged["site"], strict=True)
    )
    assert thumbs["thumb_image"].map(len).max() < 20_000
    fields = fields.set_index(["well", "site"])
    first = reps.iloc[0]
    card = load_card(tiny_model)
    raw = read_field([fields.loc[(first["well"], 1), f"path_{c}"] for c in ("w1", "w2", "w4")])
    expected = composite(preprocess_field(raw, card.normalization, card.input.size))
    got = cv2.imdecode(np.frombuffer(first["thumb_image"], np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert got.shape == expected.shape == (64, 80, 3)
    assert np.abs(got.astype(int) - expected).mean() < 6  # lossy JPEG of the same composite
    off = tmp_path / "off"
    score_plates([plate], off, tiny_model, ScoreOptions(batch_size=4, thumbnails=False))
    assert not (off / THUMBNAILS_FILE).exists()
