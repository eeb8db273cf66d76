"""Reading scoring outputs and writing analysis outputs atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from mcnn_infer import atomic
from mcnn_infer.analysis.errors import AnalysisError

PROB_PREFIX = "prob_"
EMB_PREFIX = "emb_"
ANALYSIS_DIRNAME = "analysis"
SUMMARY_NAME = "summary.json"
WELL_KEYS = ["plate", "well"]
TREATMENT_KEYS = ["compound", "concentration"]
ROLES = ("negative", "positive", "treated")


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
    run : dict
        Contents of ``run.json`` (empty when absent).
    class_names : list of str
        Class names in logit order, from the ``prob_<class>`` columns.
    """

    root: Path
    wells: pd.DataFrame
    fields: pd.DataFrame | None
    embeddings: pd.DataFrame | None
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


def prob_columns(df: pd.DataFrame) -> list[str]:
    """Return the ``prob_<class>`` columns of ``df`` in their stored order."""
    return [c for c in df.columns if c.startswith(PROB_PREFIX)]


def emb_columns(df: pd.DataFrame) -> list[str]:
    """Return the ``emb_NNN`` feature columns of ``df`` in their stored order."""
    return [c for c in df.columns if c.startswith(EMB_PREFIX)]


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
    wells_path = root / "wells.parquet"
    if not root.is_dir():
        raise AnalysisError(f"{root}: not a folder; expected a results folder written by hcs score")
    if not wells_path.is_file():
        raise AnalysisError(f"{wells_path}: not found; expected the well table written by hcs score")
    wells = _read_table(wells_path)
    require_columns(wells, [*WELL_KEYS, "predicted_class", "confidence"], wells_path)
    probs = prob_columns(wells)
    if not probs:
        raise AnalysisError(f"{wells_path}: no prob_<class> columns; expected one per model class")
    if "role" in wells.columns:
        bad = sorted(set(wells["role"].dropna().astype(str)) - set(ROLES))
        if bad:
            raise AnalysisError(f"{wells_path}: role value(s) {bad}; expected one of {list(ROLES)}")
    if "concentration" in wells.columns:
        wells["concentration"] = pd.to_numeric(wells["concentration"], errors="raise").astype(float)
    fields = _read_table(root / "fields.parquet") if (root / "fields.parquet").is_file() else None
    emb = None
    if (root / "embeddings.parquet").is_file():
        emb = _read_table(root / "embeddings.parquet")
        require_columns(emb, WELL_KEYS, root / "embeddings.parquet")
        if not emb_columns(emb):
            raise AnalysisError(
                f"{root / 'embeddings.parquet'}: no emb_NNN columns; expected feature columns"
            )
    run: dict[str, Any] = {}
    if (root / "run.json").is_file():
        try:
            run = json.loads((root / "run.json").read_text())
        except json.JSONDecodeError as exc:
            raise AnalysisError(
                f"{root / 'run.json'}: invalid JSON ({exc}); expected the run summary"
            ) from exc
    return ScoringResults(
        root=root,
        wells=wells,
        fields=fields,
        embeddings=emb,
        run=run,
        class_names=[c[len(PROB_PREFIX) :] for c in probs],
    )


def write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON atomically; NaN and numpy scalars become null / Python numbers."""
    atomic.write_json(path, _clean(obj))


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + ``os.replace``) and close it."""
    path = Path(path)
    try:
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
