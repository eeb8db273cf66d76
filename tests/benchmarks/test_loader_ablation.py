"""benchmarks/loader_ablation.py: each mode runs exactly its loader stages; the table has every mode."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.loader_ablation import MODES, CountsEngine, stage_loader
from mcnn_infer.image_qc import image_qc
from mcnn_infer.images import read_planes
from mcnn_infer.preprocess import preprocess_planes
from mcnn_infer.runtime import open_engine
from mcnn_infer.scoring.loader import FieldJob
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate

REPO = Path(__file__).resolve().parents[2]


def test_each_mode_runs_its_stages_and_no_other(tmp_path):
    plate = make_tiny_plate(tmp_path / "plate", wells=["B02"], size=(64, 80))
    paths = sorted(str(p) for p in plate.glob("*.tif"))
    engine = open_engine(make_tiny_model(tmp_path / "model", size=(64, 80)), "openvino", "fp32")
    planes = read_planes(paths)
    want = preprocess_planes(planes, engine.card.normalization, (64, 80))
    qc_keys = set(image_qc(planes))
    for mode, stages in MODES.items():
        for thumbnail in (True, False):
            out = np.full((64, 80, 3), -7.0, np.float32)
            loaded = stage_loader(engine, stages)(FieldJob(0, paths, "P", thumbnail), out)
            assert loaded.tensor is out, mode
            if "preprocess" in stages:
                np.testing.assert_array_equal(out, want)
            else:
                assert (out == -7.0).all(), mode
            assert (qc_keys <= set(loaded.qc)) == ("image_qc" in stages), mode
            assert ("thumb_image" in loaded.qc) == ("thumbnails" in stages and thumbnail), mode


def test_the_table_lists_pure_and_every_mode(tmp_path):
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "loader_ablation.py"),
        *("--size", "64", "80", "--fields", "8", "--repeats", "2", "--filters", "4"),
        *("--sites-per-well", "4", "--work", str(tmp_path)),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    rows = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(\S.*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)-([\d.]+)\s+(-?[\d.]+)\s+\[", line)
        if match:
            rows[match.group(1)] = [float(v) for v in match.groups()[1:]]
    assert set(rows) == {"pure", *MODES, "pure (uint16 input)", "in-engine normalisation"}, result.stdout
    assert rows["pure"][1:] == [1.0, 1.0, 1.0, 0.0]
    assert all(low <= ratio <= high for _, ratio, low, high, _ in rows.values())
    assert all(rate > 0 for rate, *_ in rows.values())
    assert "8 fields 64x80x3 uint16, 4 per well" in result.stdout
    difference = re.search(r"max \|logit difference\| to the float32 path (\S+)", result.stdout)
    assert difference and float(difference.group(1)) < 1e-4, result.stdout


def test_the_engine_normalising_uint16_counts_gives_the_float32_paths_logits(tmp_path):
    """CountsEngine: the card's normalisation as OpenVINO pre-processing steps, on counts that cover the
    clipped ends (below low, above high) of a model whose low/high are not the dtype's range."""
    plate = make_tiny_plate(tmp_path / "plate", wells=["B02", "B03"], size=(64, 80))
    model = make_tiny_model(
        tmp_path / "model", size=(64, 80), low=(900.0, 100.0, 2000.0), high=(1500.0, 4000.0, 30000.0)
    )
    engine = open_engine(model, "openvino", "fp32")
    counts = CountsEngine(engine, model)
    for k in (0, 1):
        paths = sorted(str(p) for p in plate.glob("*.tif"))[3 * k : 3 * k + 3]
        planes = read_planes(paths)
        assert any(
            (p < lo).any() and (p > hi).any()
            for p, lo, hi in zip(planes, (900, 100, 2000), (1500, 4000, 30000), strict=True)
        )
        assert counts.check(FieldJob(k, paths, "P", True)) < 1e-4
