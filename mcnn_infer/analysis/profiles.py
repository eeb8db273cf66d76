"""Per-well profiles from the scorer's per-field embeddings or class probabilities.

Layout follows the convention of profiling tools (pycytominer, copairs, CellProfiler):
``Metadata_`` prefixed columns first, then one column per feature (``emb_000`` ... or
``prob_<class>`` ...), so pycytominer and copairs read a written profile file as it is
(metadata = the ``Metadata_`` columns, features = the others).

Normalisation (:data:`NORMALIZATIONS`) is pycytominer's, fitted on the negative-control (DMSO)
wells: ``mad_robustize`` per plate (one :func:`pycytominer.normalize` call per plate), then for
``mad_robustize+spherize`` a sphering transform fitted on the DMSO wells of all plates, as in
the JUMP recipe of Arevalo et al. (2024). What was done is recorded in the frame's
``attrs[PROFILE_ATTRS]`` (written into the Parquet file's metadata by :func:`write_profiles`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.results import OK, stored_emb_columns

_WEEK_RE = re.compile(r"^(Week\d+)[_-]", re.IGNORECASE)
META_PREFIX = "Metadata_"
#: Key of the profile description in ``DataFrame.attrs`` and in the Parquet file's metadata.
PROFILE_ATTRS = "hcs_profiles"
#: pycytominer query selecting the reference (negative-control) wells.
NEGATIVE_QUERY = "Metadata_Role == 'negative'"
#: Sphering settings (pycytominer's ``spherize_*`` parameters; its defaults).
SPHERIZE = {"spherize_method": "ZCA-cor", "spherize_center": True, "spherize_epsilon": 1e-6}


@dataclass(frozen=True)
class ProfileNormalization:
    """A row of :data:`NORMALIZATIONS`.

    Attributes
    ----------
    name : str
        The ``--normalize`` choice.
    description : str
        One line for help texts and the report.
    steps : tuple of str
        pycytominer ``normalize`` methods applied in order (``mad_robustize`` per plate,
        ``spherize`` over all plates), each fitted on the negative-control wells.
    min_negatives_per_plate : int
        Negative-control wells every plate needs.
    """

    name: str
    description: str
    steps: tuple[str, ...]
    min_negatives_per_plate: int


#: Profile normalisations by name: the choices of ``--normalize`` (plus :data:`ALIASES`).
NORMALIZATIONS: dict[str, ProfileNormalization] = {
    n.name: n
    for n in (
        ProfileNormalization("none", "per-well medians as scored (no normalisation)", (), 0),
        ProfileNormalization(
            "mad_robustize",
            "per plate: (x - median) / (1.4826 MAD) of the plate's DMSO wells (pycytominer mad_robustize)",
            ("mad_robustize",),
            2,
        ),
        ProfileNormalization(
            "mad_robustize+spherize",
            "mad_robustize per plate, then ZCA-cor sphering fitted on the DMSO wells of all plates "
            "(pycytominer spherize; Arevalo et al. 2024)",
            ("mad_robustize", "spherize"),
            2,
        ),
    )
}
#: Earlier names of a normalisation, still accepted.
ALIASES = {"dmso": "mad_robustize"}
#: Every accepted ``--normalize`` value, the default first.
NORMALIZATION_CHOICES: tuple[str, ...] = (*NORMALIZATIONS, *ALIASES)


def resolve_normalization(name: str) -> ProfileNormalization:
    """The :data:`NORMALIZATIONS` row of ``name`` (or of its alias); AnalysisError when unknown."""
    key = ALIASES.get(name, name)
    if key not in NORMALIZATIONS:
        raise AnalysisError(f"profiles: normalize={name!r}; expected one of {list(NORMALIZATION_CHOICES)}")
    return NORMALIZATIONS[key]


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
    # the model trained or was selected on the well (the scorer's in_training flag)
    "in_training": "Metadata_InTraining",
}


def meta_columns(profiles: pd.DataFrame) -> list[str]:
    """The ``Metadata_`` columns of a profile table, in order."""
    return [c for c in profiles.columns if str(c).startswith(META_PREFIX)]


def feature_columns(profiles: pd.DataFrame) -> list[str]:
    """The feature columns of a profile table: every column without the ``Metadata_`` prefix."""
    return [c for c in profiles.columns if not str(c).startswith(META_PREFIX)]


def well_profiles(
    per_field: pd.DataFrame,
    wells: pd.DataFrame | None = None,
    *,
    features: Sequence[str] | None = None,
    normalize: str = "none",
    batch_of: Callable[[str], str] = week_batch,
) -> pd.DataFrame:
    """Median per well of per-field features, with treatment metadata, optionally normalised.

    Parameters
    ----------
    per_field : pandas.DataFrame
        One row per field: ``plate, well`` and the feature columns (the scorer's
        ``embeddings.parquet``, or ``fields.parquet`` with ``prob_<class>`` columns; rows whose
        ``status`` is not ``ok`` are left out).
    wells : pandas.DataFrame, optional
        Well table with ``plate, well`` and treatment columns (``compound, concentration, moa, role``).
    features : sequence of str, optional
        Feature columns of ``per_field``; default its ``emb_NNN`` columns.
    normalize : str
        A :data:`NORMALIZATIONS` name (or alias): see :func:`normalize_profiles`.
    batch_of : callable
        Maps a plate name to its batch (``Metadata_Batch``); default :func:`week_batch`.

    Returns
    -------
    pandas.DataFrame
        One row per well with at least one finite value of every feature: ``Metadata_Plate,
        Metadata_Well, Metadata_Batch, Metadata_Compound, Metadata_Concentration, Metadata_MoA,
        Metadata_Role`` (those available), then the features (float32). ``attrs[PROFILE_ATTRS]``
        describes the normalisation.
    """
    norm = resolve_normalization(normalize)
    feats = list(features) if features is not None else stored_emb_columns(per_field)
    if not feats:
        raise AnalysisError("profiles: the embeddings table has no emb_NNN columns; score with --embeddings")
    missing = [c for c in ("plate", "well", *feats) if c not in per_field.columns]
    if missing:
        raise AnalysisError(f"profiles: the per-field table lacks column(s) {missing}")
    rows = per_field[per_field["status"] == OK] if "status" in per_field.columns else per_field
    med = rows.groupby(["plate", "well"], sort=True)[feats].median().reset_index()
    n_incomplete = int(med[feats].isna().any(axis=1).sum())
    med = med.dropna(subset=feats).reset_index(drop=True)
    if wells is not None:
        meta_cols = [c for c in _META_MAP if c in wells.columns and c not in ("plate", "well")]
        med = med.merge(wells[["plate", "well", *meta_cols]], on=["plate", "well"], how="left")
    else:
        meta_cols = []
    med.insert(2, "batch", med["plate"].map(batch_of))
    meta = med[["plate", "well", "batch", *meta_cols]].rename(
        columns={**_META_MAP, "batch": "Metadata_Batch"}
    )
    profiles = pd.concat([meta, med[feats].astype(np.float32)], axis=1)
    profiles.attrs = {}
    out = normalize_profiles(profiles, norm.name)
    out.attrs[PROFILE_ATTRS]["n_wells_without_features"] = n_incomplete
    return out


def _negatives_per_plate(profiles: pd.DataFrame, norm: ProfileNormalization) -> None:
    if "Metadata_Role" not in profiles.columns:
        raise AnalysisError(
            f"profiles: normalize={norm.name!r} needs the wells' role column "
            "(metadata with negative-control / DMSO wells)"
        )
    is_neg = profiles["Metadata_Role"].eq("negative")
    counts = is_neg.groupby(profiles["Metadata_Plate"]).sum()
    for plate, n in counts.items():
        if n < norm.min_negatives_per_plate:
            raise AnalysisError(
                f"profiles: plate {plate!r} has {int(n)} negative-control (DMSO) well(s) with profiles; "
                f"normalize={norm.name!r} needs at least {norm.min_negatives_per_plate} per plate"
            )


def _mad_robustize(profiles: pd.DataFrame, feats: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """pycytominer mad_robustize per plate on the plate's negative wells; drop features without spread.

    A feature whose negative-control MAD is 0 on some plate (a ReLU unit silent in the DMSO
    wells) has no robust scale there: pycytominer (epsilon 0) gives NaN / inf, and the feature
    is dropped from every plate, so all plates keep the same features.
    """
    from pycytominer import normalize

    meta = meta_columns(profiles)
    parts = [
        normalize(
            group,
            features=feats,
            meta_features=meta,
            samples=NEGATIVE_QUERY,
            method="mad_robustize",
            mad_robustize_epsilon=0.0,
        )
        for _, group in profiles.groupby("Metadata_Plate", sort=True)
    ]
    out = pd.concat(parts).loc[profiles.index, profiles.columns]
    values = out[feats].to_numpy(np.float64)
    finite = np.isfinite(values).all(axis=0)
    dropped = [f for f, ok in zip(feats, finite, strict=True) if not ok]
    if not finite.any():
        raise AnalysisError(
            f"profiles: every one of the {len(feats)} features has zero spread (MAD) over the "
            "negative-control wells of some plate; mad_robustize cannot scale them"
        )
    return out.drop(columns=dropped), dropped


def _dependent_negative_features(negatives: np.ndarray, feats: list[str]) -> list[str]:
    """Features to drop so the standardized negative profiles have full column rank.

    With more negative wells than features, pycytominer's sphering needs full column rank, and
    a feature that is (up to float32 rounding) a linear combination of others over the negative
    wells (class probabilities summing to 1) would be scaled by the inverse of a vanishing
    singular value. A pivoted QR finds them; the tolerance is float32's, as profiles are float32.
    """
    from scipy.linalg import qr

    n, d = negatives.shape
    if n <= d:
        return []
    x = negatives - negatives.mean(axis=0)
    sd = x.std(axis=0)
    x = x / np.where(sd > 0, sd, 1.0)
    _, r, piv = qr(x, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    tol = diag.max() * max(n, d) * np.finfo(np.float32).eps if diag.size else 0.0
    rank = int((diag > tol).sum())
    if rank == d:
        return []
    keep = set(piv[:rank].tolist())
    return [f for i, f in enumerate(feats) if i not in keep]


def _spherize(profiles: pd.DataFrame, feats: list[str]) -> tuple[pd.DataFrame, list[str]]:
    from pycytominer import normalize

    is_neg = profiles["Metadata_Role"].eq("negative").to_numpy()
    dependent = _dependent_negative_features(profiles.loc[is_neg, feats].to_numpy(np.float64), feats)
    kept = [f for f in feats if f not in dependent]
    data = profiles.drop(columns=dependent)
    try:
        out = normalize(
            data,
            features=kept,
            meta_features=meta_columns(data),
            samples=NEGATIVE_QUERY,
            method="spherize",
            **SPHERIZE,
        )
    except ValueError as exc:
        raise AnalysisError(
            f"profiles: sphering on {int(is_neg.sum())} negative-control wells x {len(kept)} features "
            f"failed ({exc}); expected distinct DMSO profiles with some spread in every feature"
        ) from exc
    return out.loc[data.index, data.columns], dependent


def normalize_profiles(profiles: pd.DataFrame, normalize: str) -> pd.DataFrame:
    """Normalise well profiles to their negative-control (DMSO) wells with pycytominer.

    Parameters
    ----------
    profiles : pandas.DataFrame
        Well profiles (``Metadata_`` columns, then features), e.g. from :func:`well_profiles`
        with ``normalize="none"``; needs ``Metadata_Plate`` and ``Metadata_Role`` unless ``none``.
    normalize : str
        A :data:`NORMALIZATIONS` name or alias:

        - ``none``: unchanged;
        - ``mad_robustize``: per plate, ``(x - median) / (1.4826 MAD)`` of the plate's
          negative-control wells (pycytominer ``normalize(method="mad_robustize")``, one call per
          plate); features with zero MAD on some plate are dropped;
        - ``mad_robustize+spherize``: then a sphering transform (:data:`SPHERIZE`) fitted on the
          negative-control wells of all plates (pycytominer ``method="spherize"``); features that
          are linear combinations of others over those wells (before or after mad_robustize) are
          dropped first.

    Returns
    -------
    pandas.DataFrame
        Same rows and metadata; float32 features. ``attrs[PROFILE_ATTRS]`` holds ``normalization``
        (the canonical name), ``steps``, ``reference`` (the negative-control query),
        ``n_features_in``, ``n_features``, ``dropped_features`` and the sphering settings.

    Raises
    ------
    AnalysisError
        When the role column is missing or a plate has fewer negative-control wells than the
        method needs (the plate, its count and the minimum are named).
    """
    norm = resolve_normalization(normalize)
    feats = feature_columns(profiles)
    info: dict[str, Any] = {
        "normalization": norm.name,
        "description": norm.description,
        "steps": list(norm.steps),
        "n_features_in": len(feats),
        "dropped_features": {},
    }
    out = profiles.copy()
    if norm.steps:
        _negatives_per_plate(out, norm)
        info["reference"] = NEGATIVE_QUERY
        info["n_negative_wells"] = int(out["Metadata_Role"].eq("negative").sum())
    dependent: list[str] = []
    if "spherize" in norm.steps:
        # Exact dependencies of the scorer's output (class probabilities sum to 1) are found on the
        # profiles as scored: mad_robustize scales each plate differently, which leaves them only
        # nearly dependent over the pooled DMSO wells, where sphering would blow them up.
        is_neg = out["Metadata_Role"].eq("negative").to_numpy()
        dependent = _dependent_negative_features(out.loc[is_neg, feats].to_numpy(np.float64), feats)
        out = out.drop(columns=dependent)
    for step in norm.steps:
        if step == "mad_robustize":
            out, dropped = _mad_robustize(out, feature_columns(out))
            info["mad_robustize_epsilon"] = 0.0
        elif step == "spherize":
            out, dropped = _spherize(out, feature_columns(out))
            dropped = dependent + dropped
            info["spherize"] = dict(SPHERIZE)
        else:  # pragma: no cover - NORMALIZATIONS lists only the steps above
            raise AnalysisError(f"profiles: unknown normalisation step {step!r}")
        info["dropped_features"][step] = dropped
    feats = feature_columns(out)
    out = pd.concat([out[meta_columns(out)], out[feats].astype(np.float32)], axis=1)
    info["n_features"] = len(feats)
    out.attrs = {PROFILE_ATTRS: info}
    return out


def profile_info(profiles: pd.DataFrame) -> dict[str, Any]:
    """The normalisation record of a profile table (``attrs[PROFILE_ATTRS]``; empty if none)."""
    return dict(profiles.attrs.get(PROFILE_ATTRS, {}))


def write_profiles(profiles: pd.DataFrame, path: str | Path, **extra: Any) -> Path:
    """Write profiles as Parquet (atomically) with their description in the file's metadata.

    Parameters
    ----------
    profiles : pandas.DataFrame
        Well profiles (``Metadata_`` columns, then features).
    path : str or Path
        The ``.parquet`` file.
    **extra
        Further facts stored with the description (``features="embeddings"``, ...).

    Returns
    -------
    Path
        The file written. ``pandas.read_parquet(path).attrs[PROFILE_ATTRS]`` reads the
        description back; pycytominer and copairs read the table as it is.
    """
    path = Path(path)
    table = profiles.copy()
    table.attrs = {PROFILE_ATTRS: {**profile_info(profiles), **extra}}
    atomic.write_table(table, path)
    return path
