"""The run plan's normalisation: per plate (default) or the training set's, saved and read back."""

from __future__ import annotations

import numpy as np
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.plate_normalization import PlateNormalizer
from mcnn_infer.plates import scan_plate
from mcnn_train.config import TrainConfig
from mcnn_train.run_plan import RunPlan, make_plan
from mcnn_train.trainer import _with_data_paths

from .conftest import plate_dirs


def _plan(mini_screen, tmp_path, **changes) -> RunPlan:
    cfg = TrainConfig(
        out=tmp_path / "run",
        data_root=mini_screen,
        model="mcnn-small",
        size=(128, 128),
        batch_size=4,
        **changes,
    )
    return make_plan(_with_data_paths(cfg.resolved()), workers=1)


def test_plate_normalisation_is_fitted_per_plate_as_the_scorer_fits_it(mini_screen, tmp_path):
    plan = _plan(mini_screen, tmp_path)
    assert plan.normalization.method == "plate"
    plates = plate_dirs(mini_screen)
    assert sorted(plan.plate_normalization) == sorted(p.name for p in plates)
    # the scorer, given a whole plate folder, fits the very same values
    scan = scan_plate(plates[1])
    scorer = PlateNormalizer(plan.normalization, scan.fields, scan.channels).for_plate(plates[1].name)
    assert scorer == plan.plate_normalization[plates[1].name]
    # each field gets its own plate's values
    first_of = {p: int(np.flatnonzero(plan.fields["plate"] == p)[0]) for p in plan.plate_normalization}
    for plate, index in first_of.items():
        assert plan.field_normalization(index) == plan.plate_normalization[plate]
    assert plan.plate_normalization[plates[0].name] != plan.plate_normalization[plates[1].name]

    plan.save(tmp_path / "run")
    again = RunPlan.load(tmp_path / "run")
    assert again.plate_normalization == plan.plate_normalization
    assert again.normalization == plan.normalization
    again.plate_normalization.pop(plates[0].name)
    with pytest.raises(ConfigError, match=f"no normalisation for plate {plates[0].name}"):
        again.field_normalization(first_of[plates[0].name])


def test_dataset_normalisation_uses_one_set_of_values(mini_screen, tmp_path):
    plan = _plan(mini_screen, tmp_path, normalization="dataset")
    assert plan.normalization.method == "percentile" and plan.plate_normalization == {}
    assert plan.field_normalization(0) is plan.normalization


def test_unknown_normalisation_option(mini_screen, tmp_path):
    with pytest.raises(ConfigError, match="normalization 'median' is out of range"):
        TrainConfig(out=tmp_path / "r", data_root=mini_screen, normalization="median").resolved()


def test_runs_saved_before_the_option_resume_with_dataset_normalisation(tmp_path):
    assert TrainConfig.from_dict({"out": str(tmp_path)}).normalization == "dataset"
    assert TrainConfig(out=tmp_path).normalization == "plate"
