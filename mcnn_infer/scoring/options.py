"""Options of a scoring run, and the rule that picks the batch size."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcnn_infer.errors import ConfigError
from mcnn_infer.formats import AUTO, BACKENDS, DEFAULT_BACKEND, DEFAULT_PRECISION, PRECISIONS

ON_ERROR = ("skip", "fail")
DEFAULT_MODEL_NAME = "mcnn-small-synth"
MODEL_DIR_ENV = "HCS_MODEL_DIR"


@dataclass
class ScoreOptions:
    """Everything that changes what ``hcs score`` computes or how it runs.

    Attributes
    ----------
    backend : {'openvino', 'onnxruntime'}
    precision : {'auto', 'fp32', 'bf16', 'fp16', 'int8'}
        What to compute in (:data:`mcnn_infer.formats.PRECISIONS`). The default is ``fp32``, not
        ``auto``: the same plate gives the same numbers on every machine, and a run resumed or
        merged across machines with different CPUs cannot mix precisions; ``auto`` takes the
        fastest precision the card validated and the CPU computes natively.
    batch_size : int or None
        Fields per inference request (None: :func:`mcnn_infer.runtime.choose_batch_size`).
    workers : int or None
        Decode/preprocess threads (None: the number of CPU cores, at most 8).
    threads : int or None
        Inference threads (None: the runtime's choice).
    on_error : {'skip', 'fail'}
        ``skip`` records a bad field with its reason; ``fail`` stops the run naming the file.
    embeddings : bool
        Also write ``embeddings.parquet``.
    thumbnails : bool
        Also write ``thumbnails.parquet`` (each well's first field and image-QC-flagged fields as
        small colour composites, with class activation maps when the model exports them).
    metadata : list of str
        BBBC021 image CSVs or plate maps (``read_treatments``).
    positive : list of str
        Positive-control compounds.
    channel_map : dict
        Model channel key or name -> plate channel key.
    allow_bit_depth_mismatch : bool
        Score plates whose bit depth differs from the card's.
    overwrite : bool
        Discard earlier results in the output folder instead of resuming.
    flush_every : int
        Fields buffered before a result part is written (also flushed every ``flush_seconds``).
    flush_seconds : float
    pattern : str or None
        File-name pattern of the plate folders (``--pattern``, :mod:`mcnn_infer.plates.pattern`);
        None: the layout is detected.
    planes : str or None
        How fields with several z-planes are read (``--planes``, :mod:`mcnn_infer.zstack`):
        ``max``, ``mean`` or a 1-based plane number; None refuses multi-plane plates.
    """

    backend: str = DEFAULT_BACKEND
    precision: str = DEFAULT_PRECISION
    batch_size: int | None = None
    workers: int | None = None
    threads: int | None = None
    on_error: str = "skip"
    embeddings: bool = False
    thumbnails: bool = True
    metadata: list[str] = field(default_factory=list)
    positive: list[str] = field(default_factory=list)
    channel_map: dict[str, str] = field(default_factory=dict)
    allow_bit_depth_mismatch: bool = False
    overwrite: bool = False
    flush_every: int = 256
    flush_seconds: float = 10.0
    pattern: str | None = None
    planes: str | None = None

    def __post_init__(self) -> None:
        from mcnn_infer.zstack import parse_planes

        self.planes = parse_planes(self.planes)
        if self.pattern is not None:
            from mcnn_infer.plates.pattern import compile_pattern  # here: the plates stack imports pandas

            compile_pattern(self.pattern)
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"--backend {self.backend!r} is not supported (expected one of {', '.join(BACKENDS)})"
            )
        if self.precision not in (AUTO, *PRECISIONS):
            raise ConfigError(
                f"--precision {self.precision!r} is not supported (expected one of {', '.join((AUTO, *PRECISIONS))})"
            )
        if self.on_error not in ON_ERROR:
            raise ConfigError(
                f"--on-error {self.on_error!r} is not supported (expected one of {', '.join(ON_ERROR)})"
            )
        for name in ("batch_size", "workers", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise ConfigError(f"--{name.replace('_', '-')} is {value!r} (expected a positive integer)")
        if self.flush_every < 1 or self.flush_seconds <= 0:
            raise ConfigError(
                f"flush_every={self.flush_every}, flush_seconds={self.flush_seconds} (expected positive values)"
            )

    #: Options that only change how a run goes, never its tables: shards of one run may differ in them.
    RUN_ONLY = ("overwrite", "workers", "threads")

    @classmethod
    def same_results(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The recorded options (run.json ``options``) that shards of one run must share (all but :data:`RUN_ONLY`)."""
        return {k: v for k, v in options.items() if k not in cls.RUN_ONLY}

    def result_affecting(self) -> dict[str, Any]:
        """The options that change the per-field result parts (stored in the resume fingerprint)."""
        return {
            "backend": self.backend,
            "precision": self.precision,
            "embeddings": self.embeddings,
            "on_error": self.on_error,
            "channel_map": dict(sorted(self.channel_map.items())),
            # only when given: fingerprints of runs without --pattern stay as they were
            **({"pattern": self.pattern} if self.pattern is not None else {}),
            # only when off: fingerprints of runs made before thumbnails existed stay as they were
            **({"thumbnails": False} if not self.thumbnails else {}),
            **({"planes": self.planes} if self.planes is not None else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_options(
    *,
    metadata: Sequence[str | os.PathLike[str]] = (),
    positive: Sequence[str] = (),
    channel_map: str | Mapping[str, str] | None = None,
    **settings: Any,
) -> ScoreOptions:
    """The checked options of ``hcs score`` / :func:`mcnn_infer.api.score` from their keyword arguments.

    ``channel_map`` may be the text of ``--channel-map`` or a mapping; every other keyword is a
    :class:`ScoreOptions` field. Raises :class:`ConfigError` on a bad value, before any file is
    read (the CLI checks the options before it takes the results folder's lock).
    """
    return ScoreOptions(
        metadata=[str(m) for m in metadata],
        positive=list(positive),
        channel_map=dict(channel_map) if isinstance(channel_map, Mapping) else parse_channel_map(channel_map),
        **settings,
    )


def parse_channel_map(text: str | None) -> dict[str, str]:
    """Parse ``DAPI=w1,Tubulin=w2`` into ``{'DAPI': 'w1', 'Tubulin': 'w2'}``.

    Raises
    ------
    ConfigError
        If an item is not ``MODEL_CHANNEL=PLATE_CHANNEL`` or a name repeats.
    """
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(
                f"--channel-map item {item!r} is not MODEL_CHANNEL=PLATE_CHANNEL (expected e.g. 'DAPI=w1,Tubulin=w2')"
            )
        if key in out:
            raise ConfigError(f"--channel-map names {key!r} twice (expected each model channel once)")
        out[key] = value
    return out


def default_workers() -> int:
    """Decode/preprocess threads: the number of CPU cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def thread_plan(options: ScoreOptions, workers: int, streams: int, inference_threads: int) -> dict[str, Any]:
    """How the run shares the CPU between loader threads and inference (run.json key ``threads``).

    The default is explicit: as many loader threads as cores (at most 8) and the runtime's THROUGHPUT
    hint for inference (OpenVINO: one stream per core or pair of cores, all cores in all), i.e. up to
    two threads per core. The two sides do not fight for long: decoding, OpenCV and numpy release the
    GIL, and at most ``2 x batch x requests`` fields wait between them, so a loader that is ahead
    blocks and leaves its cores to inference, and an engine that is ahead idles its threads.
    ``--workers`` and ``--threads`` override either side.

    Returns
    -------
    dict
        ``cores``, ``loader_threads``, ``inference_streams``, ``inference_threads``, ``threads_per_core``
        and where each number came from (``loader_from``, ``inference_from``).
    """
    cores = os.cpu_count() or 1
    return {
        "cores": cores,
        "loader_threads": int(workers),
        "loader_from": "--workers" if options.workers else "default: one per core, at most 8",
        "inference_streams": int(streams),
        "inference_threads": int(inference_threads),
        "inference_from": "--threads" if options.threads else "the runtime's THROUGHPUT hint",
        "threads_per_core": round((int(workers) + int(inference_threads)) / cores, 2),
    }


def default_model_dir() -> Path:
    """The shipped default model: ``$HCS_MODEL_DIR`` or ``models/mcnn-small-synth`` beside the package.

    Raises
    ------
    ConfigError
        If the folder does not exist (the user must pass ``--model``).
    """
    env = os.environ.get(MODEL_DIR_ENV)
    candidate = Path(env) if env else Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME
    if not (candidate / "card.json").is_file():
        source = f"${MODEL_DIR_ENV}" if env else "the default model folder"
        raise ConfigError(
            f"no model given and {source} {candidate} holds no card.json (expected an exported model; "
            "pass --model MODEL_DIR, e.g. a folder written by `hcs export`)"
        )
    return candidate
