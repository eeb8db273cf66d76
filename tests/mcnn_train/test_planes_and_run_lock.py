"""Training on z-stacks (``--planes`` in the config and the labelled fields) and the run-folder lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.folder_lock import HELD_ENV, folder_lock, read_holder
from mcnn_infer.zstack import parse_stack
from mcnn_train.config import TrainConfig
from mcnn_train.labelled_fields import load_labelled_fields
from mcnn_train.run_lock import launcher_rank, run_folder_lock
from tests.fixtures.ngff_plate import write_ngff_plate

REPO = Path(__file__).resolve().parents[2]


def test_planes_is_validated_and_kept_in_config_json(tmp_path):
    config = TrainConfig(out=tmp_path / "run", plates=[tmp_path], labels=[tmp_path / "m.csv"], planes=" MAX ")
    resolved = config.resolved()
    assert resolved.planes == "max"
    assert TrainConfig.from_dict(resolved.to_dict()).planes == "max"
    assert TrainConfig.from_dict({**resolved.to_dict(), "planes": None}).planes is None
    with pytest.raises(ConfigError, match="--planes 'median'"):
        TrainConfig(out=tmp_path, plates=[tmp_path], labels=[tmp_path], planes="median").resolved()


def test_labelled_fields_of_a_zstack_need_a_choice(tmp_path):
    store = tmp_path / "Z.zarr"
    write_ngff_plate(store, version="0.5", wells=("B/3", "C/5"), fields=1, shape=(1, 2, 3, 8, 8), name="Z")
    labels = tmp_path / "map.csv"
    labels.write_text(
        "plate,well,compound,concentration,role,label\nZ,B03,DMSO,0,negative,DMSO\nZ,C05,cpd,1,treated,Actin\n"
    )
    with pytest.raises(ConfigError, match="up to 3 z-planes per field.*--planes max"):
        load_labelled_fields([store], [labels])
    labelled = load_labelled_fields([store], [labels], planes="mean")
    assert labelled.fields["plane"].tolist() == [0, 0]
    how, planes = parse_stack(labelled.fields.iloc[0]["path_DAPI"])
    assert how == "mean" and len(planes) == 3
    one = load_labelled_fields([store], [labels], planes="3")
    assert one.fields["plane"].tolist() == [3, 3]


def test_launcher_rank_from_the_environment():
    assert launcher_rank({}) is None
    assert launcher_rank({"HOROVOD_RANK": "2"}) == 2
    assert launcher_rank({"OMPI_COMM_WORLD_RANK": "0"}) == 0
    assert launcher_rank({"PMI_RANK": "5"}) == 5


def test_only_rank_0_of_a_launcher_locks_the_run_folder(tmp_path):
    out = tmp_path / "run"
    with run_folder_lock(out, env={"OMPI_COMM_WORLD_RANK": "1"}) as held:
        assert held is False and not (out / ".hcs.lock").exists()
    with run_folder_lock(out, env={"OMPI_COMM_WORLD_RANK": "0"}) as held:
        assert held is True and read_holder(out)["pid"] is not None
        script = textwrap.dedent(
            """
            import sys
            from mcnn_infer.folder_lock import FolderLockedError
            from mcnn_train.run_lock import run_folder_lock
            try:
                with run_folder_lock(sys.argv[1], env={}):
                    print("locked")
            except FolderLockedError as exc:
                print("refused", exc)
            """
        )
        env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.stdout.startswith("refused"), done.stderr


def test_hcs_train_into_a_locked_run_folder_is_refused(hcs, tmp_path):
    run = tmp_path / "run"
    labels = tmp_path / "map.csv"
    labels.write_text("plate,well,compound,concentration,role,label\n")
    with folder_lock(run, "hcs train (another run)"):
        # the lock is held by this process: without the inherited environment, hcs train is another run
        del os.environ[HELD_ENV]  # folder_lock restores the environment it found (none) on exit
        result = hcs("train", str(tmp_path), "--labels", str(labels), "--out", str(run))
    assert result.exit_code == 2
    assert "in use by another hcs run" in result.stderr and "hcs train (another run)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert HELD_ENV not in os.environ
