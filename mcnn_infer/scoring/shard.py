"""Deterministic shards of a plate set: ``--shard i/n``, or the shard a launcher or scheduler set.

The unit of sharding is the well (all fields of a well go to one shard, so per-well results
of a shard are complete). Wells are listed in plate, row, column order and dealt round-robin:
well k goes to shard ``k mod n``. Shard indices are 0-based like MPI ranks.

Where the shard comes from without ``--shard i/n`` (or with ``--shard auto``):

- mpirun / horovodrun: the rank and size (:data:`RANK_ENV`);
- Slurm array jobs (``sbatch --array=0-7``): ``SLURM_ARRAY_TASK_ID`` counted from
  ``SLURM_ARRAY_TASK_MIN`` in steps of ``SLURM_ARRAY_TASK_STEP``, of ``SLURM_ARRAY_TASK_COUNT``
  tasks (or ``MAX - MIN + 1``); a non-contiguous list (``--array=1,3,7``) is refused;
- Kubernetes indexed Jobs (``completionMode: Indexed``): ``JOB_COMPLETION_INDEX`` of the count
  given by ``--shard-count`` or ``$HCS_SHARD_COUNT`` (the Job's ``spec.completions``: Kubernetes
  does not put it in the environment).

A launcher of size 1 (``srun`` of one task sets ``PMI_SIZE=1``) gives way to a scheduler's
array; two sources that each split the work are an error.
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
#: ``--shard auto``: take the shard from the launcher or scheduler, and fail if none set one.
AUTO = "auto"
SLURM_ID = "SLURM_ARRAY_TASK_ID"
SLURM_COUNT = "SLURM_ARRAY_TASK_COUNT"
SLURM_MIN = "SLURM_ARRAY_TASK_MIN"
SLURM_MAX = "SLURM_ARRAY_TASK_MAX"
SLURM_STEP = "SLURM_ARRAY_TASK_STEP"
K8S_INDEX = "JOB_COMPLETION_INDEX"
#: The shard count of a Kubernetes indexed Job (its ``spec.completions``), when not given as an option.
SHARD_COUNT_ENV = "HCS_SHARD_COUNT"


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
        """True when the shard came from a launcher or scheduler (all its tasks share one --out)."""
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


def _env_int(env: Mapping[str, str], name: str, expected: str) -> int | None:
    """The integer value of ``env[name]`` (None when unset); a ConfigError naming it otherwise."""
    if name not in env:
        return None
    try:
        return int(str(env[name]).strip())
    except ValueError:
        raise ConfigError(f"{name}={env[name]!r} is not an integer (expected {expected})") from None


def launcher_shard(env: Mapping[str, str]) -> Shard | None:
    """The rank/size that mpirun (Open MPI, PMI) or horovodrun set, if any."""
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


def slurm_array_shard(env: Mapping[str, str]) -> Shard | None:
    """The shard of a Slurm array task (``sbatch --array=MIN-MAX[:STEP]``), if this is one.

    Raises
    ------
    ConfigError
        When the array variables are not integers, contradict each other (a task id outside
        MIN..MAX or off the step, a COUNT that is not the size of the range: a list such as
        ``--array=1,3,7``), or the task id comes without a count or range.
    """
    task = _env_int(env, SLURM_ID, "the array task id Slurm sets")
    if task is None:
        return None
    expected = "the value Slurm sets for an array job"
    count = _env_int(env, SLURM_COUNT, expected)
    low = _env_int(env, SLURM_MIN, expected)
    high = _env_int(env, SLURM_MAX, expected)
    step = _env_int(env, SLURM_STEP, expected) or 1
    if low is None and (high is not None or count is None):
        raise ConfigError(
            f"{SLURM_ID}={task} without {SLURM_COUNT} or {SLURM_MIN}/{SLURM_MAX} "
            "(expected the variables of an array job, sbatch --array=0-N)"
        )
    low = 0 if low is None else low
    source = f"{SLURM_ID}={task} of {SLURM_MIN}={low}" + (f"..{SLURM_MAX}={high}" if high is not None else "")
    if high is not None:
        size = (high - low) // step + 1 if high >= low else 0
        if size < 1 or not low <= task <= high or (task - low) % step:
            raise ConfigError(
                f"{SLURM_ID}={task} is not a task of the array {low}-{high}:{step} "
                f"(from {SLURM_MIN}/{SLURM_MAX}/{SLURM_STEP}; expected one of its task ids)"
            )
        if count is not None and count != size:
            raise ConfigError(
                f"{SLURM_COUNT}={count} but the array {low}-{high}:{step} has {size} tasks (expected a "
                "contiguous range such as --array=0-7; a list of task ids cannot be split into shards)"
            )
        count = size
    return Shard((task - low) // step, count, source=f"{source} (Slurm array)")


def indexed_job_shard(env: Mapping[str, str], count: int | None = None) -> Shard | None:
    """The shard of a Kubernetes indexed Job's pod (``JOB_COMPLETION_INDEX``), if this is one.

    Parameters
    ----------
    env : mapping
        The environment.
    count : int, optional
        The Job's completion count (``--shard-count``); default ``$HCS_SHARD_COUNT``.

    Raises
    ------
    ConfigError
        When the index is set without a count, a value is not an integer, or ``count`` and
        ``$HCS_SHARD_COUNT`` disagree.
    """
    index = _env_int(env, K8S_INDEX, "the completion index of a Kubernetes indexed Job")
    if index is None:
        return None
    from_env = _env_int(env, SHARD_COUNT_ENV, "the Job's completion count (spec.completions)")
    if count is not None and from_env is not None and count != from_env:
        raise ConfigError(
            f"--shard-count {count} but {SHARD_COUNT_ENV}={from_env} (expected one completion count, "
            "the Job's spec.completions)"
        )
    total = count if count is not None else from_env
    if total is None:
        raise ConfigError(
            f"{K8S_INDEX}={index} is set but not the number of completions (expected --shard-count N "
            f"or {SHARD_COUNT_ENV}=N, the Job's spec.completions)"
        )
    return Shard(index, total, source=f"{K8S_INDEX}={index} of {total} (Kubernetes indexed Job)")


def shard_from_env(env: Mapping[str, str] | None = None, count: int | None = None) -> Shard | None:
    """The shard a launcher (mpirun, horovodrun) or scheduler (Slurm array, Kubernetes indexed Job) set.

    Parameters
    ----------
    env : mapping, optional
        Default ``os.environ``.
    count : int, optional
        ``--shard-count``: the completion count of a Kubernetes indexed Job; with another source
        it must equal that source's count.

    Returns
    -------
    Shard or None
        None when nothing in the environment sets a shard (and no ``count`` was given).

    Raises
    ------
    ConfigError
        Inconsistent variables (see :func:`slurm_array_shard`, :func:`indexed_job_shard`), two
        sources that each split the work, or a ``count`` that does not match.
    """
    env = os.environ if env is None else env
    found = [s for s in (launcher_shard(env), slurm_array_shard(env), indexed_job_shard(env, count)) if s]
    splitting = [s for s in found if s.count > 1]
    if len(splitting) > 1:
        raise ConfigError(
            f"both {splitting[0].source} (shard {splitting[0].label}) and {splitting[1].source} "
            f"(shard {splitting[1].label}) split the work (expected one of them; pass --shard i/n to choose)"
        )
    shard = (splitting or found or [None])[0]
    if count is not None:
        if shard is None:
            raise ConfigError(
                f"--shard-count {count} without {K8S_INDEX} (expected it in a Kubernetes indexed Job's pod; "
                "elsewhere use --shard i/n)"
            )
        if shard.count != count:
            raise ConfigError(
                f"--shard-count {count} but {shard.source} gives {shard.count} shards (expected the same count)"
            )
    return shard


def resolve_shard(
    text: str | None, env: Mapping[str, str] | None = None, count: int | None = None
) -> Shard:
    """The shard of a scoring run.

    Parameters
    ----------
    text : str or None
        ``--shard``: ``i/n``; ``auto`` (from the environment, an error if nothing there sets a
        shard); None (from the environment if set there, else the whole plate set, 0/1).
    env : mapping, optional
        Default ``os.environ``.
    count : int, optional
        ``--shard-count`` (Kubernetes indexed Jobs, see :func:`shard_from_env`).

    Raises
    ------
    ConfigError
        A bad ``i/n``, ``--shard-count`` with ``i/n``, ``auto`` with no shard in the environment,
        or inconsistent variables.
    """
    if text and str(text).strip().lower() != AUTO:
        if count is not None:
            raise ConfigError(
                f"--shard-count {count} with --shard {text} (expected --shard-count only with --shard auto "
                f"or under a Kubernetes indexed Job)"
            )
        return parse_shard(text)
    shard = shard_from_env(env, count)
    if shard is None and text:
        raise ConfigError(
            "--shard auto found no shard in the environment (expected a Slurm array task: "
            f"{SLURM_ID} with {SLURM_COUNT} or {SLURM_MIN}/{SLURM_MAX}; a Kubernetes indexed Job: {K8S_INDEX} "
            f"with --shard-count or {SHARD_COUNT_ENV}; or mpirun/horovodrun's rank and size)"
        )
    return shard or Shard()


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
