"""What the chief worker decides before training and shares with every worker: the labelled
fields, the split, the class names and the normalisation (``RUN/data/``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcnn_infer.atomic import write_json, write_table
from mcnn_infer.errors import ConfigError, HcsError
from mcnn_infer.images import image_info, read_field
from mcnn_infer.plate_normalization import PlateNormalizer
from mcnn_infer.preprocess import PLATE_METHOD, Normalization, fit_normalization
from mcnn_train.config import TrainConfig
from mcnn_train.labelled_fields import LabelledFields, load_labelled_fields
from mcnn_train.splits import Split, check_split, make_split

#: Training fields sampled to fit the intensity normalisation.
NORMALIZATION_FIELDS = 32


@dataclass
class RunPlan:
    """Data decisions of a run, identical on every worker.

    Attributes
    ----------
    fields : pandas.DataFrame
        Labelled fields (see :class:`~mcnn_train.labelled_fields.LabelledFields`).
    channels, class_names : list of str
        Channel keys in order; class names in logit order.
    split : Split
        Training / validation row indices into ``fields``.
    normalization : Normalization
        Fitted on training fields (method ``percentile``), or the same values with method
        ``plate`` when each plate is normalised with its own percentiles.
    summary : dict
        Training-data summary for the model card.
    plate_normalization : dict
        Plate name -> that plate's normalisation (empty unless the method is ``plate``).
    """

    fields: pd.DataFrame
    channels: list[str]
    class_names: list[str]
    split: Split
    normalization: Normalization
    summary: dict[str, Any]
    plate_normalization: dict[str, Normalization] = field(default_factory=dict)

    def paths(self, index: int) -> list[str]:
        row = self.fields.iloc[int(index)]
        return [str(row[f"path_{c}"]) for c in self.channels]

    def field_normalization(self, index: int) -> Normalization:
        """The normalisation of field ``index`` (its plate's under method ``plate``)."""
        if self.normalization.method != PLATE_METHOD:
            return self.normalization
        plate = str(self.fields.iloc[int(index)]["plate"])
        try:
            return self.plate_normalization[plate]
        except KeyError:
            raise ConfigError(
                f"run plan has no normalisation for plate {plate} (expected one per plate)"
            ) from None

    def save(self, run_dir: Path) -> None:
        """Write ``data/fields.parquet`` and ``data/plan.json`` atomically."""
        folder = Path(run_dir) / "data"
        write_table(self.fields, folder / "fields.parquet")
        write_json(
            folder / "plan.json",
            {
                "channels": self.channels,
                "class_names": self.class_names,
                "split": self.split.to_dict(),
                "split_summary": self.split.summary,
                "normalization": self.normalization.to_dict(),
                "plate_normalization": {p: n.to_dict() for p, n in self.plate_normalization.items()},
                "summary": self.summary,
            },
        )

    @classmethod
    def load(cls, run_dir: Path) -> RunPlan:
        """Read what :meth:`save` wrote (``--resume``)."""
        folder = Path(run_dir) / "data"
        try:
            plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
            fields = pd.read_parquet(folder / "fields.parquet")
        except FileNotFoundError as exc:
            raise ConfigError(
                f"cannot resume {run_dir}: {exc.filename} is missing (expected a run folder written by hcs train)"
            ) from None
        split = Split(
            train=np.asarray(plan["split"]["train"], np.int64),
            val=np.asarray(plan["split"]["val"], np.int64),
            mode=plan["split"]["mode"],
            summary=plan["split_summary"],
        )
        return cls(
            fields=fields,
            channels=list(plan["channels"]),
            class_names=list(plan["class_names"]),
            split=split,
            normalization=Normalization.from_dict(plan["normalization"], source=str(folder / "plan.json")),
            summary=plan["summary"],
            plate_normalization={
                plate: Normalization.from_dict(norm, source=f"{folder / 'plan.json'} plate {plate}")
                for plate, norm in plan.get("plate_normalization", {}).items()
            },
        )


def drop_unreadable(labelled: LabelledFields) -> LabelledFields:
    """Check every channel file's TIFF header; exclude fields that cannot be read, with the reason."""
    bad: dict[int, str] = {}
    for i in range(len(labelled.fields)):
        for path in labelled.field_paths(i):
            try:
                image_info(path)
            except HcsError as exc:
                bad[i] = str(exc)
                break
    if not bad:
        return labelled
    rows = labelled.fields.loc[list(bad), ["plate", "well", "site"]].assign(reason=list(bad.values()))
    labelled.excluded = pd.concat([labelled.excluded, rows], ignore_index=True)
    labelled.fields = labelled.fields.drop(index=list(bad)).reset_index(drop=True)
    return labelled


def fit_run_normalization(plan_fields: pd.DataFrame, channels: list[str], train: np.ndarray, seed: int):
    """Fit percentiles on up to :data:`NORMALIZATION_FIELDS` seeded training fields."""
    rng = np.random.default_rng(seed)
    take = (
        train
        if len(train) <= NORMALIZATION_FIELDS
        else rng.choice(train, NORMALIZATION_FIELDS, replace=False)
    )
    rows = plan_fields.iloc[np.sort(take)]
    images = (read_field([str(r[f"path_{c}"]) for c in channels]) for _, r in rows.iterrows())
    return fit_normalization(images, seed=seed)


def make_plan(config: TrainConfig, workers: int) -> RunPlan:
    """Load the labelled fields, split them, check them and fit the normalisation.

    Raises a :class:`~mcnn_infer.errors.HcsError` before any training when labels match no
    field, plates disagree on channels, a class has no training field or there are too few
    images for the batch size.
    """
    labelled = drop_unreadable(
        load_labelled_fields(
            config.plates,
            config.labels,
            config.layout,
            config.max_fields,
            config.seed,
            config.pattern,
            config.planes,
        )
    )
    source = f"plates {[p.name for p in config.plates][:5]}{'...' if len(config.plates) > 5 else ''}"
    split = make_split(labelled.fields, config.val_split, config.val_fraction, config.seed)
    check_split(labelled.fields, split, labelled.class_names, source)
    per_worker = len(split.train) * config.crops_per_field // workers
    if per_worker < config.batch_size:
        raise ConfigError(
            f"too few training images: {len(split.train)} fields x {config.crops_per_field} crops in {source} "
            f"give {per_worker} per worker for "
            f"{workers} worker(s), fewer than the batch size {config.batch_size} (expected at least one full "
            "batch per worker; lower --batch-size or add data)"
        )
    if len(split.val) < workers:
        raise ConfigError(
            f"{len(split.val)} validation fields for {workers} workers in {source} (expected at least one per "
            "worker; raise --val-fraction)"
        )
    norm = fit_run_normalization(labelled.fields, labelled.channels, split.train, config.seed)
    per_plate: dict[str, Normalization] = {}
    if config.normalization == "plate":
        norm = replace(norm, method=PLATE_METHOD)
        used = set(labelled.fields["plate"].astype(str))
        plate_fields = labelled.plate_fields[labelled.plate_fields["plate"].astype(str).isin(used)]
        per_plate = PlateNormalizer(norm, plate_fields, labelled.channels).fit_all()
    summary = {**labelled.summary(), "split": split.summary}
    return RunPlan(
        fields=labelled.fields,
        channels=labelled.channels,
        class_names=labelled.class_names,
        split=split,
        normalization=norm,
        summary=summary,
        plate_normalization=per_plate,
    )
