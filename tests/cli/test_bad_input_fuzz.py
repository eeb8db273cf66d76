"""Fuzzing the CLI with bad input: ``hcs plates`` and ``hcs score`` never show a traceback.

Hypothesis builds bad paths (unicode, spaces, very long names), damaged plate folders (random bytes,
truncated / zero-size / wrong-magic TIFFs, huge declared dimensions, NaN/Inf float images, wrong
dtypes, mismatched channel shapes, missing and extra files, symlinks out of the folder), broken
manifests, bad option values and mutated model cards (missing keys, wrong types, unknown format,
truncated weights). Each run must either succeed, or exit non-zero with exactly one line on stderr
starting with ``hcs: error:`` (or click's usage error), within a time limit. In-process, any exception
other than the ones the CLI wrapper handles propagates and fails the example (a user would have seen a
traceback). When ``hcs score`` succeeds, no damaged file may have been scored as an ``ok`` field.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate
from tests.mcnn_infer.plates.test_manifest_fuzz import make_tree, manifests, write_manifest

PLATES_FAST, PLATES_SLOW = 200, 1500
SCORE_FAST, SCORE_SLOW = 100, 600
TIME_LIMIT_S = 60
WELLS = ("B02", "B03", "C02")
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


class Hang(BaseException):
    """Raised in the main thread when one CLI call takes longer than the limit (not an OSError)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise Hang(f"hcs did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_result(result) -> str:
    """The CLI contract for any input; returns 'ok', 'error' or 'usage'."""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    if result.exit_code == 0:
        return "ok"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, f"exit code {result.exit_code} without a message"
    if lines[0].startswith("hcs: error: "):
        assert len(lines) == 1, result.stderr
        assert result.exit_code == 2
        return "error"
    # click's usage error: "Usage: ...", "Try 'hcs ... -h' for help.", "Error: ..."
    assert result.exit_code == 2, result.stderr
    assert any(line.startswith("Error: ") for line in lines), result.stderr
    return "usage"


# --- damaged files -------------------------------------------------------------------------------


def huge_tiff(path: Path, width: int = 200_000, height: int = 200_000) -> None:
    """A valid-looking uint16 TIFF header that declares an enormous image but holds 8 bytes of data."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 16),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8 + 2 + 9 * 12 + 4),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, 8),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHI", tag, kind, count) + (
            struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        )
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x01" * 8)


def _float_image(shape, special: float) -> np.ndarray:
    image = np.full(shape, 0.5, np.float32)
    image[0, 0] = special
    return image


#: damage name -> (function(path, shape, data), True if the file can never be a correctly scored image)
DAMAGES = {
    "random_bytes": (lambda p, shape, data: p.write_bytes(data), True),
    "zero_size": (lambda p, shape, data: p.write_bytes(b""), True),
    "truncated": (lambda p, shape, data: p.write_bytes(p.read_bytes()[: max(8, len(data) % 400)]), True),
    "wrong_magic": (lambda p, shape, data: p.write_bytes(b"MM\x00\x2b" + p.read_bytes()[4:]), True),
    "huge_dims": (lambda p, shape, data: huge_tiff(p), True),
    "nan": (lambda p, shape, data: tifffile.imwrite(p, _float_image(shape, np.nan)), True),
    "inf": (lambda p, shape, data: tifffile.imwrite(p, _float_image(shape, np.inf)), True),
    "uint8": (lambda p, shape, data: tifffile.imwrite(p, np.full(shape, 7, np.uint8)), False),
    "int32": (lambda p, shape, data: tifffile.imwrite(p, np.full(shape, 7, np.int32)), False),
    "complex": (lambda p, shape, data: tifffile.imwrite(p, np.ones(shape, np.complex64)), True),
    "rgb": (lambda p, shape, data: tifffile.imwrite(p, np.zeros((*shape, 3), np.uint16)), False),
    "stack": (lambda p, shape, data: tifffile.imwrite(p, np.zeros((3, *shape), np.uint16)), False),
    "other_shape": (lambda p, shape, data: tifffile.imwrite(p, np.zeros((shape[0] + 3, 5), np.uint16)), True),
    "delete": (lambda p, shape, data: p.unlink(), False),
    "directory": (lambda p, shape, data: (p.unlink(), p.mkdir()), False),
    "symlink_out": (lambda p, shape, data: (p.unlink(), p.symlink_to("/etc/hostname")), True),
    "dangling": (lambda p, shape, data: (p.unlink(), p.symlink_to(p.with_name("nothing-here.tif"))), True),
}

NAME_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=80
)
long_or_weird_names = st.one_of(
    NAME_TEXT,
    NAME_TEXT.map(lambda t: t + ".tif"),
    st.integers(200, 300).map(lambda n: "P1_B02_s1_w1" + "x" * n + ".tif"),
    st.sampled_from(
        [
            "P1_B02_s99999999999999999999_w1.tif",
            "P1_B02_s0_w1.tif",
            "P1_Z99_s1_w1.tif",
            " P1_B02_s1_w1.tif",
            "P1_B02_s1_w1.TIF",
            "P1_B02_s1_w1_thumb.tif",
            "Channel1-01-A-01.tif",
            "r02c02f01p01-ch1sk1fk1fl1.tiff",
            "r999999999999999999c02f01p01-ch1sk1fk1fl1.tiff",
            "P1_B02_s1_w٣.tif",
            "notes.txt",
            ".hidden.tif",
        ]
    ),
)


@st.composite
def damaged_plates(draw):
    """(list of (damage, file index, bytes), extra file names) applied to a fresh tiny plate."""
    damages = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(DAMAGES)), st.integers(0, 100), st.binary(max_size=64)),
            max_size=3,
        )
    )
    extras = draw(st.lists(long_or_weird_names, max_size=3))
    return damages, extras


def build_plate(root: Path, damages, extras, layout: str = "metaxpress") -> tuple[Path, set[str]]:
    """Write a tiny plate, damage it; return the folder and the paths that must never be scored ok."""
    plate = make_tiny_plate(root, layout=layout, wells=WELLS, size=(24, 30), seed=len(damages))
    files = sorted(p for p in plate.rglob("*.tif*") if p.is_file())
    never_ok: set[str] = set()
    for name, index, data in damages:
        path = files[index % len(files)]
        if not path.exists() or path.is_symlink() or path.is_dir():
            continue
        damage, fatal = DAMAGES[name]
        damage(path, (24, 30), data)
        if fatal:
            never_ok.add(os.path.abspath(path))
    for name in extras:
        with contextlib.suppress(OSError):  # the file system may refuse the name
            target = plate / name
            if not target.exists():
                shutil.copyfile(files[0], target) if name.lower().endswith(
                    (".tif", ".tiff")
                ) else target.write_text("x")
    return plate, never_ok


# --- hcs plates ----------------------------------------------------------------------------------


@st.composite
def plates_invocations(draw, base: Path):
    """argv for `hcs plates` with bad paths, damaged folders, broken manifests and bad options."""
    kind = draw(st.sampled_from(["missing", "empty", "plate", "manifest", "file", "sbs", "harmony"]))
    work = base / uuid.uuid4().hex[:10]
    work.mkdir()
    if kind == "missing":
        path = work / draw(NAME_TEXT)
    elif kind == "empty":
        path = work / "empty"
        path.mkdir()
    elif kind in ("plate", "sbs", "harmony"):
        damages, extras = draw(damaged_plates())
        path, _ = build_plate(work, damages, extras, "metaxpress" if kind == "plate" else kind)
    elif kind == "manifest":
        tree = make_tree(work)
        table, raw = draw(manifests(tree))
        path = write_manifest(tree, table, raw)
    else:
        path = work / draw(st.sampled_from(["x.csv", "x.tif", "x.json", "x"]))
        path.write_bytes(draw(st.binary(max_size=100)))
    argv = ["plates", str(path)]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--layout", draw(st.sampled_from(["metaxpress", "sbs", "harmony", "manifest", "nope", ""]))]
    if draw(st.integers(0, 4)) == 0:
        argv += ["--root", draw(st.sampled_from([str(work), str(work / "nope"), "/", str(path)]))]
    if draw(st.booleans()):
        argv.append("--no-problems")
    return argv


def _run_plates(hcs, argv) -> str:
    with time_limit(TIME_LIMIT_S):
        return check_result(hcs(*argv))


@settings(FUZZ, max_examples=PLATES_FAST)
@given(data=st.data())
def test_plates_never_shows_a_traceback(hcs, tmp_path_factory, data):
    base = tmp_path_factory.mktemp("plates-fuzz", numbered=True)
    _run_plates(hcs, data.draw(plates_invocations(base)))


@pytest.mark.slow
@settings(FUZZ, max_examples=PLATES_SLOW)
@given(data=st.data())
def test_plates_never_shows_a_traceback_long(hcs, tmp_path_factory, data):
    base = tmp_path_factory.mktemp("plates-fuzz", numbered=True)
    _run_plates(hcs, data.draw(plates_invocations(base)))


# --- hcs score -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("fuzz-model") / "m", size=(16, 16), filters=2)


CARD_MUTATIONS = {
    "none": None,
    "missing_key": lambda card: card.pop("class_names"),
    "wrong_type": lambda card: card["input"].__setitem__("height", "sixteen"),
    "negative_size": lambda card: card["input"].__setitem__("width", -4),
    "unknown_format": lambda card: card.__setitem__("formats", {"tensorflow-pickle": {"path": "model.pkl"}}),
    "bad_sha": lambda card: card["formats"]["onnx"]["sha256"].__setitem__("model.onnx", "0" * 64),
    "path_escape": lambda card: card["formats"]["onnx"].__setitem__("path", "../../etc/hostname"),
    "not_json": "not json {",
    "truncated_weights": "truncate",
    "channels_mismatch": lambda card: card["input"].__setitem__("channels", ["w1", "w2"]),
    "class_names_empty": lambda card: card.__setitem__("class_names", []),
}

OPTION_VALUES = {
    "--batch-size": ["0", "-1", "x", "1", "3", "4096"],
    "--workers": ["0", "1", "2", "x"],
    "--threads": ["1", "0"],
    "--shard": ["0/1", "1/2", "2/2", "x", "0/0", "-1/2", "1/0", "1/2/3", ""],
    "--channel-map": ["w1=w1", "DAPI=w1", "=", "w1=w9,w2=w2,w4=w4", "w1=w2,w2=w1,w4=w4", "w1=w1,w1=w2", ","],
    "--on-error": ["fail", "skip", "maybe"],
    "--backend": ["onnxruntime", "openvino", "tf"],
    "--precision": ["int8", "fp16", "fp32"],
    "--flush-every": ["1", "0"],
}
FLAGS = ["--allow-bit-depth-mismatch", "--embeddings", "--overwrite"]
METADATA = [
    "plate,well,compound,concentration,role,label\nP1,B02,DMSO,0,negative,DMSO\n",
    "plate,well,compound,concentration,role,label\nP1,B02,X,lots,treated,M\n",
    "plate,well\nP1,B02\n",
    "",
    "\xff\xfe garbage",
    "plate,well,compound,concentration,role,label\nP1,B99,X,1,alien,M\n",
]


def _model_copy(model: Path, work: Path, mutation: str) -> Path:
    target = work / "model"
    shutil.copytree(model, target)
    change = CARD_MUTATIONS[mutation]
    card_file = target / "card.json"
    if change == "truncate":
        weights = target / "model.onnx"
        weights.write_bytes(weights.read_bytes()[:100])
    elif isinstance(change, str):
        card_file.write_text(change)
    elif change is not None:
        card = json.loads(card_file.read_text())
        change(card)
        card_file.write_text(json.dumps(card))
    return target


@st.composite
def score_invocations(draw, base: Path, model: Path):
    work = base / uuid.uuid4().hex[:10]
    work.mkdir()
    damages, extras = draw(damaged_plates())
    plate, never_ok = build_plate(work / "plates", damages, extras)
    mutation = draw(st.sampled_from(sorted(CARD_MUTATIONS)))
    model_dir = _model_copy(model, work, mutation) if mutation != "none" else model
    out_kind = draw(st.sampled_from(["fresh", "fresh", "file", "plate", "weird"]))
    out = {
        "fresh": work / "out",
        "file": work / "out-file",
        "plate": plate,
        "weird": work / draw(NAME_TEXT),
    }[out_kind]
    if out_kind == "file":
        out.write_text("not a folder")
    argv = ["score", str(plate), "--model", str(model_dir), "--out", str(out), "--quiet"]
    for option in draw(st.lists(st.sampled_from(sorted(OPTION_VALUES)), unique=True, max_size=3)):
        argv += [option, draw(st.sampled_from(OPTION_VALUES[option]))]
    argv += draw(st.lists(st.sampled_from(FLAGS), unique=True, max_size=2))
    if draw(st.integers(0, 4)) == 0:
        meta = work / "meta.csv"
        meta.write_text(draw(st.sampled_from(METADATA)), encoding="utf-8", errors="surrogateescape")
        argv += ["--metadata", str(meta)]
    return argv, out, never_ok


def _run_score(hcs, argv, out: Path, never_ok: set[str]) -> str:
    with time_limit(TIME_LIMIT_S):
        outcome = check_result(hcs(*argv))
    if outcome == "ok":
        fields = pd.read_parquet(out / "fields.parquet")
        paths = [c for c in fields.columns if c.startswith("path_")]
        ok = fields[fields["status"] == "ok"]
        scored = {os.path.abspath(p) for c in paths for p in ok[c]}
        assert not (scored & never_ok), f"damaged files scored as ok: {sorted(scored & never_ok)}"
        assert np.isfinite(ok[[c for c in fields.columns if c.startswith("prob_")]].to_numpy()).all()
    return outcome


@settings(FUZZ, max_examples=SCORE_FAST)
@given(data=st.data())
def test_score_never_shows_a_traceback(hcs, fuzz_model, tmp_path_factory, data):
    base = tmp_path_factory.mktemp("score-fuzz", numbered=True)
    _run_score(hcs, *data.draw(score_invocations(base, fuzz_model)))


@pytest.mark.slow
@settings(FUZZ, max_examples=SCORE_SLOW)
@given(data=st.data())
def test_score_never_shows_a_traceback_long(hcs, fuzz_model, tmp_path_factory, data):
    base = tmp_path_factory.mktemp("score-fuzz", numbered=True)
    _run_score(hcs, *data.draw(score_invocations(base, fuzz_model)))


@pytest.mark.parametrize("damage", sorted(name for name, (_, fatal) in DAMAGES.items() if fatal))
def test_each_unreadable_file_is_a_skipped_field_or_a_problem(hcs, fuzz_model, tmp_path, damage):
    """One damaged file in the second well: the run succeeds and that field is never 'ok'."""
    plate, never_ok = build_plate(tmp_path / "plates", [(damage, 3, b"\x00garbage")], [])
    out = tmp_path / "out"
    argv = ["score", str(plate), "--model", str(fuzz_model), "--out", str(out), "--quiet"]
    assert _run_score(hcs, argv, out, never_ok) == "ok"
    fields = pd.read_parquet(out / "fields.parquet")
    assert (fields["status"] == "ok").sum() == len(WELLS) - 1
    bad = fields[fields["status"] != "ok"]
    assert len(bad) >= 1 and bad["reason"].astype(str).str.len().gt(0).all()


def test_huge_declared_dimensions_are_refused_before_allocating(hcs, tmp_path):
    import psutil

    plate = tmp_path / "P1"
    plate.mkdir()
    huge_tiff(plate / "P1_B02_s1_w1.tif")
    before = psutil.Process().memory_info().rss
    result = hcs("plates", plate)
    assert check_result(result) in ("ok", "error")
    assert "too large" in result.stdout + result.stderr or "pixels" in result.stdout + result.stderr
    assert psutil.Process().memory_info().rss - before < 200 * 2**20
