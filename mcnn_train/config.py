"""The resolved training configuration (``config.json`` in the run folder)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcnn_infer.errors import ConfigError
from mcnn_infer.plates.pattern import PATTERN, compile_pattern
from mcnn_infer.zstack import parse_planes
from mcnn_train import recipe
from mcnn_train.models import check_input_size, get_model_spec
from mcnn_train.recipe import NORMALIZATIONS, PRECISION_CHOICES, PRECISION_POLICIES, SCALINGS, VAL_SPLITS
from mcnn_train.schedule import parse_schedule

__all__ = ["CONFIG_VERSION", "NORMALIZATIONS", "PRECISION_POLICIES", "VAL_SPLITS", "TrainConfig"]

CONFIG_VERSION = 1


@dataclass
class TrainConfig:
    """Everything that defines a training run; the defaults are the recipe's (:mod:`mcnn_train.recipe`).

    Attributes
    ----------
    out : Path
        Run folder (created; holds model/, checkpoints/, card.json, metrics, eval/).
    plates : list of Path
        Plate folders (read with :func:`mcnn_infer.plates.scan_plate`).
    labels : list of Path
        Treatment CSVs (BBBC021 image CSV or plate map) for
        :func:`mcnn_infer.metadata.read_treatments`.
    data_root : Path or None
        A BBBC021-like root; plate folders and label CSVs are found inside when
        ``plates``/``labels`` are empty.
    model : str
        Registered architecture (``mcnn`` or ``mcnn-small``).
    size : (int, int) or None
        Field (height, width) in pixels every field is resized to; None = the model's default,
        ``"native"`` = the plates' own image size (resolved by :func:`mcnn_train.trainer.train`).
        Multiples of 128 unless ``tile`` is given.
    tile : (int, int) or None
        Train on random crops of this size (multiples of 128) at ``size`` and export the
        whole-field model that averages a fixed grid of tiles (:mod:`mcnn_train.models.tiled`).
    crops_per_field : int
        Samples drawn from each training field per epoch (random crops when tiling).
    balance_classes : bool
        Draw every class equally often in each epoch.
    preset : str or None
        Name of the :data:`mcnn_train.recipe.PRESETS` entry the run started from (recorded only:
        its values are already in the other fields).
    epochs : int
        Total number of epochs (a resumed run continues up to this number).
    batch_size : int
        Images per optimizer step: the global batch, split evenly over the workers that run
        (``scaling="strong"``), or each worker's batch (``scaling="weak"``: the global batch is
        ``batch_size`` times the workers: ``workers`` here, the launcher's ``-np`` under
        horovodrun / mpirun).
    scaling : str
        ``strong`` (the default: global batch, learning rate, steps per epoch and sample stream
        do not depend on the worker count, so neither does the model) or ``weak`` (every worker
        keeps ``batch_size``; the learning rate scales with the global batch, Goyal et al. 2017:
        more throughput on large data sets, a different model per worker count).
    lr_schedule : str
        ``lr;epoch;lr;...`` for ``lr_reference_batch`` images per step (see :mod:`mcnn_train.schedule`).
    lr_reference_batch : int or None
        Global batch the schedule's rates are written for; None = ``batch_size`` (with strong
        scaling the rates are used as written; with weak scaling they grow with the workers).
    warmup_epochs : float
        Gradual warm-up length in epochs.
    momentum, weight_decay, label_smoothing : float
        SGD momentum, coupled L2 weight decay (gradient ``wd * w`` on kernels), label smoothing.
    val_split : str
        ``compound`` (hold out whole compounds per class; controls split by well) or ``plate``.
    val_fraction : float
        Fraction of compounds / plates / control wells held out for validation.
    normalization : str
        ``plate`` (each plate normalised with its own robust percentiles, at training and at
        scoring: removes plate-to-plate stain and background drift) or ``dataset`` (the
        training set's percentiles for every plate).
    augment : bool
        Random flips, 90-degree rotations (square inputs) and per-channel intensity jitter.
    intensity_jitter : float
        Per-channel intensity factors drawn from [1 - j, 1 + j] when augmenting (stain and
        illumination differences between wells the model should not read as phenotype).
    workers : int
        Local Horovod workers to start (``hcs train --workers``); 1 runs in-process. Not used
        under horovodrun / mpirun, where every process started by the launcher is one worker.
    threads_per_worker : int or None
        Intra-op threads per worker; None = cores // workers.
    seed : int
        Seed of splits, shuffles, augmentation and initial weights.
    max_fields : int or None
        Use at most this many labelled fields (seeded sample, stratified by nothing) for quick runs.
    cache_dir : Path or None
        Preprocessed-field cache; None = ``out/cache``.
    deterministic : bool
        Enable TensorFlow op determinism (bit-reproducible resume at some speed cost).
    micro_batch : int or None
        Images per gradient computation of the canonical step (:mod:`mcnn_train.canonical_step`:
        the same weights, bit for bit, with 1 or 2 workers); each worker's batch must be a
        multiple of it. None = Keras' own step (``--nondeterministic``; runs made before the
        canonical step load so). Kept on resume.
    precision : str
        ``auto`` (bf16 where the CPU computes it fast, :func:`mcnn_infer.cpu.fast_bf16`, else
        fp32; resolved by the chief worker when the run starts and written back here), ``fp32`` or
        ``bf16`` (Keras policy ``mixed_bfloat16``: bfloat16 compute, float32
        variables, logits and loss; the exported model is float32 either way). Kept on resume.
    layout : str or None
        Plate layout name forced for every plate; None = detect.
    pattern : str or None
        File-name pattern of the plates (``--pattern``, :mod:`mcnn_infer.plates.pattern`;
        layout ``pattern``); kept on resume.
    resume : bool
        Continue from ``out/checkpoints/last``.
    planes : str or None
        How fields with several z-planes are read (``--planes``, :mod:`mcnn_infer.zstack`):
        ``max``, ``mean`` or a 1-based plane number; None refuses multi-plane plates. Kept on
        resume; recorded in config.json and the model card (``training.config``).
    """

    out: Path
    plates: list[Path] = field(default_factory=list)
    labels: list[Path] = field(default_factory=list)
    data_root: Path | None = None
    model: str = recipe.MODEL
    size: tuple[int, int] | str | None = None
    tile: tuple[int, int] | None = recipe.TILE
    crops_per_field: int = recipe.CROPS_PER_FIELD
    balance_classes: bool = recipe.BALANCE_CLASSES
    preset: str | None = None
    epochs: int = recipe.EPOCHS
    batch_size: int = recipe.BATCH_SIZE
    scaling: str = recipe.SCALING
    lr_schedule: str = recipe.LR_SCHEDULE
    lr_reference_batch: int | None = None
    warmup_epochs: float = recipe.WARMUP_EPOCHS
    momentum: float = recipe.MOMENTUM
    weight_decay: float = recipe.WEIGHT_DECAY
    label_smoothing: float = recipe.LABEL_SMOOTHING
    val_split: str = recipe.VAL_SPLIT
    val_fraction: float = recipe.VAL_FRACTION
    normalization: str = recipe.NORMALIZATION
    augment: bool = recipe.AUGMENT
    intensity_jitter: float = recipe.INTENSITY_JITTER
    workers: int = recipe.WORKERS
    threads_per_worker: int | None = None
    seed: int = recipe.SEED
    max_fields: int | None = None
    cache_dir: Path | None = None
    deterministic: bool = recipe.DETERMINISTIC
    micro_batch: int | None = recipe.MICRO_BATCH
    precision: str = recipe.PRECISION
    layout: str | None = None
    pattern: str | None = None
    resume: bool = False
    planes: str | None = None

    def resolved(self) -> TrainConfig:
        """A validated copy with defaults filled in; raises :class:`ConfigError` on bad values."""
        spec = get_model_spec(self.model)
        if self.size == recipe.NATIVE_SIZE:
            raise ConfigError(
                "--size native is resolved from the plates' images before the run starts "
                "(mcnn_train.trainer.train); give HxW here"
            )
        size = tuple(int(v) for v in (self.size or spec.default_size))
        if len(size) != 2:
            raise ConfigError(f"--size {self.size!r}: expected HxW, e.g. 1024x1280")
        tile = None if self.tile is None else tuple(int(v) for v in self.tile)
        if tile is None:
            check_input_size(*size)
        else:
            check_input_size(*tile)
            if tile[0] > size[0] or tile[1] > size[1]:
                raise ConfigError(
                    f"--tile {tile[0]}x{tile[1]} is larger than the field size {size[0]}x{size[1]}; "
                    "expected a tile that fits in the field"
                )
        if self.preset is not None and self.preset not in recipe.PRESETS:
            raise ConfigError(f"preset {self.preset!r}: expected one of {', '.join(recipe.PRESETS)}")
        parse_schedule(self.lr_schedule)
        if self.pattern is not None:
            compile_pattern(self.pattern)
            if self.layout not in (None, PATTERN):
                raise ConfigError(
                    f"--pattern {self.pattern!r} sets the layout to {PATTERN!r}, but --layout {self.layout} "
                    "was also given (expected one of them)"
                )
        checks = [
            (self.epochs >= 1, "epochs", self.epochs, ">= 1"),
            (self.batch_size >= 1, "batch size", self.batch_size, ">= 1"),
            (self.crops_per_field >= 1, "crops per field", self.crops_per_field, ">= 1"),
            (0.0 <= self.intensity_jitter < 1.0, "intensity jitter", self.intensity_jitter, "in [0, 1)"),
            (self.workers >= 1, "workers", self.workers, ">= 1"),
            (0.0 <= self.momentum < 1.0, "momentum", self.momentum, "in [0, 1)"),
            (self.weight_decay >= 0, "weight decay", self.weight_decay, ">= 0"),
            (0.0 <= self.label_smoothing < 1.0, "label smoothing", self.label_smoothing, "in [0, 1)"),
            (0.0 < self.val_fraction < 1.0, "validation fraction", self.val_fraction, "in (0, 1)"),
            (self.warmup_epochs >= 0, "warm-up epochs", self.warmup_epochs, ">= 0"),
            (self.val_split in VAL_SPLITS, "validation split", self.val_split, f"one of {VAL_SPLITS}"),
            (
                self.normalization in NORMALIZATIONS,
                "normalization",
                self.normalization,
                f"one of {NORMALIZATIONS}",
            ),
            (
                self.precision in PRECISION_CHOICES,
                "precision",
                self.precision,
                f"one of {PRECISION_CHOICES}",
            ),
            (self.scaling in SCALINGS, "scaling", self.scaling, f"one of {SCALINGS}"),
            (self.max_fields is None or self.max_fields >= 2, "max fields", self.max_fields, ">= 2"),
            (
                self.threads_per_worker is None or self.threads_per_worker >= 1,
                "threads per worker",
                self.threads_per_worker,
                ">= 1",
            ),
            (self.micro_batch is None or self.micro_batch >= 1, "micro-batch", self.micro_batch, ">= 1"),
            (
                self.lr_reference_batch is None or self.lr_reference_batch >= 1,
                "lr reference batch",
                self.lr_reference_batch,
                ">= 1",
            ),
        ]
        for ok, name, value, expected in checks:
            if not ok:
                raise ConfigError(f"{name} {value!r} is out of range: expected {expected}")
        _, local_batch = recipe.batch_split(self.scaling, self.batch_size, self.workers)  # splits over the workers
        recipe.micro_batches(local_batch, self.micro_batch, self.workers)
        if not self.plates and self.data_root is None:
            raise ConfigError("no training data: give plate folders or --data ROOT")
        if not self.labels and self.data_root is None:
            raise ConfigError("no labels: give --labels CSV (BBBC021 image CSV or plate map) or --data ROOT")
        out = Path(self.out).absolute()
        return dataclasses.replace(
            self,
            out=out,
            plates=[Path(p).absolute() for p in self.plates],
            labels=[Path(p).absolute() for p in self.labels],
            data_root=Path(self.data_root).absolute() if self.data_root else None,
            size=size,  # type: ignore[arg-type]
            tile=tile,  # type: ignore[arg-type]
            lr_reference_batch=self.lr_reference_batch or self.batch_size,
            cache_dir=Path(self.cache_dir).absolute() if self.cache_dir else out / "cache",
            planes=parse_planes(self.planes),
        )

    @property
    def keras_policy(self) -> str:
        """The Keras mixed-precision policy name of :attr:`precision`."""
        return PRECISION_POLICIES[self.precision]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
            elif isinstance(value, list):
                data[key] = [str(v) if isinstance(v, Path) else v for v in value]
            elif isinstance(value, tuple):
                data[key] = list(value)
        data["config_version"] = CONFIG_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Inverse of :meth:`to_dict`; :class:`ConfigError` naming ``source`` on unknown keys."""
        data = dict(data)
        data.pop("config_version", None)
        # runs written before these options existed trained so (whatever the recipe's default now)
        data.setdefault("normalization", "dataset")
        data.setdefault("precision", "fp32")
        data.setdefault("scaling", "weak")
        data.setdefault("micro_batch", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown or "out" not in data:
            raise ConfigError(
                f"{source}: unknown keys {unknown} or missing 'out' (expected the keys of TrainConfig)"
            )
        for key in ("out", "data_root", "cache_dir"):
            if data.get(key) is not None:
                data[key] = Path(data[key])
        for key in ("plates", "labels"):
            data[key] = [Path(p) for p in data.get(key, [])]
        for key in ("size", "tile"):
            if isinstance(data.get(key), list):
                data[key] = tuple(int(v) for v in data[key])
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a ``config.json``; :class:`ConfigError` when missing or malformed."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path} not found: expected the config.json of a training run") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(path))
