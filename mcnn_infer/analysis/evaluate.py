"""The standard MoA evaluation of Ljosa et al. (2013): treatment-level 1-NN by cosine distance.

* Treatment profile: median of the well profiles of a (compound, concentration) over replicates.
* Queries: treatments with a known MoA that are not negative controls (DMSO).
* References: all non-negative-control treatments with a known MoA, except
  - NSC (not-same-compound): treatments of the query's compound;
  - NSCB (not-same-compound-or-batch): additionally treatments of the query's batch
    (see :func:`mcnn_infer.analysis.profiles.week_batch`). In BBBC021 the replicates of a
    treatment share a batch; where replicates span batches (as in synthetic screens) NSCB uses
    one profile per (compound, concentration, batch), so "another batch" stays well defined.
* Accuracy: fraction of queries whose nearest reference has the query's MoA, over the queries
  that have at least one eligible reference (the others are counted in ``n_no_reference``).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.io import save_figure
from mcnn_infer.results import stored_emb_columns

MODES = ("nsc", "nscb")


def treatment_profiles(well_profiles: pd.DataFrame, by_batch: bool = False) -> pd.DataFrame:
    """Median profile per (compound, concentration) over its wells.

    Parameters
    ----------
    well_profiles : pandas.DataFrame
        Output of :func:`mcnn_infer.analysis.profiles.well_profiles` (with treatment metadata).
    by_batch : bool
        One profile per (compound, concentration, batch) instead (for NSCB when replicates
        span batches).

    Returns
    -------
    pandas.DataFrame
        ``Metadata_Compound, Metadata_Concentration, Metadata_MoA, Metadata_Role, Metadata_Batches``
        (``;``-joined sorted batches), ``Metadata_NWells``, then the median features.
    """
    need = ["Metadata_Compound", "Metadata_Concentration", "Metadata_MoA", "Metadata_Batch"]
    missing = [c for c in need if c not in well_profiles.columns]
    if missing:
        raise AnalysisError(
            f"evaluation: well profiles lack {missing}; expected wells with compound and moa metadata"
        )
    feats = [c for c in well_profiles.columns if not c.startswith("Metadata_")]
    keys = ["Metadata_Compound", "Metadata_Concentration"] + (["Metadata_Batch"] if by_batch else [])
    data = well_profiles.dropna(subset=["Metadata_Compound"])
    grouped = data.groupby(keys, sort=True)
    out = grouped[feats].median()
    meta = pd.DataFrame(
        {
            "Metadata_MoA": grouped["Metadata_MoA"].agg(
                lambda s: s.dropna().iloc[0] if s.notna().any() else None
            ),
            "Metadata_Role": grouped["Metadata_Role"].first() if "Metadata_Role" in data else "treated",
            "Metadata_Batches": grouped["Metadata_Batch"].agg(lambda s: ";".join(sorted(set(map(str, s))))),
            "Metadata_NWells": grouped.size(),
        }
    )
    return pd.concat([meta, out], axis=1).reset_index().drop(columns=["Metadata_Batch"], errors="ignore")


def is_negative(tp: pd.DataFrame) -> np.ndarray:
    """True for negative controls: role ``negative`` or compound DMSO."""
    role = tp["Metadata_Role"].astype(str).to_numpy()
    comp = tp["Metadata_Compound"].astype(str).str.upper().to_numpy()
    return (role == "negative") | (comp == "DMSO")


def nearest_neighbour_moa(tp: pd.DataFrame, mode: str) -> pd.DataFrame:
    """1-NN MoA prediction of each query treatment by cosine distance.

    Parameters
    ----------
    tp : pandas.DataFrame
        Output of :func:`treatment_profiles`.
    mode : {"nsc", "nscb"}
        Which references are excluded for each query (see module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per query: ``compound, concentration, moa, batches, neighbour_compound,
        neighbour_concentration, predicted_moa, cosine_distance, correct``. Queries with no
        eligible reference are kept with ``predicted_moa`` NA and ``correct`` False.
    """
    if mode not in MODES:
        raise AnalysisError(f"evaluation: mode {mode!r}; expected one of {list(MODES)}")
    feats = stored_emb_columns(tp)
    if not feats:
        raise AnalysisError("evaluation: treatment profiles have no emb_NNN feature columns")
    usable = tp[tp["Metadata_MoA"].notna() & ~is_negative(tp)].reset_index(drop=True)
    x = usable[feats].to_numpy(np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    dist = 1.0 - x @ x.T
    comp = usable["Metadata_Compound"].to_numpy()
    batches = [set(b.split(";")) for b in usable["Metadata_Batches"]]
    excluded = comp[:, None] == comp[None, :]
    if mode == "nscb":
        n = len(usable)
        shared = np.array([[bool(batches[i] & batches[j]) for j in range(n)] for i in range(n)], dtype=bool)
        excluded = excluded | shared.reshape(n, n)
    dist = np.where(excluded, np.inf, dist)
    rows = []
    for i in range(len(usable)):
        j = int(np.argmin(dist[i])) if len(usable) else 0
        ok = np.isfinite(dist[i, j]) if len(usable) else False
        pred = usable.at[j, "Metadata_MoA"] if ok else None
        rows.append(
            {
                "compound": comp[i],
                "concentration": usable.at[i, "Metadata_Concentration"],
                "moa": usable.at[i, "Metadata_MoA"],
                "batches": usable.at[i, "Metadata_Batches"],
                "neighbour_compound": comp[j] if ok else None,
                "neighbour_concentration": usable.at[j, "Metadata_Concentration"] if ok else np.nan,
                "predicted_moa": pred,
                "cosine_distance": float(dist[i, j]) if ok else np.nan,
                "correct": bool(ok and pred == usable.at[i, "Metadata_MoA"]),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class NNAccuracy:
    """1-NN accuracy of one mode over ``n_queries`` queries with a reference; ``n_no_reference`` had none."""

    mode: str
    accuracy: float
    n_queries: int
    n_no_reference: int


def accuracy_of(predictions: pd.DataFrame, mode: str) -> NNAccuracy:
    """Fraction of queries with a reference whose nearest neighbour has the same MoA (NaN if none)."""
    answered = predictions[predictions["predicted_moa"].notna()] if len(predictions) else predictions
    acc = float(answered["correct"].mean()) if len(answered) else float("nan")
    return NNAccuracy(mode, acc, len(answered), len(predictions) - len(answered))


def confusion_matrix(true: pd.Series, predicted: pd.Series) -> pd.DataFrame:
    """Counts of (true MoA, predicted MoA); rows true, columns predicted, over the union of labels.

    Predictions that are NA are counted in a ``(none)`` column.
    """
    labels = sorted(set(true.dropna().astype(str)) | set(predicted.dropna().astype(str)))
    pred = predicted.fillna("(none)").astype(str)
    cols = labels + (["(none)"] if (pred == "(none)").any() else [])
    cm = pd.crosstab(true.astype(str), pred).reindex(index=labels, columns=cols, fill_value=0)
    cm.index.name, cm.columns.name = "true_moa", "predicted_moa"
    return cm


def plot_confusion(cm: pd.DataFrame, path, title: str):
    """Confusion matrix heatmap (rows true, columns predicted; counts annotated) as PNG."""
    n_r, n_c = cm.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * n_c + 2.5), max(3.0, 0.4 * n_r + 1.8)))
    ax.imshow(cm.to_numpy(), cmap="Blues")
    ax.set_xticks(range(n_c))
    ax.set_xticklabels(cm.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n_r))
    ax.set_yticklabels(cm.index, fontsize=7)
    vmax = cm.to_numpy().max() if cm.size else 0
    for (r, c), v in np.ndenumerate(cm.to_numpy()):
        if v:
            ax.text(
                c, r, str(v), ha="center", va="center", fontsize=7, color="white" if v > vmax / 2 else "black"
            )
    ax.set_xlabel("predicted MoA")
    ax.set_ylabel("true MoA")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
