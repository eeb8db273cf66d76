"""Contact sheet of a screen."""

from __future__ import annotations

import matplotlib.image as mpimg
import pandas as pd
import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.synth.preview import contact_sheet, pick_fields


def test_contact_sheet_shows_one_field_per_class(tiny_screen, tmp_path):
    target = contact_sheet(tiny_screen.out_dir, tmp_path / "sheet.png")
    picture = mpimg.imread(target)
    assert picture.ndim == 3 and picture.shape[0] > 100 and picture.shape[1] > 300
    picks = pick_fields(tiny_screen.truth_fields)
    assert list(picks["moa"]) == ["DMSO", "Actin disruptors", "Eg5 inhibitors", "Microtubule stabilizers"]
    truth = tiny_screen.truth_fields
    good = truth[~(truth["out_of_focus"] | truth["nearly_empty"])]
    for pick in picks.itertuples():
        assert pick.strength == good.loc[good["moa"] == pick.moa, "strength"].max()


def test_pick_prefers_good_fields():
    truth = pd.DataFrame(
        {
            "moa": ["DMSO", "Epithelial", "Epithelial"],
            "strength": [0.0, 0.9, 0.6],
            "out_of_focus": [False, True, False],
            "nearly_empty": [False, False, False],
        }
    )
    assert list(pick_fields(truth)["strength"]) == [0.0, 0.6]


def test_contact_sheet_needs_a_screen(tmp_path):
    with pytest.raises(ConfigError, match="truth_fields.csv"):
        contact_sheet(tmp_path)
