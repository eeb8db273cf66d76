"""Writing screens: BBBC021 folder and file naming, CSV schemas, truth tables, determinism, read-back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from mcnn_infer.errors import ConfigError
from mcnn_infer.metadata import read_treatments
from mcnn_infer.plates import scan_plate
from mcnn_infer.synth import generate
from mcnn_infer.synth.design import IMAGE_COLUMNS, bbbc021_design
from mcnn_infer.synth.phenotypes import hill
from mcnn_infer.synth.writer import field_truth

from .conftest import TINY_SIZE, tiny_design

FILE_RE = re.compile(r"^Week\d+/Week\d+_\d+/Week\d+_\d{6}_[A-H]\d\d_s\d_w[124][0-9A-F-]{36}\.tif$")


def test_tiny_screen_has_bbbc021_files_and_tables(tiny_screen, shared_data):
    out = tiny_screen.out_dir
    truth = tiny_screen.truth_fields
    assert len(truth) == 7 and tiny_screen.n_fields == 7
    for ch in ("w1", "w2", "w4"):
        assert truth[f"file_{ch}"].map(FILE_RE.match).all()
        for rel in truth[f"file_{ch}"]:
            image = tifffile.imread(out / rel)
            assert image.shape == TINY_SIZE and image.dtype == np.uint16
    real_columns = pd.read_csv(shared_data / "bbbc021" / "BBBC021_v1_image.csv", nrows=1).columns
    image_csv = pd.read_csv(out / "BBBC021_v1_image.csv")
    assert list(image_csv.columns) == list(real_columns) == list(IMAGE_COLUMNS)
    assert len(image_csv) == 7
    assert (out / "BBBC021_v1_moa.csv").read_text().splitlines()[0] == '"compound","concentration","moa"'
    moa = pd.read_csv(out / "BBBC021_v1_moa.csv")
    assert set(moa["compound"]) == set(truth["compound"])
    compounds = pd.read_csv(out / "truth_compounds.csv")
    assert {"compound", "moa", "ec50_uM", "hill_slope", "delta_arrest"} <= set(compounds.columns)
    assert {"plate", "well", "site", "compound", "concentration", "moa", "strength"} <= set(truth.columns)
    assert truth["strength"].between(0, 1).all()
    platemap = pd.read_csv(out / "platemap.csv")
    assert list(platemap.columns) == ["plate", "well", "compound", "concentration", "role", "label"]
    assert sorted(platemap["role"]) == [
        "negative",
        "negative",
        "positive",
        "treated",
        "treated",
        "treated",
        "treated",
    ]
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    assert (out / "synth.json").exists() and (out / "skipped_fields.csv").exists()


def test_tiny_screen_reads_back_with_the_plate_reader_and_metadata(tiny_screen):
    out = tiny_screen.out_dir
    truth = tiny_screen.truth_fields
    scan = scan_plate(out)
    assert scan.channels == ["w1", "w2", "w4"] and scan.problems.empty
    fields = scan.fields[["plate", "well", "site"]].reset_index(drop=True)
    expected = truth[["plate", "well", "site"]].sort_values(["plate", "well", "site"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(fields, expected, check_dtype=False)
    for source in (out / "platemap.csv", out / "BBBC021_v1_image.csv"):
        treatments = read_treatments(source).set_index(["plate", "well"])
        for row in truth.itertuples():
            got = treatments.loc[(row.plate, row.well)]
            assert got["compound"] == row.compound and got["concentration"] == pytest.approx(
                row.concentration
            )
            # annotated only where the phenotype shows (strength >= 0.5), as in BBBC021
            compound = tiny_screen.design.compounds[row.compound]
            visible = (
                row.moa == "DMSO" or hill(row.concentration, compound.ec50_um, compound.hill_slope) >= 0.5
            )
            assert got["moa"] == (row.moa if visible else None)
        assert set(treatments["role"]) >= {"negative", "treated"}


def _bytes_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.tif"))}


def test_same_seed_gives_identical_files_with_one_or_two_workers(tmp_path, tiny_screen):
    again = generate(tmp_path / "again", tiny_design(), size=TINY_SIZE, seed=3, progress=False, workers=2)
    assert _bytes_of(again.out_dir) == _bytes_of(tiny_screen.out_dir)
    other = generate(tmp_path / "other", tiny_design(), size=TINY_SIZE, seed=4, progress=False)
    assert _bytes_of(other.out_dir).keys() == _bytes_of(tiny_screen.out_dir).keys()
    assert _bytes_of(other.out_dir) != _bytes_of(tiny_screen.out_dir)


def test_existing_screen_needs_overwrite(tiny_screen, tmp_path):
    with pytest.raises(ConfigError, match="already holds a synthetic screen"):
        generate(tiny_screen.out_dir, tiny_design(), size=TINY_SIZE, seed=3, progress=False)


@pytest.mark.parametrize(("size", "workers", "message"), [((8, 80), 1, "8x80"), ((64, 80), 0, "workers=0")])
def test_bad_options_are_rejected(tmp_path, size, workers, message):
    with pytest.raises(ConfigError, match=message):
        generate(tmp_path, tiny_design(), size=size, workers=workers, progress=False)


def test_strength_follows_each_compounds_hill_curve_around_its_ec50():
    design = bbbc021_design(plates=6)
    truth, _ = field_truth(design, seed=0)
    treated = truth[truth["moa"] != "DMSO"]
    rising = 0
    for name, rows in treated.groupby("compound"):
        compound = design.compounds[name]
        means = rows.groupby("concentration")["strength"].mean()
        # Monotone up to the per-field noise (sd 0.03, averaged over wells and sites).
        assert (np.diff(means.to_numpy()) > -0.03).all(), name
        ratio = means.index.to_numpy() / compound.ec50_um
        below, above = means[ratio < 1 / 3], means[ratio > 3]
        if len(below) and len(above):
            assert below.max() < 0.5 < above.min(), name
            rising += 1
    assert rising >= 5
    assert (truth.loc[truth["moa"] == "DMSO", "strength"] == 0).all()
