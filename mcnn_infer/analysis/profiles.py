"""Per-well morphological profiles from the scorer's embeddings.

Layout follows the convention of profiling tools (pycytominer, CellProfiler): ``Metadata_``
prefixed columns first, then one column per feature (``emb_000`` ... ``emb_511``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.results import stored_emb_columns

NORMALIZATIONS = ("none", "dmso")
_WEEK_RE = re.compile(r"^(Week\d+)[_-]", re.IGNORECASE)
_MAD_TO_SD = 1.4826


def week_batch(plate: str) -> str:
    """Batch of a BBBC021-style plate: the week prefix (``Week3_25681`` -> ``Week3``).

    Plates without a ``Week<N>_`` prefix are their own batch (the plate name).
    """
    match = _WEEK_RE.match(str(plate))
    return match.group(1) if match else str(plate)


_META_MAP = {
    "plate": "Metadata_Plate",
    "well": "Metadata_Well",
    "compound": "Metadata_Compound",
    "concentration": "Metadata_Concentration",
    "moa": "Metadata_MoA",
    "role": "Metadata_Role",
    "replicate": "Metadata_Replicate",
}


def well_profiles(
    embeddings: pd.DataFrame,
    wells: pd.DataFrame | None = None,
    *,
    normalize: str = "none",
    batch_of: Callable[[str], str] = week_batch,
) -> pd.DataFrame:
    """Median embedding per well, with treatment metadata, optionally normalised to DMSO.

    Parameters
    ----------
    embeddings : pandas.DataFrame
        One row per field: ``plate, well, emb_000..emb_K`` (K + 1 features, float).
    wells : pandas.DataFrame, optional
        Well table with ``plate, well`` and treatment columns (``compound, concentration, moa, role``).
    normalize : {"none", "dmso"}
        ``dmso``: per plate, subtract the median of the negative-control wells and divide by
        1.4826 x their median absolute deviation (robust z-score; needs >= 2 negative wells per plate).
    batch_of : callable
        Maps a plate name to its batch (``Metadata_Batch``); default :func:`week_batch`.

    Returns
    -------
    pandas.DataFrame
        One row per well: ``Metadata_Plate, Metadata_Well, Metadata_Batch, Metadata_Compound,
        Metadata_Concentration, Metadata_MoA, Metadata_Role`` (those available), then features.
    """
    if normalize not in NORMALIZATIONS:
        raise AnalysisError(f"profiles: normalize={normalize!r}; expected one of {list(NORMALIZATIONS)}")
    feats = stored_emb_columns(embeddings)
    if not feats:
        raise AnalysisError("profiles: the embeddings table has no emb_NNN columns; score with --embeddings")
    med = embeddings.groupby(["plate", "well"], sort=True)[feats].median().reset_index()
    if wells is not None:
        meta_cols = [c for c in _META_MAP if c in wells.columns and c not in ("plate", "well")]
        med = med.merge(wells[["plate", "well", *meta_cols]], on=["plate", "well"], how="left")
    else:
        meta_cols = []
    med.insert(2, "batch", med["plate"].map(batch_of))
    if normalize == "dmso":
        med = _normalize_to_negatives(med, feats)
    meta = med[["plate", "well", "batch", *meta_cols]].rename(
        columns={**_META_MAP, "batch": "Metadata_Batch"}
    )
    return pd.concat([meta, med[feats].astype(np.float32)], axis=1)


def _normalize_to_negatives(df: pd.DataFrame, feats: list[str]) -> pd.DataFrame:
    if "role" not in df.columns:
        raise AnalysisError(
            "profiles: normalize='dmso' needs the wells' role column (metadata with DMSO wells)"
        )
    out = df.copy()
    values = np.array(out[feats].to_numpy(np.float64), copy=True)
    for plate, idx in out.groupby("plate").indices.items():
        neg = idx[(out["role"].to_numpy()[idx] == "negative")]
        if neg.size < 2:
            raise AnalysisError(
                f"profiles: plate {plate!r} has {neg.size} negative-control well(s); "
                "normalize='dmso' needs at least 2 per plate"
            )
        ref = values[neg]
        center = np.median(ref, axis=0)
        scale = _MAD_TO_SD * np.median(np.abs(ref - center), axis=0)
        scale = np.where(scale > 1e-6, scale, 1.0)
        values[idx] = (values[idx] - center) / scale
    out[feats] = values
    return out
