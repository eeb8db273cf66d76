"""File names and column names of a results folder (ARCHITECTURE.md "Scoring outputs").

Scoring, merge, analysis and the report name files and columns only through this module:
builders make the names a writer needs (``prob_columns(class_names)``), finders read them back
from a stored table (``stored_prob_columns(frame)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mcnn_infer.metadata import ROLES as ROLES  # re-exported: the roles of the well table
from mcnn_infer.plates import path_column

#: Tables written as ``<name>.parquet`` and ``<name>.csv``.
FIELDS, WELLS, TREATMENTS = "fields", "wells", "treatments"
TABLES = (FIELDS, WELLS, TREATMENTS)
EMBEDDINGS_FILE = "embeddings.parquet"
#: Written last by ``hcs score`` / ``hcs merge``: its presence means the folder is complete.
RUN_FILE = "run.json"
ANALYSIS_DIRNAME = "analysis"
SUMMARY_NAME = "summary.json"
#: Per-well profiles (``Metadata_`` columns, then features) written by ``hcs analyze`` into
#: ``analysis/`` and by ``hcs evaluate`` into its output folder: of the embeddings and of the
#: class probabilities.
PROFILES_FILE = "profiles.parquet"
PROB_PROFILES_FILE = "profiles_probabilities.parquet"
#: ``hcs evaluate``'s default output folder (under ``analysis/``) and its index.
EVALUATION_DIRNAME = "evaluation"
EVALUATION_FILE = "evaluation.json"
#: ``hcs compare``'s default output folder (under ``analysis/``) and its index; ``hcs report``
#: shows it when present.
COMPARISON_DIRNAME = "comparison"
COMPARISON_FILE = "readout_comparison.json"

#: Small composites of the fields the report shows (``hcs score``; ``hcs merge`` concatenates them):
#: one row per field, :data:`KEYS`, then :data:`THUMBNAIL_COLUMNS`.
THUMBNAILS_FILE = "thumbnails.parquet"

KEYS = ["plate", "well", "site", "timepoint", "plane"]
WELL_KEYS = ["plate", "well"]
TREATMENT_KEYS = ["compound", "concentration"]
QC_FLAGS = ["qc_empty", "qc_saturated", "qc_blurry"]
QC_MEASURES = ["qc_fg_fraction", "qc_sat_fraction", "qc_focus"]
OK, SKIPPED = "ok", "skipped"
#: Columns of ``thumbnails.parquet`` after the keys (also the thumbnail columns of a result part):
#: ``thumb_image`` the encoded composite (bytes, ``thumb_format``: ``jpeg``), ``thumb_width`` /
#: ``thumb_height`` its size in pixels, ``thumb_why`` why the field has one (:data:`THUMB_REASONS`),
#: ``cam`` the class activation maps (float32, flattened (n_classes, cam_height, cam_width), logit
#: order; null when the model exports no feature map), ``cam_height`` / ``cam_width`` their grid.
THUMBNAIL_COLUMNS = [
    "thumb_image",
    "thumb_format",
    "thumb_width",
    "thumb_height",
    "thumb_why",
    "cam",
    "cam_height",
    "cam_width",
]
#: ``thumb_why``: the well's first field (``representative``) or an image-QC flag at load (``qc_flag``).
THUMB_REPRESENTATIVE, THUMB_QC = "representative", "qc_flag"
THUMB_REASONS = (THUMB_REPRESENTATIVE, THUMB_QC)
PROB_PREFIX, EMB_PREFIX = "prob_", "emb_"
#: ``logodds_<class>``: log(p / (1 - p)) of a class computed from the logits (does not saturate).
LOGODDS_PREFIX = "logodds_"
#: Well-table flag: the model trained (or was selected) on this well; plate QC leaves it out.
IN_TRAINING = "in_training"
#: The image-path columns are the plate field table's (:func:`mcnn_infer.plates.path_column`).
PATH_PREFIX = path_column("")


def prob_column(class_name: str) -> str:
    """The ``prob_<class>`` column of one class."""
    return f"{PROB_PREFIX}{class_name}"


def prob_columns(class_names: Sequence[str]) -> list[str]:
    """``prob_<class>`` column of each class, in logit order."""
    return [prob_column(name) for name in class_names]


def logodds_column(class_name: str) -> str:
    """The ``logodds_<class>`` column of one class."""
    return f"{LOGODDS_PREFIX}{class_name}"


def logodds_columns(class_names: Sequence[str]) -> list[str]:
    """``logodds_<class>`` column of each class, in logit order."""
    return [logodds_column(name) for name in class_names]


def emb_columns(size: int) -> list[str]:
    """``emb_000`` ... column of each of ``size`` embedding units."""
    return [f"{EMB_PREFIX}{k:03d}" for k in range(size)]


def path_columns(channels: Sequence[str]) -> list[str]:
    """``path_<channel>`` column of each channel key, in model channel order."""
    return [path_column(ch) for ch in channels]


def stored_prob_columns(frame: pd.DataFrame) -> list[str]:
    """The ``prob_<class>`` columns of a stored table, in their stored (logit) order."""
    return [c for c in frame.columns if c.startswith(PROB_PREFIX)]


def stored_emb_columns(frame: pd.DataFrame) -> list[str]:
    """The ``emb_NNN`` columns of a stored table, in their stored order."""
    return [c for c in frame.columns if c.startswith(EMB_PREFIX)]


def stored_class_names(frame: pd.DataFrame) -> list[str]:
    """Class names of a stored table, from its ``prob_<class>`` columns."""
    return [c[len(PROB_PREFIX) :] for c in stored_prob_columns(frame)]


def stored_channels(frame: pd.DataFrame) -> list[str]:
    """Channel keys of a stored field table, from its ``path_<channel>`` columns."""
    return [c[len(PATH_PREFIX) :] for c in frame.columns if c.startswith(PATH_PREFIX)]


def field_columns(channels: Sequence[str], class_names: Sequence[str]) -> list[str]:
    """Columns of ``fields.parquet`` in order."""
    return [
        *KEYS,
        *path_columns(channels),
        "status",
        "reason",
        "predicted_class",
        "confidence",
        *prob_columns(class_names),
        *logodds_columns(class_names),
        *QC_FLAGS,
        *QC_MEASURES,
    ]


