"""Training / validation splits that do not leak.

* ``compound``: treated fields are split by *compound* within each class, so every
  concentration (and every well and field) of a compound is on one side. Each class keeps at
  least one training compound; a class with a single compound stays in training only (and is
  reported). Control fields (role ``negative``/``positive``, e.g. DMSO) are split by *well*.
* ``plate``: whole plates are held out.

Fields of one well are never on both sides in either mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.errors import ConfigError

CONTROL_ROLES = ("negative", "positive")


@dataclass
class Split:
    """Row indices into the labelled field table.

    Attributes
    ----------
    train, val : numpy.ndarray
        int64 row indices, sorted, disjoint.
    mode : str
        ``compound`` or ``plate``.
    summary : dict
        Held-out compounds / plates / control wells and counts (for the model card).
    """

    train: np.ndarray
    val: np.ndarray
    mode: str
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "train": self.train.tolist(), "val": self.val.tolist()}


def _n_held_out(n: int, fraction: float) -> int:
    """How many of ``n`` groups to hold out: round(n * fraction), at least 1, keeping one for training."""
    if n < 2:
        return 0
    return int(min(n - 1, max(1, round(n * fraction))))


def split_by_compound(fields: pd.DataFrame, fraction: float, seed: int) -> Split:
    """Hold out whole compounds per class; split controls by well. See module docstring."""
    rng = np.random.default_rng(seed)
    is_control = fields["role"].astype(str).isin(CONTROL_ROLES).to_numpy()
    val_mask = np.zeros(len(fields), dtype=bool)
    held_compounds: dict[str, list[str]] = {}
    single_compound_classes: list[str] = []
    treated = fields.loc[~is_control]
    for moa, group in treated.groupby("moa", sort=True):
        compounds = sorted(group["compound"].astype(str).unique().tolist())
        n_out = _n_held_out(len(compounds), fraction)
        if n_out == 0:
            single_compound_classes.append(str(moa))
            continue
        chosen = sorted(rng.choice(compounds, size=n_out, replace=False).tolist())
        held_compounds[str(moa)] = chosen
        val_mask |= (
            (~is_control)
            & fields["moa"].eq(moa).to_numpy()
            & fields["compound"].astype(str).isin(chosen).to_numpy()
        )
    control_wells = fields.loc[is_control, ["plate", "well"]].drop_duplicates().sort_values(["plate", "well"])
    n_out = _n_held_out(len(control_wells), fraction)
    held_wells: list[str] = []
    if n_out:
        pick = np.sort(rng.choice(len(control_wells), size=n_out, replace=False))
        chosen_wells = control_wells.iloc[pick]
        held_wells = [f"{p}/{w}" for p, w in zip(chosen_wells["plate"], chosen_wells["well"], strict=True)]
        key = fields["plate"].astype(str) + "/" + fields["well"].astype(str)
        val_mask |= is_control & key.isin(held_wells).to_numpy()
    summary = {
        "held_out_compounds": held_compounds,
        "held_out_control_wells": held_wells,
        "classes_without_validation_compound": single_compound_classes,
    }
    return _make_split(fields, val_mask, "compound", summary)


def split_by_plate(fields: pd.DataFrame, fraction: float, seed: int) -> Split:
    """Hold out whole plates."""
    plates = sorted(fields["plate"].astype(str).unique().tolist())
    n_out = _n_held_out(len(plates), fraction)
    if n_out == 0:
        raise ConfigError(
            f"--val-split plate needs at least 2 plates, got {len(plates)} ({plates}); "
            "expected more plates or --val-split compound"
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(plates, size=n_out, replace=False).tolist())
    val_mask = fields["plate"].astype(str).isin(chosen).to_numpy()
    return _make_split(fields, val_mask, "plate", {"held_out_plates": chosen})


def _make_split(fields: pd.DataFrame, val_mask: np.ndarray, mode: str, summary: dict[str, Any]) -> Split:
    train = np.flatnonzero(~val_mask).astype(np.int64)
    val = np.flatnonzero(val_mask).astype(np.int64)
    summary = {**summary, "n_train": int(train.size), "n_val": int(val.size)}
    return Split(train=train, val=val, mode=mode, summary=summary)


def make_split(fields: pd.DataFrame, mode: str, fraction: float, seed: int) -> Split:
    """Split the labelled field table (columns ``plate, well, compound, moa, role``)."""
    if mode == "compound":
        return split_by_compound(fields, fraction, seed)
    if mode == "plate":
        return split_by_plate(fields, fraction, seed)
    raise ConfigError(f"validation split {mode!r}: expected 'compound' or 'plate'")


def check_split(fields: pd.DataFrame, split: Split, class_names: list[str], source: str) -> None:
    """Raise :class:`ConfigError` when a class has no training field or the validation set is empty.

    Parameters
    ----------
    fields : pandas.DataFrame
        Labelled field table with an int ``label`` column.
    split : Split
        The split to check.
    class_names : list of str
        Class names indexed by ``label``.
    source : str
        What the data came from (named in the message).
    """
    train_labels = set(fields["label"].to_numpy()[split.train].tolist())
    missing = [name for i, name in enumerate(class_names) if i not in train_labels]
    if missing:
        raise ConfigError(
            f"classes {missing} have no training images in {source} with --val-split {split.mode} "
            "(expected every class in the training split; add data or change the split)"
        )
    if split.val.size == 0:
        raise ConfigError(
            f"the {split.mode} split of {source} leaves no validation images (expected at least one; "
            "raise --val-fraction or add plates/compounds)"
        )
