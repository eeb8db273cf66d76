"""Evaluation on the validation split: image- and treatment-level accuracy, per-class recall,
confusion matrix (CSV + PNG).

Probabilities, the confusion matrix and its plot and the treatment aggregation are the
inference side's (:mod:`mcnn_infer`), so "treatment accuracy" means here what it means for a
scored screen: field probabilities are averaged per well, wells per treatment
(:mod:`mcnn_infer.scoring.aggregate`), and the treatment's call is the arg-max.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.analysis.evaluate import confusion_matrix, plot_confusion
from mcnn_infer.atomic import atomic_path, write_json, write_table
from mcnn_infer.results import OK, prob_columns
from mcnn_infer.runtime.base import softmax
from mcnn_infer.scoring.aggregate import TREATMENT_COLUMNS, treatments_table, wells_table


def evaluate_predictions(
    fields: pd.DataFrame, logits: np.ndarray, class_names: list[str]
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Compute the metrics of validation predictions.

    Parameters
    ----------
    fields : pandas.DataFrame
        Validation fields (``plate, well, site, compound, concentration, moa, role, label``), N rows.
    logits : numpy.ndarray
        float ``(N, K)`` model logits in the same row order.
    class_names : list of str
        K class names (logit order).

    Returns
    -------
    summary : dict
        ``image_accuracy`` (fields), ``treatment_accuracy`` (treatments with a known MoA, DMSO
        included: it is a class), ``per_class_recall``, counts.
    tables : dict of DataFrame
        ``predictions`` (per field), ``treatments`` (per compound and concentration, as
        :func:`mcnn_infer.scoring.aggregate.treatments_table`: mean of the well means),
        ``per_class`` (recall, precision, support), ``confusion`` (K x K, class order).
    """
    probs = softmax(np.asarray(logits, dtype=np.float32))
    true = fields["label"].to_numpy().astype(np.int64)
    pred = probs.argmax(axis=1)
    names = np.asarray(class_names, dtype=object)
    predictions = fields[["plate", "well", "site", "compound", "concentration", "moa"]].copy()
    predictions["predicted"] = names[pred]
    predictions["confidence"] = probs.max(axis=1)
    predictions[prob_columns(class_names)] = probs

    wells = wells_table(
        predictions.assign(status=OK), class_names, fields[["plate", "well", *TREATMENT_COLUMNS]]
    )
    treatments = treatments_table(wells, class_names)

    confusion = confusion_matrix(pd.Series(names[true]), pd.Series(names[pred])).reindex(
        index=class_names, columns=class_names, fill_value=0
    )
    matrix = confusion.to_numpy()
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    diag = np.diag(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, diag / np.maximum(support, 1), np.nan)
        precision = np.where(predicted_count > 0, diag / np.maximum(predicted_count, 1), np.nan)
    per_class = pd.DataFrame(
        {"class": class_names, "support": support, "recall": recall, "precision": precision}
    )
    labelled = treatments[treatments["moa"].notna()]
    summary = {
        "n_fields": len(fields),
        "n_treatments": len(treatments),
        "image_accuracy": float((pred == true).mean()) if len(true) else float("nan"),
        "treatment_accuracy": float((labelled["predicted_moa"] == labelled["moa"]).mean())
        if len(labelled)
        else float("nan"),
        "per_class_recall": {
            name: (None if np.isnan(r) else float(r)) for name, r in zip(class_names, recall, strict=True)
        },
        "chance_accuracy": float(np.max(support) / max(len(true), 1)),
    }
    return summary, {
        "predictions": predictions,
        "treatments": treatments,
        "per_class": per_class,
        "confusion": confusion,
    }


def write_evaluation(folder: Path, summary: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
    """Write ``summary.json``, ``predictions.csv``, ``treatments.csv``, ``per_class.csv``,
    ``confusion.csv`` and ``confusion.png`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "summary.json", summary)
    for name in ("predictions", "treatments", "per_class"):
        write_table(tables[name], folder / f"{name}.csv")
    with atomic_path(folder / "confusion.csv") as tmp:
        tables["confusion"].to_csv(tmp)
    plot_confusion(
        tables["confusion"],
        folder / "confusion.png",
        f"validation: image acc {summary['image_accuracy']:.3f}, treatment acc {summary['treatment_accuracy']:.3f}",
    )
