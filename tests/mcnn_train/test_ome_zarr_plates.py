"""Training reads OME-Zarr plates: `--data` finds the stores, labels join, the field cache reads planes."""

from __future__ import annotations

import shutil

import numpy as np

from mcnn_infer.convert import convert_plates
from mcnn_infer.preprocess import Normalization
from mcnn_train.field_cache import FieldCache
from mcnn_train.labelled_fields import find_label_files, find_plate_dirs, load_labelled_fields

from .conftest import plate_dirs


def test_converted_screen_gives_the_same_labelled_fields(mini_screen, tmp_path):
    root = tmp_path / "zarr-screen"
    convert_plates(plate_dirs(mini_screen), root / "plates")
    for table in mini_screen.glob("*.csv"):  # the labels (BBBC021 image + MoA tables, plate map)
        shutil.copy(table, root)
    stores = find_plate_dirs(root)
    assert [p.name for p in stores] == [f"{p.name}.zarr" for p in plate_dirs(mini_screen)]
    tiff = load_labelled_fields(plate_dirs(mini_screen), find_label_files(mini_screen))
    zarr = load_labelled_fields(stores, find_label_files(root))
    keys = ["plate", "well", "site", "label"]
    assert zarr.channels == tiff.channels and zarr.class_names == tiff.class_names
    assert zarr.fields[keys].reset_index(drop=True).equals(tiff.fields[keys].reset_index(drop=True))
    norm = Normalization(low=(0.0,) * 3, high=(65535.0,) * 3, method="fixed")
    picks = [0, len(tiff.fields) - 1]
    caches = [
        FieldCache(tmp_path / name, [labelled.field_paths(i) for i in picks], norm, (64, 64))
        for name, labelled in (("tiff", tiff), ("zarr", zarr))
    ]
    for i in range(len(picks)):
        assert np.array_equal(caches[0].get(i), caches[1].get(i))
