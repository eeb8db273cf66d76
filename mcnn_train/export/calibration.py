"""Fields of a plate for INT8 calibration and accuracy checks, preprocessed exactly as the scorer does.

Wells are split, not fields: every third well (in plate order) is held out for the accuracy
check, the others calibrate. So no field, and no well, is used for both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mcnn_infer.card import ModelCard, check_channels
from mcnn_infer.images import read_field
from mcnn_infer.plate_normalization import PlateNormalizer, spread_rows
from mcnn_infer.plates import field_paths, scan_plate
from mcnn_infer.preprocess import preprocess_field
from mcnn_train.export.context import DEFAULT_CALIBRATION_FIELDS, DEFAULT_HOLDOUT_FIELDS
from mcnn_train.export.errors import QuantizationError

#: Every HOLDOUT_EVERY-th well is held out for the accuracy check.
HOLDOUT_EVERY = 3
#: Fewest fields accepted in each of the two sets.
MIN_FIELDS = 4


@dataclass(frozen=True)
class PlateFields:
    """Calibration and held-out fields of one plate folder.

    Attributes
    ----------
    plate : Path
    channels : list of str
        Plate channel keys, equal to the card's.
    calibration, holdout : pandas.DataFrame
        Rows of the plate's field table (``path_<channel>`` columns), from disjoint wells.
    card : ModelCard
        Gives the input size and the normalisation.
    normalizer : PlateNormalizer
        The normalisation of each plate under the card (as the scorer resolves it).
    """

    plate: Path
    channels: list[str]
    calibration: pd.DataFrame
    holdout: pd.DataFrame
    card: ModelCard
    normalizer: PlateNormalizer

    def field(self, row: pd.Series) -> np.ndarray:
        """One preprocessed field, float32 (H, W, C) with the card's size and its plate's normalisation."""
        raw = read_field(field_paths(row, self.channels))
        return preprocess_field(raw, self.normalizer.for_plate(row["plate"]), size=self.card.input.size)

    def batches(self, rows: pd.DataFrame, batch: int = 8) -> Iterator[np.ndarray]:
        """Preprocessed fields of ``rows`` as float32 (n, H, W, C) batches, n <= ``batch``."""
        for start in range(0, len(rows), batch):
            chunk = rows.iloc[start : start + batch]
            yield np.stack([self.field(row) for _, row in chunk.iterrows()])

    def load(self, rows: pd.DataFrame) -> np.ndarray:
        """All fields of ``rows`` as one float32 (N, H, W, C) array."""
        return np.concatenate(list(self.batches(rows)), axis=0)


def plate_fields(
    plate: str | os.PathLike[str],
    card: ModelCard,
    calibration_fields: int = DEFAULT_CALIBRATION_FIELDS,
    holdout_fields: int = DEFAULT_HOLDOUT_FIELDS,
) -> PlateFields:
    """Scan ``plate``, check its channels against ``card`` and split its fields by well.

    Parameters
    ----------
    plate : path
        A plate folder (any layout :func:`mcnn_infer.plates.scan_plate` detects).
    card : ModelCard
    calibration_fields, holdout_fields : int
        Upper bounds; fields are taken evenly spread over the plate's wells.

    Raises
    ------
    ChannelMismatchError
        If the plate's channels differ from the card's.
    QuantizationError
        If either set would have fewer than :data:`MIN_FIELDS` fields.
    """
    path = Path(plate)
    scan = scan_plate(path)
    check_channels(card, scan.channels, str(path))
    fields = scan.fields.reset_index(drop=True)
    wells = list(dict.fromkeys(zip(fields["plate"], fields["well"], strict=True)))
    held = {w for i, w in enumerate(wells) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1}
    is_held = np.array(
        [(p, w) in held for p, w in zip(fields["plate"], fields["well"], strict=True)], dtype=bool
    )
    calibration = _spread(fields[~is_held], calibration_fields)
    holdout = _spread(fields[is_held], holdout_fields)
    for name, rows in (("calibration", calibration), ("held-out", holdout)):
        if len(rows) < MIN_FIELDS:
            raise QuantizationError(
                f"plate {path} gives {len(rows)} {name} fields ({len(fields)} fields in {len(wells)} wells; "
                f"every {HOLDOUT_EVERY}rd well is held out); expected at least {MIN_FIELDS} for INT8 calibration"
            )
    return PlateFields(
        plate=path,
        channels=list(scan.channels),
        calibration=calibration,
        holdout=holdout,
        card=card,
        normalizer=PlateNormalizer(card.normalization, fields, scan.channels),
    )


def _spread(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` rows evenly spread over ``rows`` (all of them when there are fewer)."""
    return rows.iloc[spread_rows(len(rows), n)].reset_index(drop=True)
