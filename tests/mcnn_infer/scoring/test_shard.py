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
