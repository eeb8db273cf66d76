"""Fuzzing manifest CSVs: missing columns, wrong types, ``..``, absolute paths, symlinks out of the root.

Whatever the CSV holds, ``scan_plate`` ends in a MetadataError / LayoutError / PlateError, or returns
fields whose every path is an existing file inside the root; every data row is accounted for as a field
or a recorded problem, and nothing outside the root is ever listed as a field image.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcnn_infer.errors import LayoutError, MetadataError, PlateError
from mcnn_infer.plates import scan_plate
from mcnn_infer.wells import normalize_well

FAST_EXAMPLES = 250
SLOW_EXAMPLES = 2500


@dataclass
class Tree:
    """A manifest root with images inside, an image outside and symlinks that lead out."""

    base: Path
    root: Path
    outside: Path

    @property
    def inside_files(self) -> list[str]:
        return ["a.tif", "b.tif", "c.tif"]


def make_tree(base: Path) -> Tree:
    root, outside = base / "root", base / "outside"
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    outside.mkdir(exist_ok=True)
    for name in ("a.tif", "b.tif", "c.tif"):
        tifffile.imwrite(root / "imgs" / name, np.zeros((4, 5), np.uint16))
    tifffile.imwrite(outside / "secret.tif", np.zeros((4, 5), np.uint16))
    links = {
        root / "imgs" / "link.tif": outside / "secret.tif",
        root / "imgs" / "linkdir": outside,
        root / "imgs" / "inlink.tif": root / "imgs" / "a.tif",
    }
    for link, target in links.items():
        if not link.is_symlink():
            link.symlink_to(target)
    return Tree(base, root, outside)


WEIRD = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=0, max_size=30
)


def _mostly(valid: list[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Usually a plausible value, sometimes anything (so some manifests are usable)."""
    good = st.sampled_from(valid)
    return st.one_of(good, good, good, other)


def file_names(tree_outside: str) -> st.SearchStrategy[str]:
    return _mostly(
        ["a.tif", "b.tif", "c.tif"],
        st.sampled_from(
            [
                "a.tif",
                "b.tif",
                "c.tif",
                "link.tif",
                "inlink.tif",
                "linkdir/secret.tif",
                "../outside/secret.tif",
                "../../outside/secret.tif",
                "secret.tif",
                f"{tree_outside}/secret.tif",
                "",
                " ",
                "missing.tif",
                "a.tif/..",
                "x_s2_y.tif",
                "A" * 300 + ".tif",
                "a\x00.tif",
            ]
        )
        | WEIRD,
    )


def path_names(tree_root: str, tree_outside: str) -> st.SearchStrategy[str]:
    return _mostly(
        ["imgs"],
        st.sampled_from(
            [".", "", "..", "../..", "imgs/../..", "imgs/linkdir", "/", tree_root + "/imgs", tree_outside]
        )
        | WEIRD,
    )


VALUES = {
    "Metadata_Plate": _mostly(["P1", "P2"], st.sampled_from([" P1 ", ""]) | WEIRD),
    "Metadata_Well": _mostly(
        ["A01", "a1", "B2", "H12"], st.sampled_from(["Z99", "A0", "A001", "AAA1", "nowell", "", "1A"]) | WEIRD
    ),
    "Metadata_Site": _mostly(
        ["1", "2"], st.sampled_from(["0", "-1", "x", "", "1.0", " 3", "99999999999999999999", "²"]) | WEIRD
    ),
}
OPTIONAL_COLUMNS = [
    "Image_PathName_DNA",
    "Image_FileName_Actin",
    "Image_PathName_Actin",
    "Metadata_Plate",
    "Metadata_Well",
    "Metadata_Site",
    "Image_Metadata_Plate_DNA",
    "Image_Metadata_Well_DNA",
    "Extra",
]


@st.composite
def manifests(draw, tree: Tree) -> tuple[pd.DataFrame | None, bytes | None]:
    """Either a table (written with pandas) or raw bytes (broken CSVs)."""
    if draw(st.integers(0, 9)) == 0:
        raw = draw(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from(
                    [
                        b"",
                        b"Image_FileName_DNA\n",
                        b'Image_FileName_DNA,Metadata_Plate,Metadata_Well\n"a.tif,P1,A01\n',
                        b"Image_FileName_DNA,Metadata_Plate,Metadata_Well\na.tif,P1,A01,extra,cells\n",
                        b"\xff\xfeI\x00m\x00",
                        b"Image_FileName_DNA,Image_FileName_DNA,Metadata_Plate,Metadata_Well\na.tif,b.tif,P,A1\n",
                    ]
                ),
            )
        )
        return None, b"Image_FileName_DNA," + raw if draw(st.booleans()) else raw
    core = ["Image_PathName_DNA", "Metadata_Plate", "Metadata_Well"] if draw(st.booleans()) else []
    extra = draw(st.lists(st.sampled_from(OPTIONAL_COLUMNS), unique=True, max_size=len(OPTIONAL_COLUMNS)))
    columns = ["Image_FileName_DNA"] + core + [c for c in extra if c not in core]
    columns = draw(st.permutations(columns))
    n_rows = draw(st.integers(0, 6))
    names = file_names(str(tree.outside))
    folders = path_names(str(tree.root), str(tree.outside))
    rows = []
    for _ in range(n_rows):
        row = {}
        for column in columns:
            if column.startswith("Image_FileName"):
                row[column] = draw(names)
            elif column.startswith("Image_PathName"):
                row[column] = draw(folders)
            elif "Plate" in column:
                row[column] = draw(VALUES["Metadata_Plate"])
            elif "Well" in column:
                row[column] = draw(VALUES["Metadata_Well"])
            elif "Site" in column:
                row[column] = draw(VALUES["Metadata_Site"])
            else:
                row[column] = draw(st.one_of(st.integers(), st.floats(), WEIRD))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns), None


