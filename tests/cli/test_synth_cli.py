"""`hcs synth` from the command line: BBBC021-like plates that `hcs plates` and the metadata reader read back."""

from __future__ import annotations

import pandas as pd
import pytest

from mcnn_infer.metadata import read_treatments
from mcnn_infer.plates import scan_plate

WELLS = "B02,B03,C02,C10,E05,G11"


def _check_read_back(out, hcs):
    truth = pd.read_csv(out / "truth_fields.csv")
    listing = hcs("plates", out)
    assert listing.exit_code == 0, listing.stderr
    for plate in truth["plate"].unique():
        row = next(line for line in listing.stdout.splitlines() if plate in line)
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        n_wells = truth.loc[truth["plate"] == plate, "well"].nunique()
        n_fields = (truth["plate"] == plate).sum()
        assert cells[1] == "metaxpress" and cells[2] == str(n_wells) and cells[4] == str(n_fields)
        assert cells[5] == "w1, w2, w4" and cells[6] == "320x256 16-bit"
    scan = scan_plate(out)
    got = scan.fields[["plate", "well", "site"]].reset_index(drop=True)
    want = truth[["plate", "well", "site"]].sort_values(["plate", "well", "site"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    treatments = read_treatments(out / "BBBC021_v1_image.csv").set_index(["plate", "well"])
    moa = pd.read_csv(out / "BBBC021_v1_moa.csv")
    annotated = {(r.compound, round(r.concentration, 6)): r.moa for r in moa.itertuples()}
    for row in truth.drop_duplicates(["plate", "well"]).itertuples():
        got_row = treatments.loc[(row.plate, row.well)]
        assert got_row["compound"] == row.compound
        # Labels: the real annotation where BBBC021 has one; the truth MoA is the compound's.
        expected = annotated.get((row.compound, round(row.concentration, 6)))
        assert (pd.isna(got_row["moa"]) and expected is None) or got_row["moa"] == expected
        if expected is not None:
            assert expected == row.moa
    return truth


def test_synth_like_bbbc021_reads_back(hcs, tmp_path):
    out = tmp_path / "screen"
    result = hcs(
        "synth",
        out,
        "--like",
        "bbbc021",
        "--plates",
        "2",
        "--size",
        "256x320",
        "--sites",
        "2",
        "--wells",
        WELLS,
        "--no-progress",
        "--preview",
    )
    assert result.exit_code == 0, result.stderr
    assert "fields/s" in result.stdout and "skipped" in result.stdout
    truth = _check_read_back(out, hcs)
    assert sorted(truth["plate"].unique()) == ["Week1_22123", "Week1_22141"]
    assert set(truth["site"]) == {1, 2}
    assert (out / "preview.png").stat().st_size > 10_000
    skipped = pd.read_csv(out / "skipped_fields.csv")
    assert len(skipped) > 0 and skipped["reason"].str.contains("no MoA annotation").all()


@pytest.mark.slow
def test_synth_two_full_bbbc021_plates_read_back(hcs, tmp_path):
    out = tmp_path / "screen"
    result = hcs(
        "synth",
        out,
        "--like",
        "bbbc021",
        "--plates",
        "2",
        "--size",
        "256x320",
        "--no-progress",
        "--workers",
        "2",
    )
    assert result.exit_code == 0, result.stderr
    truth = _check_read_back(out, hcs)
    assert set(truth["site"]) == {1, 2, 3, 4}


def test_synth_simple_writes_a_plate_map(hcs, tmp_path):
    out = tmp_path / "simple"
    result = hcs(
        "synth",
        out,
        "--plates",
        "1",
        "--size",
        "64x80",
        "--compounds-per-moa",
        "1",
        "--concentrations",
        "2",
        "--replicates",
        "1",
        "--moas",
        "Epithelial,DNA damage",
        "--controls",
        "2",
        "--positive-controls",
        "1",
        "--no-progress",
    )
    assert result.exit_code == 0, result.stderr
    platemap = read_treatments(out / "platemap.csv")
    assert len(platemap) == 7 and set(platemap["role"]) == {"negative", "positive", "treated"}
    assert set(platemap["moa"].dropna()) == {"DMSO", "Epithelial", "DNA damage", "Microtubule stabilizers"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--size", "256by320"), "256by320"),
        (("--like", "bbbc021", "--plate", "Week99_1"), "Week99_1"),
        (("--like", "simple", "--plates", "1"), "--plates 4"),
        (("--moas", "Magic"), "Magic"),
    ],
)
def test_synth_bad_options_are_one_line_errors(hcs, tmp_path, args, message):
    result = hcs("synth", tmp_path / "x", *args, "--no-progress")
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
