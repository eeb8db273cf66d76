"""Stage times of a scoring run: the clock's arithmetic, its bounding stage, and run.json of a real run."""

from __future__ import annotations

import json
import time

import pytest

from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from mcnn_infer.scoring.stage_times import LOADER_STAGES, STAGES, StageClock


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_stage_gets_its_threads_cpu_time_and_inference_the_rest():
    clock = StageClock()
    clock.start()
    with clock.stage("decode"):
        _busy(0.05)
    with clock.stage("writing"):
        time.sleep(0.05)  # wall time, hardly any CPU
    clock.stop(fields=4, inference_busy_seconds=0.5)
    report = clock.report()
    decode, writing = report["stages"]["decode"], report["stages"]["writing"]
    assert decode["cpu_seconds"] >= 0.045 and decode["cpu_ms_per_field"] == pytest.approx(
        1000 * decode["cpu_seconds"] / 4, abs=1e-2
    )
    assert writing["wall_seconds"] >= 0.045 and writing["cpu_seconds"] < writing["wall_seconds"]
    assert report["stages"]["inference"]["wall_seconds"] == 0.5
    total = sum(s["cpu_seconds"] for s in report["stages"].values())
    assert total == pytest.approx(report["process_cpu_seconds"], abs=2e-3)


@pytest.mark.parametrize(
    ("waits", "work", "bound"),
    [
        ({"loader": 2.0, "inference": 0.1}, 0.1, "preprocess"),  # the loader's largest stage
        ({"loader": 0.1, "inference": 2.0}, 0.1, "inference"),
        ({"loader": 0.1, "inference": 0.2}, 1.0, "writing"),
    ],
)
def test_the_bounding_stage_is_what_the_main_thread_waited_for(waits, work, bound):
    clock = StageClock()
    clock.start()
    clock.add("decode", 0.5, 0.3)
    clock.add("preprocess", 0.9, 0.8)
    clock.add("writing", work, work)
    clock.waits.update(waits)
    clock.stop(fields=10, inference_busy_seconds=1.0)
    report = clock.report()
    assert report["bound_by"] == bound
    assert bound in report["bound_reason"] or STAGES[bound][0] in report["bound_reason"]


def test_nothing_scored_bounds_nothing():
    clock = StageClock()
    clock.start()
    clock.stop(fields=0, inference_busy_seconds=0.0)
    report = clock.report()
    assert report["bound_by"] == "none"
    assert all(s["cpu_ms_per_field"] == 0.0 for s in report["stages"].values())


def test_run_json_holds_the_stage_times(tiny_model, plate_24, tmp_path):
    out = tmp_path / "out"
    summary = score_plates([plate_24], out, tiny_model, ScoreOptions(batch_size=4, workers=2))
    info = json.loads((out / "run.json").read_text())
    stages = info["stages"]
    threads = info["threads"]  # the CPU split between loader and inference, explicit
    assert threads["loader_threads"] == 2 and threads["loader_from"] == "--workers"
    assert threads["inference_threads"] >= 1 and threads["inference_streams"] >= 1
    assert threads["inference_from"] == "the runtime's THROUGHPUT hint" and threads["cores"] >= 1
    assert stages == summary.run_info["stages"]
    assert stages["fields"] == 48
    assert set(stages["stages"]) == set(STAGES)
    for row in stages["stages"].values():
        assert row["cpu_seconds"] >= 0 and row["wall_seconds"] >= 0 and row["cpu_ms_per_field"] >= 0
    # every field was decoded, checked and preprocessed, some got a thumbnail, all were inferred
    for key in (*LOADER_STAGES, "inference"):
        assert stages["stages"][key]["wall_seconds"] > 0, key
    assert stages["bound_by"] in STAGES and stages["bound_reason"]
    assert stages["wall_seconds"] > 0 and set(stages["main_thread_waits"]) == {"loader", "inference"}


def test_a_resumed_run_with_nothing_left_reports_no_bound(tiny_model, plate_24, tmp_path):
    out = tmp_path / "out"
    score_plates([plate_24], out, tiny_model, ScoreOptions(batch_size=4))
    again = score_plates([plate_24], out, tiny_model, ScoreOptions(batch_size=4))
    assert again.run_info["stages"]["fields"] == 0 and again.run_info["stages"]["bound_by"] == "none"
