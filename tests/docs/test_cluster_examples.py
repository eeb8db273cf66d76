"""docs/cluster: the Kubernetes manifests and Slurm scripts parse, use only the CLI's options, and
their shards cover the wells once; the indexed Job's commands, run here, give the unsharded tables."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pandas as pd
import pytest
import yaml
from hcs_cli.main import _group

from mcnn_infer.scoring.shard import resolve_shard
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names

CLUSTER = Path(__file__).resolve().parents[2] / "docs" / "cluster"
SCORE_IMAGE = re.compile(r"(^|/)hcs:score$")


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CLUSTER / name).read_text(encoding="utf-8")) if d]


def check_against_cli(args: list[str]) -> click.Command:
    """Every option of ``hcs ARGS`` exists on its command, choices are valid; return the command."""
    ctx = click.Context(_group)
    command = _group.get_command(ctx, args[0])
    assert command is not None, f"hcs has no command {args[0]!r}"
    options = {
        opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts + p.secondary_opts
    }
    positional, tokens = [], list(args[1:])
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("--"):
            positional.append(token)
            continue
        name, _, inline = token.partition("=")
        assert name in options, f"hcs {args[0]} has no option {name} (in {args})"
        param = options[name]
        if param.is_flag:
            continue
        value = inline or tokens.pop(0)
        if isinstance(param.type, click.Choice):
            assert value in param.type.choices, f"{name} {value!r} is not one of {param.type.choices}"
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    assert len(positional) >= sum(1 for a in arguments if a.required), (args, arguments)
    return command


def _containers(job: dict) -> list[dict]:
    spec = job["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_indexed_job_manifest_matches_the_cli():
    (job,) = _documents("score-indexed-job.yaml")
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    (container,) = _containers(job)
    assert SCORE_IMAGE.search(container["image"])
    args = container["args"]
    check_against_cli(args)
    assert args[0] == "score" and args[args.index("--shard") + 1] == "auto"
    env = {e["name"]: e["value"] for e in container["env"]}
    n = job["spec"]["completions"]
    assert int(env["HCS_SHARD_COUNT"]) == n == job["spec"]["parallelism"]
    shards = [resolve_shard("auto", {"JOB_COMPLETION_INDEX": str(i), **env}) for i in range(n)]
    assert [s.label for s in shards] == [f"{i}/{n}" for i in range(n)]
    # every path argument lies on a mounted volume; plates read-only, results writable
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for value in args:
        if value.startswith("/"):
            assert any(value.startswith(m + "/") or value == m for m in mounts), value
    assert mounts["/data"]["readOnly"] and not mounts["/results"].get("readOnly")
    (merge,) = _documents("merge-job.yaml")
    steps = [c["args"] for c in _containers(merge)]
    assert [s[0] for s in steps] == ["merge", "analyze", "report"]
    for step in steps:
        check_against_cli(step)
    assert steps[0][1] == args[args.index("--out") + 1]  # merges what the pods wrote
    assert all(SCORE_IMAGE.search(c["image"]) for c in _containers(merge))


def _hcs_lines(script: str) -> list[list[str]]:
    """The hcs arguments of each ``apptainer run ... IMAGE <args>`` line of a shell script."""
    joined = re.sub(r"\\\n\s*", " ", script)
    out = []
    for line in joined.splitlines():
        if line.startswith("apptainer run"):
            tokens = shlex.split(line)
            out.append(tokens[tokens.index("$IMAGE") + 1 :])
    return out


def test_slurm_array_scripts_match_the_cli():
    script = (CLUSTER / "score-array.sbatch").read_text(encoding="utf-8")
    low, high = map(int, re.search(r"^#SBATCH --array=(\d+)-(\d+)$", script, re.MULTILINE).groups())
    ((args),) = _hcs_lines(script)
    check_against_cli(args)
    assert args[0] == "score" and args[args.index("--shard") + 1] == "auto"
    n = high - low + 1
    env = {
        "SLURM_ARRAY_TASK_MIN": str(low),
        "SLURM_ARRAY_TASK_MAX": str(high),
        "SLURM_ARRAY_TASK_COUNT": str(n),
    }
    labels = [
        resolve_shard("auto", {**env, "SLURM_ARRAY_TASK_ID": str(t)}).label for t in range(low, high + 1)
    ]
    assert labels == [f"{i}/{n}" for i in range(n)]
    merge = _hcs_lines((CLUSTER / "merge.sbatch").read_text(encoding="utf-8"))
    assert [m[0] for m in merge] == ["merge", "analyze", "report"]
    for step in merge:
        check_against_cli(step)
    assert merge[0][1] == args[args.index("--out") + 1]


def test_the_indexed_job_run_here_gives_the_tables_of_one_unsharded_run(hcs, tmp_path, monkeypatch):
    (job,) = _documents("score-indexed-job.yaml")
    (container,) = _containers(job)
    data, results = tmp_path / "data", tmp_path / "results"
    plate = make_tiny_plate(data, plate="screen", wells=well_names(10))
    (plate / "plate_map.csv").write_text(
        "plate,well,compound,concentration,role,label\n"
        + "".join(f"screen,{w},C{i % 3},{i + 1},treated,\n" for i, w in enumerate(well_names(10)))
    )
    model = make_tiny_model(tmp_path / "model", formats=("onnx",))

    def local(args: list[str]) -> list[str]:
        mapped = [a.replace("/data", str(data)).replace("/results", str(results)) for a in args]
        return [*mapped, "--model", str(model), "--backend", "onnxruntime"] if args[0] == "score" else mapped

    for name, value in ((e["name"], e["value"]) for e in container["env"]):
        monkeypatch.setenv(name, value)
    for index in range(job["spec"]["completions"]):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
        result = hcs(*local(container["args"]))
        assert result.exit_code == 0, result.stderr
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    merge = next(c["args"] for c in _containers(_documents("merge-job.yaml")[0]))
    assert hcs(*local(merge)).exit_code == 0
    single = hcs(*local(["score", "/data/screen", "--out", "/results/single", "--metadata", "/data/screen/plate_map.csv",
                         "--embeddings", "--shard", "0/1"]))  # fmt: skip
    assert single.exit_code == 0, single.stderr
    for table in ("fields", "wells"):
        merged = pd.read_parquet(results / "merged" / f"{table}.parquet")
        alone = pd.read_parquet(results / "single" / f"{table}.parquet")
        pd.testing.assert_frame_equal(merged, alone, check_exact=False, atol=1e-5)


@pytest.mark.parametrize("name", ["score-array.sbatch", "merge.sbatch"])
def test_slurm_scripts_are_strict_bash(name):
    text = (CLUSTER / name).read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
