from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mcnn_infer.errors import ChannelMismatchError, ConfigError, MetadataError
from mcnn_train.config import TrainConfig
from mcnn_train.labelled_fields import find_label_files, find_plate_dirs, load_labelled_fields
from mcnn_train.run_plan import make_plan

from .conftest import plate_dirs


def test_labels_join_and_classes(mini_screen):
    plates = find_plate_dirs(mini_screen)
    assert plates == plate_dirs(mini_screen)
    labelled = load_labelled_fields(plates, find_label_files(mini_screen))
    assert labelled.channels == ["w1", "w2", "w4"]
    assert labelled.class_names == ["Actin disruptors", "DMSO", "Eg5 inhibitors", "Microtubule destabilizers"]
    assert len(labelled.fields) == 2 * 8 + 3 * 2 * 2 * 2  # DMSO wells + treated wells, one site
    assert labelled.excluded.empty
    assert (labelled.fields["label"] == 1).sum() == 16
    assert labelled.summary()["n_plates"] == 2


def test_unlabelled_wells_are_excluded_and_counted(mini_screen, tmp_path):
    platemap = pd.read_csv(mini_screen / "platemap.csv")
    partial = platemap.iloc[4:]
    partial.to_csv(tmp_path / "platemap.csv", index=False)
    labelled = load_labelled_fields(plate_dirs(mini_screen), [tmp_path / "platemap.csv"])
    assert len(labelled.excluded) == 4
    assert set(labelled.excluded["reason"]) == {"well not in labels"}
    assert labelled.summary()["excluded"] == {"well not in labels": 4}


def test_labels_matching_no_field(mini_screen, tmp_path):
    platemap = pd.read_csv(mini_screen / "platemap.csv")
    platemap["plate"] = "OtherPlate"
    platemap.to_csv(tmp_path / "platemap.csv", index=False)
    with pytest.raises(MetadataError, match=r"match no field.*OtherPlate.*Week1_50001"):
        load_labelled_fields(plate_dirs(mini_screen), [tmp_path / "platemap.csv"])


def test_plate_with_different_channels(mini_screen, tmp_path):
    plates = plate_dirs(mini_screen)
    copy = tmp_path / "Week1" / plates[1].name
    shutil.copytree(plates[1], copy)
    for path in copy.glob("*_w4*.tif"):
        path.unlink()
    with pytest.raises(ChannelMismatchError, match=r"has channels \['w1', 'w2'\].*\['w1', 'w2', 'w4'\]"):
        load_labelled_fields([plates[0], copy], [mini_screen / "platemap.csv"])


def test_class_without_training_images_fails_before_training(mini_screen, tmp_path):
    platemap = pd.read_csv(mini_screen / "platemap.csv")
    plates = sorted(platemap["plate"].unique())
    # Eg5 inhibitors only on the second plate, which the plate split then holds out.
    drop = (platemap["label"] == "Eg5 inhibitors") & (platemap["plate"] == plates[0])
    platemap.loc[drop, "label"] = pd.NA
    platemap.to_csv(tmp_path / "platemap.csv", index=False)
    for seed in range(10):
        cfg = TrainConfig(
            out=tmp_path / "run",
            plates=plate_dirs(mini_screen),
            labels=[tmp_path / "platemap.csv"],
            model="mcnn-small",
            size=(128, 128),
            val_split="plate",
            val_fraction=0.5,
            seed=seed,
            batch_size=2,
        ).resolved()
        try:
            make_plan(cfg, workers=1)
        except ConfigError as exc:
            assert "['Eg5 inhibitors'] have no training images" in str(exc)
            return
    pytest.fail("no seed held out the plate with the only Eg5 wells")


def test_too_few_images_for_the_batch(mini_screen, tmp_path):
    cfg = TrainConfig(
        out=tmp_path / "run", data_root=mini_screen, model="mcnn-small", size=(128, 128), batch_size=64
    )
    from mcnn_train.trainer import _with_data_paths

    with pytest.raises(ConfigError, match=r"too few training images: \d+ fields .* batch size 64"):
        make_plan(_with_data_paths(cfg.resolved()), workers=1)
