"""Deterministic shards of a plate set: ``--shard i/n`` or the rank/size set by mpirun / horovodrun.

The unit of sharding is the well (all fields of a well go to one shard, so per-well results
of a shard are complete). Wells are listed in plate, row, column order and dealt round-robin:
well k goes to shard ``k mod n``. Shard indices are 0-based like MPI ranks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mcnn_infer.errors import ConfigError

if TYPE_CHECKING:  # pandas is imported when needed: `hcs score` locks its folder before that wait
    import pandas as pd

#: (rank variable, size variable), tried in order.
RANK_ENV = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("HOROVOD_RANK", "HOROVOD_SIZE"),
)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int = 0
    count: int = 1
    source: str = "default"

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(
                f"shard {self.index}/{self.count} from {self.source} is out of range "
                "(expected i/n with 0 <= i < n, e.g. 0/4)"
            )

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def from_launcher(self) -> bool:
        """True when the shard came from mpirun / horovodrun (all ranks share one --out)."""
        return self.source not in ("default", "--shard")

    @property
    def folder_name(self) -> str:
        """Sub-folder of a shared RESULTS_DIR for this shard: ``shard-002-of-008``."""
        return f"shard-{self.index:03d}-of-{self.count:03d}"

    def to_dict(self) -> dict:
        return {"index": self.index, "count": self.count, "source": self.source}


def parse_shard(text: str) -> Shard:
    """Parse ``i/n`` (0-based ``i``).

    Raises
    ------
    ConfigError
        If the text is not two integers ``i/n`` with ``0 <= i < n``.
    """
    index, sep, count = str(text).partition("/")
    try:
        if not sep:
            raise ValueError
        return Shard(int(index), int(count), source="--shard")
    except ValueError:
        raise ConfigError(
            f"--shard {text!r} is not i/n (expected two integers, e.g. 0/4 for the first of 4)"
        ) from None


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard that mpirun (Open MPI, PMI) or horovodrun set in the environment, if any."""
    env = os.environ if env is None else env
    for rank_var, size_var in RANK_ENV:
        if rank_var in env and size_var in env:
            try:
                return Shard(int(env[rank_var]), int(env[size_var]), source=f"{rank_var}/{size_var}")
            except ValueError:
                raise ConfigError(
                    f"{rank_var}={env[rank_var]!r}, {size_var}={env[size_var]!r} are not integers "
                    "(expected the rank and size set by mpirun or horovodrun)"
                ) from None
    return None


def resolve_shard(text: str | None, env: Mapping[str, str] | None = None) -> Shard:
    """``--shard`` if given, else the launcher's rank/size, else the whole plate set (0/1)."""
    if text:
        return parse_shard(text)
    return shard_from_env(env) or Shard()


def results_folder(out_dir: str | os.PathLike[str], shard: Shard) -> Path:
    """The folder a scoring process writes: ``out_dir``, or its ``shard-i-of-n`` folder under a launcher."""
    out = Path(out_dir)
    if shard.from_launcher and shard.count > 1:
        # every rank of mpirun/horovodrun got the same --out: give each its own folder
        # (`hcs merge RESULTS_DIR` merges the shard-* folders inside it)
        out = out / shard.folder_name
    return out


def shard_mask(table: pd.DataFrame, shard: Shard, units: list[tuple[str, str]]) -> pd.Series:
    """Rows of ``table`` (with ``plate`` and ``well``) that belong to ``shard``.

    Parameters
    ----------
    table : pandas.DataFrame
        Has ``plate`` and ``well`` columns.
    shard : Shard
    units : list of (plate, well)
        All wells of the plate set in canonical order (see :func:`mcnn_infer.results.well_units`).
    """
    import pandas as pd

    owner = {unit: k % shard.count for k, unit in enumerate(units)}
    keys = zip(table["plate"].astype(str), table["well"].astype(str), strict=True)
    return pd.Series([owner[key] == shard.index for key in keys], index=table.index, dtype=bool)
