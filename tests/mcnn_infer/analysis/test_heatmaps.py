import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.heatmaps import class_heatmap, plate_grid, score_heatmap
from mcnn_infer.wells import well_from_indices


@pytest.mark.parametrize("rows,cols", [(8, 12), (16, 24), (32, 48)])
def test_heatmaps_for_each_plate_format(tmp_path, rows, cols):
    wells = [well_from_indices(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1)]
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"well": wells, "prob_A": rng.random(len(wells))})
    df["predicted_class"] = np.where(df["prob_A"] > 0.5, "A", "B")
    grid, shape = plate_grid(df["well"], df["prob_A"])
    assert shape == (rows, cols) and grid[rows - 1, cols - 1] == df["prob_A"].iloc[-1]
    p1 = score_heatmap(df, "prob_A", tmp_path / "s.png")
    p2 = class_heatmap(df, ["A", "B"], tmp_path / "c.png")
    assert imread(p1).shape[0] > 100 and imread(p2).shape[0] > 100


def test_bad_inputs(tmp_path):
    df = pd.DataFrame({"well": ["A01", "Z99"], "prob_A": [0.1, 0.2], "predicted_class": ["A", "C"]})
    with pytest.raises(AnalysisError, match="x99|Z99"):
        plate_grid(df["well"], df["prob_A"])
    with pytest.raises(AnalysisError, match="not in the model classes"):
        class_heatmap(df, ["A", "B"], tmp_path / "x.png")
