"""Well name normalisation."""

import pytest

from mcnn_infer.errors import PlateError
from mcnn_infer.wells import normalize_well, plate_shape_for, row_index, row_label, well_from_indices


@pytest.mark.parametrize(
    ("raw", "well"), [("B2", "B02"), ("b02", "B02"), (" H12 ", "H12"), ("AF48", "AF48"), ("P024", "P24")]
)
def test_normalize(raw, well):
    assert normalize_well(raw) == well


@pytest.mark.parametrize("raw", ["", "12", "B", "B0", "1B", "ABC1", "B-2"])
def test_reject(raw):
    with pytest.raises(PlateError, match="expected e.g. 'B02'"):
        normalize_well(raw)


def test_rows_and_plate_shapes():
    assert [row_index(r) for r in ("A", "Z", "AA", "AF")] == [1, 26, 27, 32]
    assert [row_label(i) for i in (1, 26, 27, 32)] == ["A", "Z", "AA", "AF"]
    assert well_from_indices(16, 24) == "P24"
    assert plate_shape_for(["A01", "H12"]) == (8, 12)
    assert plate_shape_for(["A01", "I01"]) == (16, 24)
    assert plate_shape_for(["AF48"]) == (32, 48)


def test_plate_formats_and_wells_outside_them():
    from mcnn_infer.wells import outside_format_problem, plate_format

    assert plate_format(["A01", "H12"]) == 96
    assert plate_format(["A01", "P24"]) == 384
    assert plate_format(["AF48"]) == 1536
    assert plate_format(["Z99"]) is None and plate_format(["A49"]) is None and plate_format(["AG01"]) is None
    assert outside_format_problem("Z01") is None  # a 1536-well row
    for well in ("Z99", "A49", "AG01"):
        assert outside_format_problem(well).startswith(f"well {well} is outside every plate format")
    assert "1536: rows A-AF, columns 1-48" in outside_format_problem("Z99")
    assert outside_format_problem("I01", 96) == (
        "well I01 is outside the 96-well format of this plate (rows A-H, columns 1-12)"
    )
    assert outside_format_problem("H12", 96) is None
