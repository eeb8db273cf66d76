"""Fixtures of the synth tests: a tiny simple screen written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcnn_infer.synth import SynthResult, generate, simple_design

TINY_SIZE = (64, 80)


def tiny_design(seed: int = 0):
    """One plate, 2 MoAs x 1 compound x 2 doses x 1 replicate, 2 DMSO and 1 positive control well."""
    return simple_design(
        plates=1,
        compounds_per_moa=1,
        concentrations=2,
        replicates=1,
        controls=2,
        positive_controls=1,
        moas=["Eg5 inhibitors", "Actin disruptors"],
        seed=seed,
    )


@pytest.fixture(scope="session")
def tiny_screen(tmp_path_factory) -> SynthResult:
    """A tiny simple screen (7 wells, 64x80) in a session temp folder."""
    out: Path = tmp_path_factory.mktemp("tiny_screen")
    return generate(out, tiny_design(), size=TINY_SIZE, seed=3, progress=False)
