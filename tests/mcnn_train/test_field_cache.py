from __future__ import annotations

import numpy as np

from mcnn_infer.images import read_field
from mcnn_infer.preprocess import Normalization, preprocess_field
from mcnn_train.field_cache import FieldCache
from mcnn_train.labelled_fields import find_label_files, find_plate_dirs, load_labelled_fields


def test_cache_matches_scoring_preprocessing_and_persists(mini_screen, tmp_path):
    labelled = load_labelled_fields(find_plate_dirs(mini_screen), find_label_files(mini_screen))
    paths = [labelled.field_paths(i) for i in range(3)]
    norm = Normalization(low=(100.0, 100.0, 100.0), high=(5000.0, 3000.0, 3000.0), method="fixed")
    cache = FieldCache(tmp_path, paths, norm, (128, 128))
    assert cache.n_filled() == 0
    first = cache.get(1)
    expected = preprocess_field(read_field(paths[1]), norm, (128, 128))
    np.testing.assert_array_equal(first, expected)
    assert first.dtype == np.float32 and first.shape == (128, 128, 3)
    cache.flush()
    reopened = FieldCache(tmp_path, paths, norm, (128, 128))
    assert reopened.n_filled() == 1 and reopened.filled[1] == 1
    np.testing.assert_array_equal(reopened.get(1), expected)
    # a different normalisation or size is a different cache
    other = FieldCache(
        tmp_path, paths, Normalization(low=(0.0,) * 3, high=(1.0e4,) * 3, method="fixed"), (128, 128)
    )
    assert other.key != cache.key and other.n_filled() == 0
