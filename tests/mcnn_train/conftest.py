"""Tiny synthetic BBBC021-like screens for the training tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

TRAIN_MOAS = ("Actin disruptors", "Eg5 inhibitors", "Microtubule destabilizers")


def make_screen(
    out: Path, *, compounds_per_moa: int = 3, sites: int = 2, size=(256, 256), seed: int = 1
) -> Path:
    """Render a 2-plate screen: DMSO + 3 MoAs at strong doses (10-30 µM); returns the root."""
    from mcnn_infer.synth import generate, simple_design

    design = simple_design(
        plates=2,
        compounds_per_moa=compounds_per_moa,
        concentrations=2,
        replicates=2,
        sites=sites,
        controls=8,
        positive_controls=0,
        moas=list(TRAIN_MOAS),
        concentration_range_um=(10.0, 30.0),
        seed=seed,
    )
    generate(out, design, size=size, progress=False)
    return out


@pytest.fixture(scope="session")
def train_screen(tmp_path_factory) -> Path:
    """Root of a small screen (2 plates, 4 classes, 152 fields of 256x256); read-only for tests."""
    return make_screen(tmp_path_factory.mktemp("train_screen") / "screen")


@pytest.fixture(scope="session")
def mini_screen(tmp_path_factory) -> Path:
    """A smaller screen (2 compounds per MoA, 1 site, 128x128) for quick end-to-end runs."""
    return make_screen(
        tmp_path_factory.mktemp("mini_screen") / "screen", compounds_per_moa=2, sites=1, size=(128, 128)
    )


def plate_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("Week*/*") if p.is_dir())
