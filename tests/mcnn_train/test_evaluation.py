from __future__ import annotations

import numpy as np
import pandas as pd

from mcnn_train.evaluation import evaluate_predictions, write_evaluation


def test_metrics_on_known_predictions(tmp_path):
    classes = ["A", "B", "DMSO"]
    fields = pd.DataFrame(
        {
            "plate": "P",
            "well": ["W1", "W1", "W2", "W2", "W3", "W3"],
            "site": [1, 2, 1, 2, 1, 2],
            "compound": ["a", "a", "b", "b", "DMSO", "DMSO"],
            "concentration": [1.0, 1.0, 2.0, 2.0, 0.0, 0.0],
            "moa": ["A", "A", "B", "B", "DMSO", "DMSO"],
            "label": [0, 0, 1, 1, 2, 2],
        }
    )
    logits = np.array([[5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 4, 0], [0, 0, 3], [2, 0, 0]], dtype=np.float32)
    # field-level: A right, A wrong, B, B right, DMSO right, DMSO wrong -> 4/6
    summary, tables = evaluate_predictions(fields, logits, classes)
    assert summary["image_accuracy"] == 4 / 6
    assert summary["per_class_recall"] == {"A": 0.5, "B": 1.0, "DMSO": 0.5}
    # treatment level (mean probabilities): a ties A/B -> first (A); DMSO (0,0,3)+(2,0,0) -> DMSO.
    assert list(tables["treatments"]["predicted"]) == ["DMSO", "A", "B"]  # sorted by compound: DMSO, a, b
    assert summary["treatment_accuracy"] == 1.0
    assert tables["confusion"].to_numpy().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    write_evaluation(tmp_path / "eval", summary, tables)
    for name in (
        "summary.json",
        "predictions.csv",
        "treatments.csv",
        "per_class.csv",
        "confusion.csv",
        "confusion.png",
    ):
        assert (tmp_path / "eval" / name).stat().st_size > 0
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
