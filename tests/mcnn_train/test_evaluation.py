from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
            "role": ["treated"] * 4 + ["negative"] * 2,
            "label": [0, 0, 1, 1, 2, 2],
        }
    )
    logits = np.array([[5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 4, 0], [0, 0, 3], [2, 0, 0]], dtype=np.float32)
    # field-level: A right, A wrong, B, B right, DMSO right, DMSO wrong -> 4/6
    summary, tables = evaluate_predictions(fields, logits, classes)
    assert summary["image_accuracy"] == 4 / 6
    assert summary["per_class_recall"] == {"A": 0.5, "B": 1.0, "DMSO": 0.5}
    # treatment level (mean probabilities): a ties A/B -> first (A); DMSO (0,0,3)+(2,0,0) -> DMSO.
    assert list(tables["treatments"]["predicted_moa"]) == ["DMSO", "A", "B"]  # sorted by compound: DMSO, a, b
    assert summary["treatment_accuracy"] == 1.0
    assert tables["confusion"].to_numpy().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert list(tables["confusion"].index) == list(tables["confusion"].columns) == classes
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


def test_treatment_accuracy_averages_wells_as_the_scorer_does():
    """Treatment a (MoA A) has one well with one field sure of A and one with three fields leaning
    to B: the mean over fields calls B, the mean over wells (the scorer's treatment call) calls A."""
    classes = ["A", "B"]
    fields = pd.DataFrame(
        {
            "plate": "P",
            "well": ["B02", "B03", "B03", "B03", "C02"],
            "site": [1, 1, 2, 3, 1],
            "compound": ["a", "a", "a", "a", "b"],
            "concentration": 1.0,
            "moa": ["A", "A", "A", "A", "B"],
            "role": "treated",
            "label": [0, 0, 0, 0, 1],
        }
    )
    sure_a, leaning_b = [np.log(9.0), 0.0], [0.0, np.log(7 / 3)]  # p(A) = 0.9 and 0.3
    logits = np.array([sure_a, leaning_b, leaning_b, leaning_b, [0.0, 2.0]], dtype=np.float32)
    summary, tables = evaluate_predictions(fields, logits, classes)
    treatments = tables["treatments"].set_index("compound")
    assert treatments.loc["a", "predicted_moa"] == "A" and treatments.loc["a", "n_wells"] == 2
    assert treatments.loc["a", "prob_A"] == pytest.approx(0.6, abs=1e-6)
    assert summary["treatment_accuracy"] == 1.0 and summary["image_accuracy"] == 2 / 5
