import pandas as pd
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.results import well_units
from mcnn_infer.scoring.shard import Shard, parse_shard, resolve_shard, shard_from_env, shard_mask


def test_parse_shard_valid_and_invalid():
    assert parse_shard("1/4") == Shard(1, 4, "--shard")
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError, match="shard"):
            parse_shard(bad)


def test_shard_from_launcher_environment():
    assert shard_from_env({}) is None
    assert shard_from_env({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "3"}) == Shard(
        2, 3, "OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE"
    )
    assert shard_from_env({"PMI_RANK": "0", "PMI_SIZE": "2"}).label == "0/2"
    assert shard_from_env({"HOROVOD_RANK": "1", "HOROVOD_SIZE": "2"}).index == 1
    with pytest.raises(ConfigError, match="HOROVOD_RANK"):
        shard_from_env({"HOROVOD_RANK": "x", "HOROVOD_SIZE": "2"})
    assert resolve_shard("0/2", {"PMI_RANK": "1", "PMI_SIZE": "2"}).index == 0  # --shard wins
    assert resolve_shard(None, {}).label == "0/1"


def test_shards_partition_wells_deterministically():
    table = pd.DataFrame(
        {
            "plate": ["P2", "P1", "P1", "P1", "P1", "P2"],
            "well": ["A01", "B01", "A02", "A01", "A01", "A10"],
        }
    )
    units = well_units([table])
    assert units == [("P1", "A01"), ("P1", "A02"), ("P1", "B01"), ("P2", "A01"), ("P2", "A10")]
    masks = [shard_mask(table, Shard(i, 3), units) for i in range(3)]
    total = sum(m.astype(int) for m in masks)
    assert (total == 1).all()
    # both fields of well P1/A01 in one shard
    assert masks[0].iloc[3] and masks[0].iloc[4]
    assert shard_mask(table, Shard(1, 3), units).tolist() == masks[1].tolist()


def test_slurm_array_task_gives_the_shard():
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "7"}
    assert shard_from_env(env).label == "5/8"
    # ids counted from MIN in steps of STEP; COUNT agrees
    env = {
        "SLURM_ARRAY_TASK_ID": "7",
        "SLURM_ARRAY_TASK_MIN": "1",
        "SLURM_ARRAY_TASK_MAX": "9",
        "SLURM_ARRAY_TASK_STEP": "2",
        "SLURM_ARRAY_TASK_COUNT": "5",
    }
    shard = resolve_shard("auto", env)
    assert (shard.index, shard.count, shard.from_launcher) == (3, 5, True)
    assert "SLURM_ARRAY_TASK_ID" in shard.source
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}).label == "2/4"
    # default without --shard under an array job; a size-1 launcher (srun of one task) gives way
    assert resolve_shard(None, {**env, "PMI_RANK": "0", "PMI_SIZE": "1"}).label == "3/5"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLURM_ARRAY_TASK_ID": "3"}, "without SLURM_ARRAY_TASK_COUNT"),
        (
            {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"},
            "SLURM_ARRAY_TASK_ID='x' is not an integer",
        ),
        (
            {"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "7"},
            "not a task of the array 0-7",
        ),
        (
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "7",
                "SLURM_ARRAY_TASK_COUNT": "3",
            },
            "SLURM_ARRAY_TASK_COUNT=3 but the array 1-7:1 has 7 tasks",
        ),
        ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, r"4/4 .* out of range"),
        (
            {
                "SLURM_ARRAY_TASK_ID": "1",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "OMPI_COMM_WORLD_RANK": "1",
                "OMPI_COMM_WORLD_SIZE": "2",
            },
            "split the work",
        ),
        ({"JOB_COMPLETION_INDEX": "2"}, "--shard-count N or HCS_SHARD_COUNT"),
        ({"JOB_COMPLETION_INDEX": "2", "HCS_SHARD_COUNT": "two"}, "HCS_SHARD_COUNT='two'"),
        ({"JOB_COMPLETION_INDEX": "4", "HCS_SHARD_COUNT": "4"}, "out of range"),
    ],
)
def test_inconsistent_scheduler_variables_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        resolve_shard("auto", env)


def test_kubernetes_indexed_job_gives_the_shard():
    env = {"JOB_COMPLETION_INDEX": "2", "HCS_SHARD_COUNT": "4"}
    shard = resolve_shard("auto", env)
    assert (shard.index, shard.count, shard.from_launcher) == (2, 4, True)
    assert shard.folder_name == "shard-002-of-004"
    assert resolve_shard(None, {"JOB_COMPLETION_INDEX": "1"}, count=3).label == "1/3"
    assert resolve_shard("auto", env, count=4).label == "2/4"
    with pytest.raises(ConfigError, match="--shard-count 5 but HCS_SHARD_COUNT=4"):
        resolve_shard("auto", env, count=5)


def test_shard_auto_and_shard_count_misuse():
    with pytest.raises(ConfigError, match="--shard auto found no shard"):
        resolve_shard("auto", {})
    with pytest.raises(ConfigError, match="--shard-count 4 with --shard 0/4"):
        resolve_shard("0/4", {}, count=4)
    with pytest.raises(ConfigError, match="--shard-count 4 without JOB_COMPLETION_INDEX"):
        resolve_shard(None, {}, count=4)
    with pytest.raises(ConfigError, match="--shard-count 4 but .* gives 2 shards"):
        resolve_shard("auto", {"PMI_RANK": "1", "PMI_SIZE": "2"}, count=4)
    # a launcher of size 1 alone is still a shard (the whole set), not an error
    assert resolve_shard("auto", {"PMI_RANK": "0", "PMI_SIZE": "1"}).label == "0/1"
