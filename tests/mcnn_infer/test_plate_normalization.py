"""Per-plate normalisation: each plate's own percentiles, fitted identically wherever it is needed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from mcnn_infer import plate_normalization
from mcnn_infer.card import ModelCard
from mcnn_infer.errors import ConfigError, ModelCardError, PlateError
from mcnn_infer.images import read_field
from mcnn_infer.plate_normalization import SAMPLE_FIELDS, PlateNormalizer, fit_plate, spread_rows
from mcnn_infer.plates import scan_plate
from mcnn_infer.preprocess import Normalization, preprocess_field
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names

TEMPLATE = Normalization(low=(0.0, 0.0, 0.0), high=(65535.0,) * 3, method="plate")


def shifted_copy(source_plate, root, name: str, gain: float, offset: float):
    """Write ``root/name``: the same fields as ``source_plate`` with intensities ``gain * x + offset``."""
    folder = root / name
    folder.mkdir()
    prefix = source_plate.name
    for path in sorted(source_plate.iterdir()):
        image = tifffile.imread(path).astype(np.float64)
        tifffile.imwrite(
            folder / path.name.replace(prefix, name, 1),
            np.clip(np.round(gain * image + offset), 0, 65535).astype(np.uint16),
        )
    return folder


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    root = tmp_path_factory.mktemp("plates")
    first = make_tiny_plate(root, plate="P1", wells=well_names(12), sites=2, seed=3)
    second = shifted_copy(first, root, "P2", gain=0.45, offset=700.0)
    return first, second


def table(plate_dir) -> tuple[pd.DataFrame, list[str]]:
    scan = scan_plate(plate_dir)
    return scan.fields, list(scan.channels)


def test_spread_rows_is_even_and_bounded():
    assert spread_rows(5, 24).tolist() == [0, 1, 2, 3, 4]
    picked = spread_rows(1536, SAMPLE_FIELDS)
    assert len(picked) == SAMPLE_FIELDS and picked[0] == 0 and picked[-1] == 1535
    assert np.all(np.diff(picked) > 0)


def test_plate_normalisation_removes_a_stain_gain_and_background_shift(plates):
    first, second = plates
    fields_1, channels = table(first)
    fields_2, _ = table(second)
    both = pd.concat([fields_1, fields_2], ignore_index=True)
    normalizer = PlateNormalizer(TEMPLATE, both, channels)
    norm_1, norm_2 = normalizer.for_plate("P1"), normalizer.for_plate("P2")
    assert norm_1.method == norm_2.method == "plate"
    assert norm_1.extra["plate"] == "P1" and norm_1.extra["fields_used"] == len(fields_1) == 24
    # the affine stain change shows in the fitted values ...
    np.testing.assert_allclose(np.array(norm_2.low), 0.45 * np.array(norm_1.low) + 700.0, rtol=0, atol=1.0)
    np.testing.assert_allclose(np.array(norm_2.high), 0.45 * np.array(norm_1.high) + 700.0, rtol=0, atol=1.0)
    # ... and is gone from the model input
    row_1, row_2 = fields_1.iloc[5], fields_2.iloc[5]
    raw_1 = read_field([row_1[f"path_{c}"] for c in channels])
    raw_2 = read_field([row_2[f"path_{c}"] for c in channels])
    per_plate = [preprocess_field(raw_1, norm_1, (32, 40)), preprocess_field(raw_2, norm_2, (32, 40))]
    assert np.abs(per_plate[0] - per_plate[1]).max() < 2e-3
    dataset = [preprocess_field(raw, TEMPLATE, (32, 40)) for raw in (raw_1, raw_2)]
    assert np.abs(dataset[0] - dataset[1]).max() > 0.05


def test_fit_does_not_depend_on_row_order_or_on_other_plates(plates):
    first, second = plates
    fields_1, channels = table(first)
    alone = PlateNormalizer(TEMPLATE, fields_1, channels).for_plate("P1")
    shuffled = pd.concat([table(second)[0], fields_1.sample(frac=1.0, random_state=1)], ignore_index=True)
    mixed = PlateNormalizer(TEMPLATE, shuffled, channels).for_plate("P1")
    assert alone == mixed


def test_other_methods_use_the_card_values(plates):
    fields, channels = table(plates[0])
    fixed = Normalization(low=(1.0, 2.0, 3.0), high=(10.0, 20.0, 30.0), method="fixed")
    normalizer = PlateNormalizer(fixed, fields, channels)
    assert normalizer.for_plate("P1") is fixed and normalizer.for_plate("anything") is fixed
    assert normalizer.record(["P1"]) == {"method": "fixed", "plates": {}, "failed": {}}


def test_unreadable_sampled_fields_are_recorded_and_a_dead_plate_is_refused(tmp_path, monkeypatch):
    plate = make_tiny_plate(tmp_path, plate="P3", wells=well_names(4), sites=1)
    fields, channels = table(plate)
    first = fields.sort_values(["well", "site"]).iloc[0]
    with open(first["path_w2"], "wb") as handle:
        handle.write(b"not a tiff")
    norm = fit_plate("P3", fields, channels, TEMPLATE)
    assert norm.extra["fields_used"] == 3
    assert len(norm.extra["fields_unreadable"]) == 1 and "A01 s1" in norm.extra["fields_unreadable"][0]

    for path in fields["path_w1"]:
        with open(path, "wb") as handle:
            handle.write(b"\0" * 16)
    normalizer = PlateNormalizer(TEMPLATE, fields, channels)
    with pytest.raises(PlateError, match="P3: none of the 4 fields sampled"):
        normalizer.for_plate("P3")
    reads = []
    monkeypatch.setattr(plate_normalization, "read_field", lambda paths: reads.append(paths))
    with pytest.raises(PlateError, match="P3: none of the 4"):  # remembered, not refitted
        normalizer.for_plate("P3")
    assert reads == []
    record = normalizer.record(["P3"])
    assert record["plates"] == {} and "P3" in record["failed"]
    with pytest.raises(PlateError, match="no fields"):
        PlateNormalizer(TEMPLATE, fields, channels).for_plate("P9")


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'median' is unknown"):
        Normalization(low=(0.0,), high=(1.0,), method="median")
    model = make_tiny_model(tmp_path / "m", normalization="plate")
    data = ModelCard.from_dict(json.loads((model / "card.json").read_text())).to_dict()
    assert data["normalization"]["method"] == "plate"
    data["normalization"]["method"] = "median"
    with pytest.raises(ModelCardError, match="median"):
        ModelCard.from_dict(data)
