"""Property tests: file-name parsing and layout detection never crash and never drop a file."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcnn_infer.errors import HcsError
from mcnn_infer.plates import LAYOUTS, scan_plate
from mcnn_infer.wells import normalize_well

NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
GUID = "EB868A72-19FC-46BB-BDFA-66B8966A817C"

realistic_names = st.one_of(
    st.builds(
        lambda p, r, c, s, w: f"{p}_{r}{c:02d}_s{s}_w{w}{GUID}.tif",
        st.text(string.ascii_letters + string.digits + "_ -", min_size=1, max_size=20),
        st.sampled_from(["A", "B", "H", "P", "AF", "z"]),
        st.integers(0, 60),
        st.integers(0, 12),
        st.integers(0, 9),
    ),
    st.builds(
        lambda c, n, r, col: f"Channel{c}-{n:02d}-{r}-{col:02d}.tif",
        st.integers(0, 4),
        st.integers(0, 400),
        st.sampled_from(["A", "H", "Q", "AA"]),
        st.integers(0, 50),
    ),
    st.builds(
        lambda r, c, f, ch: f"r{r:02d}c{c:02d}f{f:02d}p01-ch{ch}sk1fk1fl1.tiff",
        st.integers(0, 40),
        st.integers(0, 60),
        st.integers(0, 99),
        st.integers(0, 9),
    ),
    st.text(NAME_CHARS, min_size=1, max_size=240).map(lambda t: t + ".tif"),
)


@settings(max_examples=400, deadline=None)
@given(name=realistic_names)
def test_parsers_return_a_valid_record_or_none(name):
    for layout in LAYOUTS.values():
        try:
            record = layout.parse(Path("/plates/P1") / name, Path("/plates"))
        except HcsError:
            continue  # the name has this layout's shape but a bad value, e.g. column 0
        if record is not None:
            assert normalize_well(record.well) == record.well
            assert record.site >= 1 and record.timepoint >= 1 and record.channel


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(realistic_names, min_size=1, max_size=12, unique=True))
def test_every_file_is_a_field_a_problem_or_ignored(tmp_path_factory, names):
    folder = tmp_path_factory.mktemp("plate")
    written = set()
    for name in names:
        try:
            path = folder / name
            tifffile.imwrite(path, np.zeros((2, 2), np.uint8))
        except OSError:  # the file system refuses the name (too long, reserved)
            continue
        written.add(str(path))
    if not written:
        return
    try:
        scan = scan_plate(folder)
    except HcsError as exc:
        assert str(exc)  # a readable reason
        return
    used = {p for ch in scan.channels for p in scan.fields[f"path_{ch}"]}
    accounted = used | set(scan.problems["path"]) | set(scan.ignored["path"])
    # a file is either used, or its field is listed with a problem (which names one of its files)
    problem_fields = set(
        zip(scan.problems["plate"], scan.problems["well"], scan.problems["site"], strict=True)
    )
    unexplained = [p for p in written - accounted if _field_key(scan, p) not in problem_fields]
    assert not unexplained


def _field_key(scan, path: str):
    """(plate, well, site) of a file whose field was listed as a problem (incomplete or duplicate)."""
    record = LAYOUTS[scan.layout].parse(Path(path), Path(path).parent)
    return None if record is None else (record.plate, record.well, record.site)
