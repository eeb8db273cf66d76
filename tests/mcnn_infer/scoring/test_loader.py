"""iter_batches: fields land in their batch's rows in place; a skipped field falls back to stacking."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.errors import ImageReadError
from mcnn_infer.scoring.loader import FieldJob, LoadedField, iter_batches
from mcnn_infer.scoring.stage_times import StageClock

SHAPE = (4, 5, 3)


def _prepare(bad: set[int], written: dict):
    def prepare(job: FieldJob, out: np.ndarray) -> LoadedField:
        if job.index in bad:
            return LoadedField(job.index, None, {}, "bad", ImageReadError(f"field {job.index} is bad"))
        out[...] = job.index
        written[job.index] = out
        return LoadedField(job.index, out, {"qc_focus": float(job.index)})

    return prepare


def _run(n: int, bad: set[int], batch_size: int = 4, clock: StageClock | None = None, dtype=np.float32):
    written: dict[int, np.ndarray] = {}
    jobs = [FieldJob(i, [f"f{i}.tif"]) for i in range(n)]
    batches = list(
        iter_batches(jobs, _prepare(bad, written), batch_size, SHAPE, 2, 8, clock=clock, dtype=dtype)
    )
    return batches, written


def test_without_skips_every_batch_is_the_array_the_loader_wrote():
    clock = StageClock()
    batches, written = _run(10, set(), clock=clock)
    assert [b.indices for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for batch in batches:
        assert batch.tensor.shape == (len(batch.indices), *SHAPE) and batch.tensor.flags.c_contiguous
        for k, index in enumerate(batch.indices):
            assert np.shares_memory(batch.tensor, written[index])  # no copy
            assert (batch.tensor[k] == index).all()
    assert clock.wall["batching"] == 0.0  # nothing was stacked


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
@pytest.mark.parametrize("bad", [set(), {1}, {0, 5, 9}, {3, 4, 5, 6}])
def test_batches_have_the_dtype_asked_for_with_and_without_skips(bad, dtype):
    batches, _ = _run(11, bad, dtype=dtype)
    assert [b.tensor.dtype for b in batches] == [np.dtype(dtype)] * len(batches)


@pytest.mark.parametrize("bad", [{1}, {0, 5, 9}, {3, 4, 5, 6}])
def test_a_skipped_field_keeps_every_other_field_in_order(bad):
    batches, _ = _run(11, bad)
    got = [i for b in batches for i in b.indices]
    assert got == [i for i in range(11) if i not in bad]
    assert sorted(s.index for b in batches for s in b.skipped) == sorted(bad)
    for batch in batches:
        assert len(batch.indices) <= 4
        for k, index in enumerate(batch.indices):
            assert (batch.tensor[k] == index).all()
            assert batch.qc[k] == {"qc_focus": float(index)}


def test_fail_fast_raises_the_first_bad_field():
    jobs = [FieldJob(i, [f"f{i}.tif"]) for i in range(6)]
    with pytest.raises(ImageReadError, match="field 2 is bad"):
        list(iter_batches(jobs, _prepare({2}, {}), 4, SHAPE, 2, 8, fail_fast=True))
