"""Mean average precision (mAP) of image-based profiles with copairs (Kalinin et al. 2025).

Two retrieval tasks of the JUMP / copairs recipe (Arevalo et al. 2024):

* **Phenotypic activity**: can a treatment's replicate wells be told apart from the DMSO wells?
  Each well of a treatment (compound x concentration) is a query; its positives are the other
  wells of the same treatment (any plate), its negatives the negative-control (DMSO) wells of
  the query's own plate. DMSO wells are never positives of each other (copairs'
  ``assign_reference_index``). mAP per treatment, p-value from copairs' permutation null,
  Benjamini-Hochberg corrected; a treatment is *retrieved* when its corrected p < ``threshold``.
* **Phenotypic consistency**: do treatments of one MoA look alike? On treatment-level
  consensus profiles (median of the wells), each labelled treatment is a query, its positives
  are treatments of the same MoA and another compound, its negatives treatments of other MoAs.
  mAP per MoA, p-values and retrieval as above. Negative controls and unlabelled treatments
  are left out.

Cosine similarity throughout (copairs' default). The null is seeded: same input, same output.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mcnn_infer.analysis import evaluate as ev
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.analysis.io import save_figure
from mcnn_infer.analysis.profiles import feature_columns, meta_columns

#: Permutations of copairs' null distribution: the smallest p-value is 1 / (NULL_SIZE + 1).
NULL_SIZE = 10_000
SEED = 0
#: Corrected p-value below which a treatment / MoA counts as retrieved.
THRESHOLD = 0.05
KINDS = ("activity", "consistency")

_TREATMENT = "Metadata_Treatment"
_NEGCON = "Metadata_Negcon"
_REFERENCE = "Metadata_Reference_Index"


@dataclass(frozen=True)
class MapSettings:
    """copairs settings: ``null_size`` permutations, ``seed``, corrected-p ``threshold``."""

    null_size: int = NULL_SIZE
    seed: int = SEED
    threshold: float = THRESHOLD

    def __post_init__(self) -> None:
        if self.null_size < 1:
            raise AnalysisError(
                f"mAP: null_size {self.null_size}; expected a positive number of permutations"
            )
        if not 0 < self.threshold < 1:
            raise AnalysisError(f"mAP: threshold {self.threshold}; expected a p-value in (0, 1)")


@dataclass
class MapResult:
    """One mAP task on one feature set.

    Attributes
    ----------
    kind : {"activity", "consistency"}
    groups : pandas.DataFrame
        One row per treatment (activity: ``compound, concentration, moa, role``) or per MoA
        (consistency: ``moa, n_compounds``), then ``n_profiles, mean_average_precision,
        mean_normalized_average_precision, p_value, corrected_p_value, retrieved``; sorted by
        corrected p-value, then mAP descending.
    ap : pandas.DataFrame
        copairs' per-profile table: the profile metadata, ``average_precision``,
        ``normalized_average_precision``, ``n_pos_pairs``, ``n_total_pairs``.
    summary : dict
        ``n_groups, n_retrieved, fraction_retrieved, mean_map`` and the settings, plus what was
        left out (``excluded``).
    """

    kind: str
    groups: pd.DataFrame
    ap: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


_GROUP_COLUMNS = [
    "n_profiles",
    "mean_average_precision",
    "mean_normalized_average_precision",
    "p_value",
    "corrected_p_value",
    "retrieved",
]


def _copairs_map(
    meta: pd.DataFrame,
    feats: np.ndarray,
    *,
    pos_sameby: list[str],
    pos_diffby: list[str],
    neg_sameby: list[str],
    neg_diffby: list[str],
    sameby: list[str],
    settings: MapSettings,
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """copairs AP per profile and mAP per ``sameby`` group; None when there are no positive or negative pairs."""
    from copairs.map import average_precision, mean_average_precision
    from copairs.matching import UnpairedException

    try:
        ap = average_precision(
            meta.reset_index(drop=True),
            feats,
            pos_sameby=pos_sameby,
            pos_diffby=pos_diffby,
            neg_sameby=neg_sameby,
            neg_diffby=neg_diffby,
            progress_bar=False,
        )
    except UnpairedException:
        return None
    if not (ap["n_pos_pairs"] > 0).any() or ap["average_precision"].isna().all():
        return None
    # copairs caches null distributions (default ~/.copairs): keep them inside this run.
    with tempfile.TemporaryDirectory(prefix="hcs-copairs-") as cache:
        maps = mean_average_precision(
            ap,
            sameby,
            null_size=settings.null_size,
            threshold=settings.threshold,
            seed=settings.seed,
            progress_bar=False,
            cache_dir=cache,
        )
    counts = ap[ap["n_pos_pairs"] > 0].groupby(sameby, observed=True).size().rename("n_profiles")
    maps = maps.drop(columns=["indices"], errors="ignore").merge(counts.reset_index(), on=sameby, how="left")
    maps["retrieved"] = maps["below_corrected_p"].astype(bool)
    return ap, maps


def _summary(groups: pd.DataFrame, settings: MapSettings, **extra: Any) -> dict[str, Any]:
    n = len(groups)
    n_ret = int(groups["retrieved"].sum()) if n else 0
    return {
        "n_groups": n,
        "n_retrieved": n_ret,
        "fraction_retrieved": n_ret / n if n else float("nan"),
        "mean_map": float(groups["mean_average_precision"].mean()) if n else float("nan"),
        "null_size": settings.null_size,
        "seed": settings.seed,
        "threshold": settings.threshold,
        "distance": "cosine",
        **extra,
    }


def _sorted(groups: pd.DataFrame) -> pd.DataFrame:
    return groups.sort_values(
        ["corrected_p_value", "mean_average_precision"], ascending=[True, False], kind="stable"
    ).reset_index(drop=True)


def _empty(kind: str, keys: list[str], settings: MapSettings, **extra: Any) -> MapResult:
    groups = pd.DataFrame(columns=[*keys, *_GROUP_COLUMNS])
    return MapResult(kind, groups, pd.DataFrame(), _summary(groups, settings, **extra))


def _features(profiles: pd.DataFrame) -> list[str]:
    feats = feature_columns(profiles)
    if not feats:
        raise AnalysisError("mAP: the profiles have no feature columns (every column is Metadata_)")
    return feats


def phenotypic_activity(profiles: pd.DataFrame, settings: MapSettings | None = None) -> MapResult:
    """mAP of each treatment's replicate wells against the DMSO wells of their plates.

    Parameters
    ----------
    profiles : pandas.DataFrame
        Well profiles (:func:`mcnn_infer.analysis.profiles.well_profiles`) with
        ``Metadata_Plate, Metadata_Compound, Metadata_Concentration, Metadata_Role``.
    settings : MapSettings, optional
        Null size, seed and threshold; default :class:`MapSettings` ().

    Returns
    -------
    MapResult
        ``groups``: one row per treatment with at least two wells on plates with DMSO wells.
        ``summary["excluded"]`` counts wells on plates without negative controls and
        treatments with a single well (no replicate to retrieve).
    """
    settings = settings or MapSettings()
    need = ["Metadata_Plate", "Metadata_Compound", "Metadata_Concentration", "Metadata_Role"]
    missing = [c for c in need if c not in profiles.columns]
    if missing:
        raise AnalysisError(
            f"mAP activity: the well profiles lack {missing}; expected wells with treatment metadata"
        )
    feats = _features(profiles)
    data = profiles[profiles["Metadata_Compound"].notna()].reset_index(drop=True)
    negcon = data["Metadata_Role"].eq("negative").to_numpy()
    plates_with_neg = set(data.loc[negcon, "Metadata_Plate"])
    on_plate = data["Metadata_Plate"].isin(plates_with_neg).to_numpy()
    excluded = {
        "wells_on_plates_without_negatives": int((~negcon & ~on_plate).sum()),
        "plates_without_negatives": sorted(map(str, set(data["Metadata_Plate"]) - plates_with_neg)),
    }
    data = data[on_plate].reset_index(drop=True)
    negcon = data["Metadata_Role"].eq("negative").to_numpy()
    conc = pd.to_numeric(data["Metadata_Concentration"], errors="coerce")
    data[_TREATMENT] = [
        f"{c} @ {x:g}" for c, x in zip(data["Metadata_Compound"].astype(str), conc, strict=True)
    ]
    data[_NEGCON] = negcon
    # Each DMSO well its own reference index: DMSO wells are never positives of each other.
    data[_REFERENCE] = np.where(negcon, np.arange(len(data)), -1)
    sizes = data.loc[~negcon].groupby(_TREATMENT).size()
    excluded["treatments_with_one_well"] = int((sizes < 2).sum())
    keys = ["compound", "concentration", "moa", "role"]
    extra = {
        "excluded": excluded,
        "n_negative_wells": int(negcon.sum()),
        "positives": "other wells of the same compound and concentration",
        "negatives": "negative-control (DMSO) wells of the same plate",
    }
    if not negcon.any():
        return _empty("activity", keys, settings, **extra, note="no negative-control wells")
    got = _copairs_map(
        data[meta_columns(data)],
        data[feats].to_numpy(np.float64),
        pos_sameby=[_TREATMENT, _REFERENCE],
        pos_diffby=[],
        neg_sameby=["Metadata_Plate"],
        neg_diffby=[_NEGCON, _REFERENCE],
        sameby=[_TREATMENT],
        settings=settings,
    )
    if got is None:
        return _empty("activity", keys, settings, **extra, note="no treatment has two wells")
    ap, maps = got
    if "Metadata_MoA" not in data.columns:
        data["Metadata_MoA"] = None
    first = (
        data.loc[~negcon]
        .groupby(_TREATMENT, sort=False)
        .agg(
            compound=("Metadata_Compound", "first"),
            concentration=("Metadata_Concentration", "first"),
            moa=("Metadata_MoA", "first"),
            role=("Metadata_Role", "first"),
        )
    )
    groups = maps.merge(first.reset_index(), on=_TREATMENT, how="left")
    groups = _sorted(groups[[*keys, *_GROUP_COLUMNS]])
    return MapResult("activity", groups, ap, _summary(groups, settings, **extra))


def phenotypic_consistency(profiles: pd.DataFrame, settings: MapSettings | None = None) -> MapResult:
    """mAP of each MoA: its treatments' consensus profiles against those of other MoAs.

    Parameters
    ----------
    profiles : pandas.DataFrame
        Well profiles with ``Metadata_Compound, Metadata_Concentration, Metadata_MoA,
        Metadata_Batch``; aggregated to the median per treatment
        (:func:`mcnn_infer.analysis.evaluate.treatment_profiles`).
    settings : MapSettings, optional
        Null size, seed and threshold.

    Returns
    -------
    MapResult
        ``groups``: one row per MoA with treatments of at least two compounds;
        ``summary["excluded"]["moas_with_one_compound"]`` lists the others.
    """
    settings = settings or MapSettings()
    feats = _features(profiles)
    tp = ev.treatment_profiles(profiles)
    tp = tp[tp["Metadata_MoA"].notna() & ~ev.is_negative(tp)].reset_index(drop=True)
    n_comp = tp.groupby("Metadata_MoA")["Metadata_Compound"].nunique()
    excluded = {"moas_with_one_compound": sorted(map(str, n_comp[n_comp < 2].index))}
    keys = ["moa", "n_compounds"]
    extra = {
        "excluded": excluded,
        "n_treatments": len(tp),
        "positives": "treatments of the same MoA and another compound",
        "negatives": "treatments of other MoAs",
    }
    if tp["Metadata_MoA"].nunique() < 2:
        return _empty("consistency", keys, settings, **extra, note="fewer than two MoAs")
    got = _copairs_map(
        tp[meta_columns(tp)],
        tp[feats].to_numpy(np.float64),
        pos_sameby=["Metadata_MoA"],
        pos_diffby=["Metadata_Compound"],
        neg_sameby=[],
        neg_diffby=["Metadata_MoA"],
        sameby=["Metadata_MoA"],
        settings=settings,
    )
    if got is None:
        return _empty("consistency", keys, settings, **extra, note="no MoA has two compounds")
    ap, maps = got
    maps = maps.rename(columns={"Metadata_MoA": "moa"})
    maps["n_compounds"] = maps["moa"].map(n_comp).astype(int)
    groups = _sorted(maps[[*keys, *_GROUP_COLUMNS]])
    return MapResult("consistency", groups, ap, _summary(groups, settings, **extra))


def plot_map(result: MapResult, path: str | Path, title: str) -> Path:
    """The mAP of every group as PNG; retrieved groups (corrected p below the threshold) filled.

    Activity: mAP against -log10 corrected p-value, one point per treatment (treatments with the
    same values share a point whose area grows with their number; the dashed line is the
    threshold). Consistency: one bar per MoA, labelled with its corrected p-value.
    """
    g = result.groups
    thr = result.summary.get("threshold", THRESHOLD)
    null_size = result.summary.get("null_size", NULL_SIZE)
    floor = 1.0 / (null_size + 1)
    if result.kind == "consistency":
        fig, ax = plt.subplots(figsize=(5.2, max(2.2, 0.32 * len(g) + 1.2)))
        if len(g):
            order = g.sort_values("mean_average_precision", kind="stable")
            ret = order["retrieved"].astype(bool).to_numpy()
            ypos = np.arange(len(order))
            ax.barh(
                ypos,
                order["mean_average_precision"].astype(float),
                color=np.where(ret, "#1d3557", "#ffffff"),
                edgecolor="#1d3557",
            )
            ax.set_yticks(ypos)
            ax.set_yticklabels(order["moa"].astype(str), fontsize=7)
            for yi, (m, p) in enumerate(
                zip(order["mean_average_precision"], order["corrected_p_value"], strict=True)
            ):
                ax.text(
                    float(m) + 0.02,
                    yi,
                    f"p={float(p):.2g}",
                    va="center",
                    fontsize=6,
                    color="#cf222e" if float(p) >= thr else "#5a6570",
                )
        ax.set_xlim(0, 1.22)
        ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_xlabel(f"mAP (filled: corrected p < {thr:g})")
    else:
        fig, ax = plt.subplots(figsize=(5.2, 3.8))
        if len(g):
            pts = pd.DataFrame(
                {
                    "x": g["mean_average_precision"].astype(float).round(4),
                    "y": (-np.log10(g["corrected_p_value"].astype(float).clip(lower=floor))).round(4),
                    "retrieved": g["retrieved"].astype(bool),
                }
            )
            counts = pts.groupby(["x", "y", "retrieved"]).size().rename("n").reset_index()
            for flag, style in (
                (True, {"color": "#1d3557", "label": "retrieved"}),
                (False, {"facecolors": "none", "edgecolors": "#8a95a1", "label": "not retrieved"}),
            ):
                sel = counts[counts["retrieved"] == flag]
                if len(sel):
                    ax.scatter(sel["x"], sel["y"], s=16 * np.sqrt(sel["n"]), alpha=0.85, **style)
            ax.legend(fontsize=7, loc="lower right", title="area ~ treatments", title_fontsize=6)
        ax.axhline(-math.log10(thr), color="#cf222e", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(bottom=0, top=max(-math.log10(floor), -math.log10(thr)) * 1.08)
        ax.set_xlabel("mAP")
        ax.set_ylabel("-log10 corrected p")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
