"""hcs watch in-process: a simulated acquisition, completion rules, restart, failures, OME-Zarr."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.watch import STATE_FILE, Watcher, WatchSettings, WatchState
from tests.fixtures.acquisition import acquire_in_background, copy_slowly
from tests.fixtures.ngff_plate import write_ngff_plate
from tests.fixtures.tiny_model import make_tiny_model

FAST = {"poll": 0.3, "quiet": 600.0}


def _watcher(inbox, out, model, lines, clock=time.time, **settings) -> Watcher:
    return Watcher(
        inbox,
        out,
        model,
        WatchSettings(**{**FAST, "report": False, **settings}),
        {"backend": "onnxruntime", "workers": 1},
        log=lines.append,
        clock=clock,
    )


def _step_until(watcher: Watcher, done, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, f"timed out; state {watcher.state.entries}"
        watcher.step()
        time.sleep(watcher.settings.poll)


def _status(out: Path) -> dict[str, str]:
    return {name: rec["status"] for name, rec in WatchState(out).entries.items()}


def test_acquisition_with_pauses_restart_and_an_incomplete_plate(tmp_path, tiny_model, staging):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    inbox.mkdir()
    writer = acquire_in_background(
        [
            (staging / "P1", inbox / "P1", None),
            (staging / "P2", inbox / "P2", None),
            (staging / "P3", inbox / "P3", 7),  # the instrument stops after 7 of 12 files
        ]
    )
    lines: list[str] = []
    first = _watcher(inbox, out, tiny_model, lines, expect=4)
    _step_until(first, lambda: _status(out).get("P1") == "done")
    run_json = out / "P1" / "run.json"
    stamp = run_json.stat().st_mtime_ns
    # a restart while P2 and P3 are still arriving: P1 is not scored again
    second = _watcher(inbox, out, tiny_model, lines, expect=4)
    _step_until(second, lambda: _status(out).get("P2") == "done" and not writer.is_alive())
    for _ in range(3):
        second.step()
        time.sleep(FAST["poll"])
    state = WatchState(out)
    assert _status(out) == {"P1": "done", "P2": "done", "P3": "waiting"}
    assert run_json.stat().st_mtime_ns == stamp
    for plate in ("P1", "P2"):
        record = state.get(plate)
        assert record["scored_now"] == [4], record  # each field through the model once
        assert record["reason"] == "4 of 4 expected fields"
        fields = pd.read_parquet(out / plate / "fields.parquet")
        # no half-written or temp file was read: every field scored
        assert len(fields) == 4 and (fields["status"] == "ok").all(), fields[["status", "reason"]]
    assert not (out / "P3").exists()
    assert sum("P1: complete" in line for line in lines) == 1
    assert any(line.startswith("plate P3: arriving") for line in lines)


def test_quiet_marker_and_temp_names_decide_completion(tmp_path, staging):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    shutil.copytree(staging / "P1", inbox / "P1")
    copy_slowly(staging / "P2", inbox / "P2", pause=0, limit=5)
    copy_slowly(staging / "P3", inbox / "P3", pause=0, limit=5)
    (inbox / "P3" / "transfer.done").write_text("")
    (inbox / "P1" / "late.tif.part").write_bytes(b"half")
    now = [1000.0]
    lines: list[str] = []
    watcher = _watcher(inbox, out, None, lines, clock=lambda: now[0], quiet=60, expect=4, markers=("*.done",))
    assert watcher.check() == []  # first sight: nothing is stable yet
    ready = dict((p.name, r) for p, r in watcher.check())
    # P1 has its 4 fields, but a file is still arriving under a temp name; P2 lacks fields
    assert ready == {"P3": "end-of-plate marker transfer.done"}
    now[0] += 61
    ready = dict((p.name, r) for p, r in watcher.check())
    assert ready["P1"] == ready["P2"] == "no file changed for 61 s"
    # a change restarts the quiet time
    (inbox / "P2" / "new.txt").write_text("x")
    assert "P2" not in dict((p.name, r) for p, r in watcher.check())


def test_quiet_time_counts_across_restarts(tmp_path, staging):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    copy_slowly(staging / "P1", inbox / "P1", pause=0, limit=4)
    now = [5000.0]
    first = _watcher(inbox, out, None, [], clock=lambda: now[0], quiet=100)
    first.check()
    now[0] += 150
    second = _watcher(inbox, out, None, [], clock=lambda: now[0], quiet=100)
    assert second.check() == []  # stability needs two snapshots of this run
    assert [(p.name, r) for p, r in second.check()] == [("P1", "no file changed for 150 s")]


def test_harmony_index_marks_the_plate_complete(tmp_path):
    from tests.fixtures.tiny_plate import make_tiny_plate

    inbox = tmp_path / "inbox"
    make_tiny_plate(inbox, layout="harmony", plate="H1")
    watcher = _watcher(inbox, tmp_path / "results", None, [])
    watcher.check()
    assert watcher.check() == []
    (inbox / "H1" / "Images" / "Index.idx.xml").write_text("<EvaluationInputData/>")
    watcher.check()
    assert [(p.name, r) for p, r in watcher.check()] == [("H1", "end-of-plate marker Index.idx.xml")]


def test_a_failed_plate_is_retried_only_when_its_files_change(tmp_path, staging):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    shutil.copytree(staging / "P1", inbox / "P1")
    model = make_tiny_model(tmp_path / "m2", channels=("ch1", "ch2"), formats=("onnx",))
    lines: list[str] = []
    watcher = _watcher(inbox, out, model, lines, expect=4)
    watcher.step()
    time.sleep(FAST["poll"])
    assert watcher.step() == [("P1", "failed")]
    assert "channels" in WatchState(out).get("P1")["error"]
    assert watcher.step() == []  # not retried while unchanged
    (inbox / "P1" / "notes.txt").write_text("re-exported")
    watcher.step()
    assert _status(out) == {"P1": "waiting"}
    assert lines[-1] == "plate P1: files changed after it failed; waiting for it again"


def test_ome_zarr_store_in_the_inbox_is_scored_after_the_quiet_time(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    inbox.mkdir()
    write_ngff_plate(inbox / "Z1.zarr", wells=("B/3", "C/5"), fields=2, shape=(1, 2, 1, 32, 40), name="Z1")
    model = make_tiny_model(tmp_path / "zm", channels=("DAPI", "GFP"), size=(32, 40), formats=("onnx",))
    now = [0.0]
    watcher = _watcher(inbox, out, model, [], clock=lambda: now[0], quiet=30, expect=4)
    watcher.step()
    assert watcher.step() == []  # 4 fields in the metadata do not make a store complete
    now[0] += 31
    assert watcher.step() == [("Z1.zarr", "done")]
    fields = pd.read_parquet(out / "Z1" / "fields.parquet")
    assert len(fields) == 4 and (fields["status"] == "ok").all()


def test_bad_inbox_and_results_inside_it_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        Watcher(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "inbox").mkdir()
    with pytest.raises(ConfigError, match="inside the inbox"):
        Watcher(tmp_path / "inbox", tmp_path / "inbox" / "results")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STATE_FILE).write_text("{}")
    with pytest.raises(ConfigError, match="not a watch state file"):
        Watcher(tmp_path / "inbox", tmp_path / "out")
    with pytest.raises(ConfigError, match="--quiet 0"):
        WatchSettings(quiet=0)


def test_the_plate_map_says_how_many_fields_a_plate_expects(tmp_path, tiny_model, staging):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    shutil.copytree(staging / "P1", inbox / "P1")
    copy_slowly(staging / "P2", inbox / "P2", pause=0, limit=11)  # one channel file short
    plate_map = tmp_path / "map.csv"
    plate_map.write_text(
        "plate,well,compound,concentration,role,label\n"
        + "".join(
            f"{p},{w},C{i},{i},treated,\n"
            for p in ("P1", "P2")
            for i, w in enumerate(["B02", "B03", "C02", "C03"])
        )
    )
    lines: list[str] = []
    watcher = Watcher(
        inbox, out, tiny_model, WatchSettings(**FAST, report=False),
        {"backend": "onnxruntime", "workers": 1, "metadata": [plate_map]}, log=lines.append,
    )  # fmt: skip
    watcher.check()
    assert [(p.name, r) for p, r in watcher.check()] == [("P1", "4 of 4 expected fields")]
    assert watcher.step() == [("P1", "done")]
    wells = pd.read_parquet(out / "P1" / "wells.parquet")
    assert wells["compound"].tolist() == ["C0", "C1", "C2", "C3"]
    two_sites = Watcher(
        inbox, tmp_path / "r2", None, WatchSettings(**FAST, fields_per_well=2), {"metadata": [plate_map]}
    )
    two_sites.check()
    assert two_sites.check() == []  # 4 fields, 8 expected


def test_a_plate_removed_before_it_was_complete_is_forgotten(tmp_path, staging):
    inbox, out = tmp_path / "inbox", tmp_path / "results"
    copy_slowly(staging / "P1", inbox / "P1", pause=0, limit=3)
    lines: list[str] = []
    watcher = _watcher(inbox, out, None, lines)
    watcher.check()
    assert _status(out) == {"P1": "waiting"}
    shutil.rmtree(inbox / "P1")
    watcher.check()
    assert _status(out) == {} and lines[-1] == "plate P1: gone from the inbox before it was complete"
