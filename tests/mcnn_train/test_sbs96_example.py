"""The real-plate example's plate map: only the controls of rows A-D are labelled."""

from __future__ import annotations

from mcnn_train.sbs96_example import training_plate_map
from tests.conftest import SHARED_DATA


def test_training_map_labels_only_the_controls_of_the_training_rows():
    table = training_plate_map(SHARED_DATA / "sbs96" / "1049_Metadata.csv", "sbs96")
    assert len(table) == 96 and set(table["plate"]) == {"sbs96"}
    labelled = table[table["label"] != ""]
    assert sorted(labelled["well"].str[0].unique()) == list("ABCD")
    assert (labelled["role"] != "treated").all() and len(labelled) == 12
    assert dict(labelled.groupby("label").size()) == {"cytoplasmic": 8, "nuclear": 4}
    treated = table[table["role"] == "treated"]
    assert sorted(treated["concentration"].unique()) == list(range(1, 10))
    assert (table.loc[table["role"] == "negative", "concentration"] == 0).all()
    assert (table.loc[table["role"] == "positive", "concentration"] == 10).all()  # the SBS map's top dose