def write_manifest(
    tree: Tree, table: pd.DataFrame | None, raw: bytes | None, name: str = "manifest.csv"
) -> Path:
    path = tree.root / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        table.to_csv(path, index=False)
    return path


def _inside(path: str, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real.is_relative_to(root.resolve()) and real.is_file()


def check_scan(path: Path, tree: Tree, table: pd.DataFrame | None) -> str:
    """Scan a manifest and check the property; returns the outcome (error class name or 'fields')."""
    try:
        scan = scan_plate(path)
    except (MetadataError, LayoutError, PlateError) as exc:
        assert path.name in str(exc), str(exc)  # the message names the manifest
        return type(exc).__name__
    for column in scan.path_columns:
        for value in scan.fields[column]:
            assert _inside(value, tree.root), f"field image {value} is not a file inside {tree.root}"
            assert Path(os.path.realpath(value)).parent != tree.outside.resolve()
    assert (scan.fields["site"] >= 1).all()
    assert all(normalize_well(w) == w for w in scan.fields["well"])
    assert scan.problems["problem"].map(lambda p: isinstance(p, str) and bool(p)).all()
    if table is not None:
        _assert_rows_accounted(scan, table)
    return "fields"


def _assert_rows_accounted(scan, table: pd.DataFrame) -> None:
    """Every data row appears as a field or in a problem (by plate and raw or normalised well)."""
    known = set(zip(scan.fields["plate"], scan.fields["well"], strict=True))
    known |= set(zip(scan.problems["plate"], scan.problems["well"], strict=True))
    reread = pd.read_csv(scan.source, dtype=str, keep_default_na=False)
    plate_col = next(c for c in ("Metadata_Plate", "Image_Metadata_Plate_DNA") if c in reread.columns)
    well_col = next(c for c in ("Metadata_Well", "Image_Metadata_Well_DNA") if c in reread.columns)
    for plate, well in zip(reread[plate_col], reread[well_col], strict=True):
        candidates = {well}
        with contextlib.suppress(PlateError):
            candidates.add(normalize_well(well))
        assert any((plate.strip(), w) in known for w in candidates), (plate, well)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("manifest-fuzz"))


def _run(tree: Tree, data) -> str:
    table, raw = data
    path = write_manifest(tree, table, raw)
    return check_scan(path, tree, table)


@settings(
    max_examples=FAST_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_manifest_fuzz(tree, data):
    _run(tree, data.draw(manifests(tree)))


@pytest.mark.slow
@settings(
    max_examples=SLOW_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_manifest_fuzz_long(tree, data):
    _run(tree, data.draw(manifests(tree)))


@pytest.mark.parametrize(
    "name, folder, reason",
    [
        ("secret.tif", "..{sep}outside", "outside the root"),
        ("secret.tif", "imgs{sep}linkdir", "outside the root"),
        ("link.tif", "imgs", "outside the root"),
        ("secret.tif", "{outside}", "absolute path"),
        ("{outside}{sep}secret.tif", "", "absolute path"),
        ("..{sep}..{sep}outside{sep}secret.tif", "imgs", "outside the root"),
    ],
)
def test_each_escape_is_a_recorded_problem(tree, name, folder, reason):
    fill = {"sep": os.sep, "outside": str(tree.outside)}
    table = pd.DataFrame(
        [["a.tif", "imgs", "P1", "A01", "1"], [name.format(**fill), folder.format(**fill), "P1", "A02", "1"]],
        columns=[
            "Image_FileName_DNA",
            "Image_PathName_DNA",
            "Metadata_Plate",
            "Metadata_Well",
            "Metadata_Site",
        ],
    )
    scan = scan_plate(write_manifest(tree, table, None, "escape.csv"))
    assert scan.fields["well"].tolist() == ["A01"]
    problem = scan.problems.set_index("well").loc["A02", "problem"]
    assert reason in problem


def test_symlink_inside_the_root_is_followed(tree):
    table = pd.DataFrame(
        [["inlink.tif", "imgs", "P1", "B03", "2"]],
        columns=[
            "Image_FileName_DNA",
            "Image_PathName_DNA",
            "Metadata_Plate",
            "Metadata_Well",
            "Metadata_Site",
        ],
    )
    scan = scan_plate(write_manifest(tree, table, None, "inlink.csv"))
    assert scan.fields[["well", "site"]].values.tolist() == [["B03", 2]]
    assert Path(scan.fields.loc[0, "path_DNA"]) == (tree.root / "imgs" / "a.tif").resolve()


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"", LayoutError),
        (b"Image_FileName_DNA,Image_PathName_DNA\na.tif,imgs\n", MetadataError),
        (b"Image_FileName_DNA,Metadata_Plate,Metadata_Well\n", PlateError),
        (b"Image_FileName_DNA,Metadata_Plate,Metadata_Well,Metadata_Site\na.tif,P1,A01,one\n", PlateError),
    ],
)
def test_missing_columns_and_wrong_types_are_clear_errors(tree, raw, error):
    with pytest.raises(error) as info:
        scan_plate(write_manifest(tree, None, raw, "broken.csv"))
    assert "broken.csv" in str(info.value)


def test_manifest_strategy_reaches_every_outcome(tree):
    """Guard against a strategy that only ever produces one kind of manifest."""
    outcomes = set()

    @settings(max_examples=120, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def collect(data):
        outcomes.add(_run(tree, data.draw(manifests(tree))))

    collect()
    assert {"fields", "MetadataError", "PlateError"} <= outcomes, outcomes
