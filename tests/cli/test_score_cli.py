"""``hcs score`` / ``hcs merge`` from the command line: layouts, the real SBS plate, kill + resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from tests.fixtures.tiny_model import make_sbs96_model, make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names

CHANNELS = {
    "metaxpress": ("w1", "w2", "w4"),
    "sbs": ("Channel1", "Channel2", "Channel3"),
    "harmony": ("ch1", "ch2", "ch3"),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-models")
    return {layout: make_tiny_model(root / layout, channels=ch) for layout, ch in CHANNELS.items()}


@pytest.mark.parametrize("layout", sorted(CHANNELS))
def test_score_each_layout_end_to_end(hcs, models, tmp_path, layout):
    plate = make_tiny_plate(
        tmp_path / "plates", layout=layout, wells=("A01", "B02", "C03"), sites=1 if layout == "sbs" else 2
    )
    out = tmp_path / "out"
    result = hcs("score", plate, "--model", models[layout], "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    fields = pd.read_csv(out / "fields.csv")
    n = 3 if layout == "sbs" else 6
    assert len(fields) == n and (fields["status"] == "ok").all()
    assert [f"path_{c}" for c in CHANNELS[layout]] == [c for c in fields.columns if c.startswith("path_")]
    wells = pd.read_parquet(out / "wells.parquet")
    assert wells["well"].tolist() == ["A01", "B02", "C03"]
    assert f"{n} fields scored" in result.stdout


def test_real_sbs96_plate_with_metadata(hcs, shared_data, tmp_path):
    model = make_sbs96_model(tmp_path / "sbs-model")
    meta = tmp_path / "map.csv"
    rows = ["plate,well,compound,concentration,role,label"]
    for well in well_names(96):
        col = int(well[1:])
        role, compound = (
            ("negative", "DMSO") if col <= 2 else ("positive", "ctrl") if col == 12 else ("treated", "cpd")
        )
        rows.append(f"sbs96,{well},{compound},{col if role == 'treated' else 0},{role},")
    meta.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = hcs(
        "score", shared_data / "sbs96", "--model", model, "--out", out, "--metadata", meta, "--embeddings"
    )
    assert result.exit_code == 0, result.stderr
    assert "tiny-2ch-64x64" in result.stderr  # which model is used
    fields = pd.read_parquet(out / "fields.parquet")
    assert len(fields) == 96 and (fields["status"] == "ok").all()
    assert fields["path_Channel2"].iloc[0].endswith("Channel2-01-A-01.tif")
    wells = pd.read_csv(out / "wells.csv")
    assert len(wells) == 96 and set(wells["role"]) == {"negative", "positive", "treated"}
    treatments = pd.read_csv(out / "treatments.csv")
    assert sorted(treatments[treatments["compound"] == "cpd"]["concentration"]) == list(range(3, 12))
    # a 16-bit model refuses the 8-bit plate with a clear one-line message
    model16 = make_tiny_model(tmp_path / "m16", channels=("Channel1", "Channel2"), bit_depth=16)
    bad = hcs("score", shared_data / "sbs96", "--model", model16, "--out", tmp_path / "o16", "--quiet")
    assert bad.exit_code == 2 and "8-bit" in bad.stderr and "16-bit" in bad.stderr


def test_missing_default_model_is_a_clear_error(hcs, tmp_path, monkeypatch):
    monkeypatch.setenv("HCS_MODEL_DIR", str(tmp_path / "none"))
    plate = make_tiny_plate(tmp_path / "p", wells=("B02",))
    result = hcs("score", plate, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--model" in result.stderr


def test_shard_cli_and_merge(hcs, models, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(8), sites=2)
    assert (
        hcs("score", plate, "--model", models["metaxpress"], "--out", tmp_path / "all", "--quiet").exit_code
        == 0
    )
    for i in range(2):
        res = hcs(
            "score",
            plate,
            "--model",
            models["metaxpress"],
            "--out",
            tmp_path / f"s{i}",
            "--shard",
            f"{i}/2",
            "--quiet",
        )
        assert res.exit_code == 0, res.stderr
    res = hcs("merge", tmp_path / "s0", tmp_path / "s1", "--out", tmp_path / "merged")
    assert res.exit_code == 0, res.stderr
    for name in ("fields.csv", "wells.csv"):
        assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "merged" / name).read_bytes()
    bad = hcs("score", plate, "--model", models["metaxpress"], "--out", tmp_path / "x", "--shard", "2/2")
    assert bad.exit_code == 2 and "0 <= i < n" in bad.stderr


def test_ranks_of_a_launcher_share_one_out_and_merge(hcs, models, tmp_path, monkeypatch):
    """Under mpirun every rank gets the same --out; each writes its own shard-* folder."""
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(6), sites=1)
    model = models["metaxpress"]
    assert hcs("score", plate, "--model", model, "--out", tmp_path / "all", "--quiet").exit_code == 0
    for rank in range(3):
        monkeypatch.setenv("OMPI_COMM_WORLD_RANK", str(rank))
        monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")
        res = hcs("score", plate, "--model", model, "--out", tmp_path / "shared", "--quiet")
        assert res.exit_code == 0, res.stderr
    monkeypatch.delenv("OMPI_COMM_WORLD_RANK")
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [
        f"shard-00{i}-of-003" for i in range(3)
    ]
    res = hcs("merge", tmp_path / "shared", "--out", tmp_path / "merged")
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "all" / "fields.csv").read_bytes() == (tmp_path / "merged" / "fields.csv").read_bytes()


def _hcs_process(*args) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from hcs_cli.main import cli; cli()", *map(str, args)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HCS_DEBUG": ""}
    )


def test_resume_after_sigkill_gives_identical_outputs(models, tmp_path):
    plate = make_tiny_plate(tmp_path / "p", wells=well_names(24), sites=2, size=(128, 160))
    args = [
        "score",
        plate,
        "--model",
        models["metaxpress"],
        "--quiet",
        "--batch-size",
        "2",
        "--flush-every",
        "2",
        "--workers",
        "1",
    ]
    reference = tmp_path / "reference"
    score_plates(
        [plate], reference, models["metaxpress"], ScoreOptions(batch_size=2, flush_every=2, workers=1)
    )
    out = tmp_path / "killed"
    proc = _hcs_process(*args, "--out", out)
    deadline = time.monotonic() + 120
    while not list((out / ".parts").glob("part-*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "run.json").exists(), "the run finished before it was killed; make the plate bigger"
    n_parts = len(list((out / ".parts").glob("part-*.parquet")))
    assert 0 < n_parts < 24
    resumed = subprocess.run(
        [sys.executable, "-c", "from hcs_cli.main import cli; cli()", *map(str, args), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    for name in ("fields", "wells"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(reference / f"{name}.parquet"),
            pd.read_parquet(out / f"{name}.parquet"),
            check_exact=True,
        )
        assert (reference / f"{name}.csv").read_bytes() == (out / f"{name}.csv").read_bytes()


def test_precision_is_explicit_and_recorded(hcs, tmp_path, monkeypatch):
    """Default fp32 on OpenVINO computes in f32 on every CPU; run.json says so, with the CPU's flags."""
    import json

    from mcnn_infer.cpu import FLAGS_ENV, RELEVANT_FLAGS

    model = make_tiny_model(tmp_path / "m", formats=("onnx", "openvino-fp32", "openvino-bf16"))
    plate = make_tiny_plate(tmp_path / "plates", wells=("A01", "B02"))
    result = hcs("score", plate, "--model", model, "--out", tmp_path / "fp32")
    assert result.exit_code == 0, result.stderr
    run = json.loads((tmp_path / "fp32" / "run.json").read_text())
    assert run["model"]["format"] == "openvino-fp32" and run["model"]["precision"] == "fp32"
    assert run["engine"]["inference_precision_compiled"] == "f32" and run["engine"]["runtime"] == "openvino"
    assert set(run["cpu"]["flags"]) == set(RELEVANT_FLAGS)
    assert "computing in f32 (requested)" in " ".join(result.stderr.split())
    # auto on a CPU without native BF16 or INT8 falls back to fp32 and says why
    monkeypatch.setenv(FLAGS_ENV, "avx2")
    result = hcs("score", plate, "--model", model, "--out", tmp_path / "auto", "--precision", "auto")
    assert result.exit_code == 0, result.stderr
    assert "bf16: no native support on this CPU" in " ".join(result.stderr.split())
    run = json.loads((tmp_path / "auto" / "run.json").read_text())
    assert run["engine"]["precision_reason"].startswith("auto: fastest precision")
    assert run["model"]["format"] == "openvino-fp32" and run["options"]["precision"] == "auto"
    assert run["cpu"]["flags_source"] == f"${FLAGS_ENV}" and not run["cpu"]["native_bf16"]
    # bf16 on that CPU: one line, exit 2
    result = hcs("score", plate, "--model", model, "--out", tmp_path / "bf16", "--precision", "bf16")
    assert result.exit_code == 2 and "native BF16" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
