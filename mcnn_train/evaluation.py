"""Evaluation on the validation split: image- and treatment-level accuracy, per-class recall,
confusion matrix (CSV + PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mcnn_infer.atomic import atomic_path, write_json, write_table


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def evaluate_predictions(
    fields: pd.DataFrame, logits: np.ndarray, class_names: list[str]
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Compute the metrics of validation predictions.

    Parameters
    ----------
    fields : pandas.DataFrame
        Validation fields (``plate, well, site, compound, concentration, moa, label``), N rows.
    logits : numpy.ndarray
        float ``(N, K)`` model logits in the same row order.
    class_names : list of str
        K class names (logit order).

    Returns
    -------
    summary : dict
        ``image_accuracy``, ``treatment_accuracy``, ``per_class_recall``, counts.
    tables : dict of DataFrame
        ``predictions`` (per field), ``treatments`` (per compound+concentration, mean
        probabilities), ``per_class`` (recall, precision, support), ``confusion`` (K x K).
    """
    n_classes = len(class_names)
    probs = softmax(np.asarray(logits, dtype=np.float64))
    true = fields["label"].to_numpy().astype(np.int64)
    pred = probs.argmax(axis=1)
    predictions = fields[["plate", "well", "site", "compound", "concentration", "moa"]].copy()
    predictions["predicted"] = [class_names[i] for i in pred]
    predictions["confidence"] = probs.max(axis=1)
    prob_cols = [f"prob_{name}" for name in class_names]
    predictions[prob_cols] = probs

    grouped = predictions.groupby(["compound", "concentration", "moa"], sort=True, dropna=False)
    treatments = grouped[prob_cols].mean().reset_index()
    treatments["n_fields"] = grouped.size().to_numpy()
    treatments["predicted"] = [class_names[i] for i in treatments[prob_cols].to_numpy().argmax(axis=1)]

    matrix = confusion_matrix(true, pred, n_classes)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    diag = np.diag(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, diag / np.maximum(support, 1), np.nan)
        precision = np.where(predicted_count > 0, diag / np.maximum(predicted_count, 1), np.nan)
    per_class = pd.DataFrame(
        {"class": class_names, "support": support, "recall": recall, "precision": precision}
    )
    confusion = pd.DataFrame(matrix, index=class_names, columns=class_names)
    confusion.index.name = "true\\predicted"
    summary = {
        "n_fields": len(fields),
        "n_treatments": len(treatments),
        "image_accuracy": float((pred == true).mean()) if len(true) else float("nan"),
        "treatment_accuracy": float((treatments["predicted"] == treatments["moa"]).mean())
        if len(treatments)
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


def plot_confusion(confusion: pd.DataFrame, path: Path, title: str) -> None:
    """Row-normalised confusion matrix heat map with counts, written atomically as PNG."""
    counts = confusion.to_numpy()
    rows = counts.sum(axis=1, keepdims=True)
    fraction = np.divide(counts, np.maximum(rows, 1))
    n = len(confusion)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 1.0 + 0.6 * n), dpi=100)
    ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), confusion.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), confusion.index, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if fraction[i, j] > 0.5 else "black",
                )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


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
