import numpy as np
import pandas as pd
import pytest
import tifffile

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.translocation import (
    SCALES,
    nuclear_and_ring_means,
    nuclear_translocation_score,
    read_plate_map,
    translocation_scales,
)
from tests.conftest import SHARED_DATA

SBS = str(SHARED_DATA / "sbs96")


def _cells(nuclear: bool) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:96, :96]
    dna = np.zeros((96, 96), np.uint8)
    gfp = np.full((96, 96), 5, np.uint8)
    for cy, cx in ((24, 24), (24, 72), (72, 48)):
        r = np.hypot(yy - cy, xx - cx)
        dna[r < 8] = 200
        gfp[(r < 8) if nuclear else ((r >= 8) & (r < 16))] = 150
        gfp[(r < 8) if not nuclear else ((r >= 8) & (r < 16))] = 30
    return gfp, dna


def test_score_separates_nuclear_from_cytoplasmic():
    assert nuclear_translocation_score(*_cells(True)) > 3
    assert nuclear_translocation_score(*_cells(False)) < 0.5
    with pytest.raises(AnalysisError, match="shape"):
        nuclear_translocation_score(np.zeros((4, 4)), np.zeros((5, 5)))


def test_scales_of_the_same_means():
    nuclear, ring = nuclear_and_ring_means(*_cells(True))
    assert nuclear == pytest.approx(150, rel=0.1) and ring == pytest.approx(30, rel=0.2)
    scales = translocation_scales(np.array([nuclear, 2.0, 1.0]), np.array([ring, 0.0, 3.0]))
    assert set(scales) == set(SCALES.values())
    ratio = scales[SCALES["ratio"]]
    assert ratio[0] == pytest.approx(nuclear / ring) == nuclear_translocation_score(*_cells(True))
    np.testing.assert_allclose(scales[SCALES["log-ratio"]][[0, 2]], np.log([nuclear / ring, 1 / 3]))
    np.testing.assert_allclose(scales[SCALES["nuclear-fraction"]][[0, 2]], [nuclear / (nuclear + ring), 0.25])
    # a dark ring gives no score on any scale, never inf
    assert all(np.isnan(values[1]) for values in scales.values())
    assert np.isnan(nuclear_and_ring_means(np.ones((8, 8)), np.zeros((8, 8)))).all()


def test_real_controls_differ():
    neg = [tifffile.imread(f"{SBS}/Channel{c}-01-A-01.tif") for c in (1, 2)]
    pos = [tifffile.imread(f"{SBS}/Channel{c}-12-A-12.tif") for c in (1, 2)]
    assert nuclear_translocation_score(*pos) > 2 * nuclear_translocation_score(*neg)


def test_read_sbs_plate_map_and_errors(tmp_path):
    pm = read_plate_map(f"{SBS}/1049_Metadata.csv")
    assert len(pm) == 96 and pm.attrs["group_name"] == "row"
    roles = pm.set_index("well")["role"]
    assert roles["A01"] == "negative" and roles["A12"] == "positive" and roles["E01"] == "positive"
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"Row": ["A"], "Column": ["01"], "SBS_Doses": [0], "SBS_Controls": [5]}).to_csv(
        bad, index=False
    )
    with pytest.raises(AnalysisError, match="SBS_Controls '5'"):
        read_plate_map(bad)
