"""Reading a results folder for analysis (names from :mod:`mcnn_infer.results`) and saving figures atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.results import (
    EMBEDDINGS_FILE,
    FIELDS,
    ROLES,
    RUN_FILE,
    TREATMENT_KEYS,
    TREATMENTS,
    WELL_KEYS,
    WELLS,
    read_run,
    stored_class_names,
    stored_emb_columns,
    stored_prob_columns,
)


@dataclass
class ScoringResults:
    """The scoring outputs of one results folder (see ARCHITECTURE.md, "Scoring outputs").

    Attributes
    ----------
    root : Path
        The results folder.
    wells : pandas.DataFrame
        One row per (plate, well): ``plate, well, predicted_class, confidence, prob_<class>...``
        and, with metadata, ``compound, concentration, moa, role``.
    fields : pandas.DataFrame or None
        One row per field, with ``qc_*`` columns; None when ``fields.parquet`` is absent.
    embeddings : pandas.DataFrame or None
        ``plate, well, site, timepoint, emb_000..emb_511``; None when not scored with embeddings.
    treatments : pandas.DataFrame or None
        The scorer's per-treatment calls (``treatments.parquet``); None when scored without metadata.
    run : dict
        Contents of ``run.json`` (empty when absent).
    class_names : list of str
        Class names in logit order, from the ``prob_<class>`` columns.
    """

    root: Path
    wells: pd.DataFrame
    fields: pd.DataFrame | None
    embeddings: pd.DataFrame | None
    treatments: pd.DataFrame | None
    run: dict[str, Any]
    class_names: list[str]

    @property
    def has_treatments(self) -> bool:
        """True when the wells carry compound / concentration / role columns."""
        return all(c in self.wells.columns for c in (*TREATMENT_KEYS, "role"))

    @property
    def has_labels(self) -> bool:
        """True when at least one well has a known MoA label."""
        return "moa" in self.wells.columns and self.wells["moa"].notna().any()


def require_columns(df: pd.DataFrame, columns: list[str] | tuple[str, ...], source: str | Path) -> None:
    """Raise :class:`AnalysisError` naming ``source`` if any of ``columns`` is missing from ``df``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(
            f"{source}: missing column(s) {missing}; expected at least {list(columns)}, "
            f"found {list(df.columns)}"
        )


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise AnalysisError(
            f"{path}: cannot be read as Parquet ({exc}); expected a table written by hcs score"
        ) from exc


def read_scoring_results(results_dir: str | Path) -> ScoringResults:
    """Read the scoring outputs of ``results_dir``.

    Parameters
    ----------
    results_dir : str or Path
        Folder written by ``hcs score`` (needs ``wells.parquet``; the rest is optional).

    Returns
    -------
    ScoringResults

    Raises
    ------
    AnalysisError
        When the folder or ``wells.parquet`` is missing, or required columns are absent or invalid.
    """
    root = Path(results_dir)
    wells_path = root / f"{WELLS}.parquet"
    if not root.is_dir():
        raise AnalysisError(f"{root}: not a folder; expected a results folder written by hcs score")
    if not wells_path.is_file():
        raise AnalysisError(f"{wells_path}: not found; expected the well table written by hcs score")
    wells = _read_table(wells_path)
    require_columns(wells, [*WELL_KEYS, "predicted_class", "confidence"], wells_path)
    if not stored_prob_columns(wells):
        raise AnalysisError(f"{wells_path}: no prob_<class> columns; expected one per model class")
    if "role" in wells.columns:
        bad = sorted(set(wells["role"].dropna().astype(str)) - set(ROLES))
        if bad:
            raise AnalysisError(f"{wells_path}: role value(s) {bad}; expected one of {list(ROLES)}")
    if "concentration" in wells.columns:
        wells["concentration"] = pd.to_numeric(wells["concentration"], errors="raise").astype(float)
    fields_path = root / f"{FIELDS}.parquet"
    fields = _read_table(fields_path) if fields_path.is_file() else None
    emb = None
    if (root / EMBEDDINGS_FILE).is_file():
        emb = _read_table(root / EMBEDDINGS_FILE)
        require_columns(emb, WELL_KEYS, root / EMBEDDINGS_FILE)
        if not stored_emb_columns(emb):
            raise AnalysisError(f"{root / EMBEDDINGS_FILE}: no emb_NNN columns; expected feature columns")
    treatments_path = root / f"{TREATMENTS}.parquet"
    treatments = _read_table(treatments_path) if treatments_path.is_file() else None
    run = read_run(root).data if (root / RUN_FILE).is_file() else {}
    return ScoringResults(
        root=root,
        wells=wells,
        fields=fields,
        embeddings=emb,
        treatments=treatments,
        run=run,
        class_names=stored_class_names(wells),
    )


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + ``os.replace``) and close it."""
    path = Path(path)
    try:
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
