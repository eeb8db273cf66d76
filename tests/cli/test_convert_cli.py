"""``hcs convert --to ome-zarr``: the command, `hcs plates` on its output, and identical scores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mcnn_infer.plates.inspect import inspect_plates
from tests.conftest import REPO
from tests.fixtures.tiny_model import make_sbs96_model
from tests.fixtures.tiny_plate import make_tiny_plate

SHIPPED_MODEL = REPO / "models" / "mcnn-small-synth"
FIELD_KEYS = ["plate", "well", "site", "timepoint"]


def _summary(path) -> list[tuple]:
    return [
        (s.plate, s.wells, s.sites, s.fields, s.channels, s.height, s.width, s.bit_depth, s.problems)
        for s in inspect_plates([str(path)]).summaries
    ]


def _probabilities(out: Path) -> pd.DataFrame:
    fields = pd.read_parquet(out / "fields.parquet")
    assert (fields["status"] == "ok").all()
    columns = FIELD_KEYS + [c for c in fields.columns if c.startswith("prob_")] + ["predicted_class"]
    return fields[columns].sort_values(FIELD_KEYS).reset_index(drop=True)


def test_convert_command_plates_and_errors(hcs, tmp_path):
    plate = make_tiny_plate(tmp_path / "src", wells=("B02", "C03"), sites=2)
    out = tmp_path / "converted"
    result = hcs("convert", plate, "--to", "ome-zarr", out, "--ngff-version", "0.4", "--levels", "2")
    assert result.exit_code == 0, result.stderr
    assert "4 fields written, 0 already complete, 0 problems" in result.stdout
    assert "P1" in result.stderr  # the summary table
    again = hcs(
        "convert", plate, "--to", "ome-zarr", out, "--ngff-version", "0.4", "--levels", "2", "--quiet"
    )
    assert again.exit_code == 0 and again.stdout == ""
    listing = hcs("plates", out / "P1.zarr")
    assert listing.exit_code == 0, listing.stderr
    assert "ome-zarr" in listing.stdout and "w1, w2, w4" in listing.stdout
    forced = hcs("plates", out, "--layout", "ome-zarr")
    assert forced.exit_code == 0 and "P1" in forced.stdout
    changed = hcs("convert", plate, out, "--quiet")  # 0.5 into the 0.4 store: refused, nothing touched
    assert changed.exit_code == 2 and "pass --overwrite" in changed.stderr
    foreign = tmp_path / "foreign"
    (foreign / "P1.zarr").mkdir(parents=True)
    (foreign / "P1.zarr" / "notes.txt").write_text("someone else's")
    refused = hcs("convert", plate, "--to", "ome-zarr", foreign)
    assert refused.exit_code == 2 and "not a plate written by hcs convert" in refused.stderr
    assert "convert" in hcs("--help").stdout


def test_shipped_model_scores_converted_plate_identically(hcs, tmp_path):
    plate = make_tiny_plate(tmp_path / "src", wells=("A01", "B02", "C03"), sites=2)  # w1, w2, w4 uint16
    assert hcs("convert", plate, "--to", "ome-zarr", tmp_path / "zarr", "--quiet").exit_code == 0
    for name, source in (("tiff", plate), ("zarr", tmp_path / "zarr" / "P1.zarr")):
        result = hcs("score", source, "--model", SHIPPED_MODEL, "--out", tmp_path / name, "--quiet")
        assert result.exit_code == 0, result.stderr
    zarr_fields = pd.read_parquet(tmp_path / "zarr" / "fields.parquet")
    assert zarr_fields["path_w2"].str.contains(r"P1\.zarr/A/1/0/0#t=0&c=1&z=0").any()
    pd.testing.assert_frame_equal(_probabilities(tmp_path / "tiff"), _probabilities(tmp_path / "zarr"))


def test_real_sbs96_converted_lists_and_scores_identically(hcs, shared_data, tmp_path):
    source = shared_data / "sbs96"  # read only
    result = hcs("convert", source, "--to", "ome-zarr", tmp_path / "converted")
    assert result.exit_code == 0, result.stderr
    store = tmp_path / "converted" / "sbs96.zarr"
    assert "96 fields written" in result.stdout
    assert _summary(store) == _summary(source)  # same wells, sites, fields, channels, image size
    listing = hcs("plates", store)
    assert listing.exit_code == 0 and "Channel1, Channel2" in listing.stdout
    model = make_sbs96_model(tmp_path / "sbs-model")
    for name, plate in (("tiff", source), ("zarr", store)):
        scored = hcs("score", plate, "--model", model, "--out", tmp_path / name, "--quiet")
        assert scored.exit_code == 0, scored.stderr
    tiff, zarr = _probabilities(tmp_path / "tiff"), _probabilities(tmp_path / "zarr")
    assert len(tiff) == 96
    pd.testing.assert_frame_equal(tiff, zarr)


def test_pattern_named_plate_converts_like_its_metaxpress_twin(hcs, tmp_path):
    from tests.fixtures.namings import CV7000_PATTERN, write_namings

    folders = write_namings(tmp_path / "src")
    for name, extra in (("metaxpress", []), ("pattern", ["--pattern", CV7000_PATTERN])):
        result = hcs("convert", folders[name], tmp_path / name, "--quiet", *extra)
        assert result.exit_code == 0, result.stderr
    twin, pattern = (_summary(tmp_path / n) for n in ("metaxpress", "pattern"))
    assert [row[:4] for row in pattern] == [row[:4] for row in twin] and pattern[0][4] != twin[0][4]
