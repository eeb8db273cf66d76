"""The Python API of hcs, for notebooks and scripts: what the ``hcs`` commands do, as functions.

Every function here is what one ``hcs`` command runs (the command only parses its options
and prints), so it behaves the same and raises the same errors: a subclass of
:class:`mcnn_infer.errors.HcsError` whose one-line message names the file, the value and what
was expected.

========================  =====================================  ==============================
function                  the command                            returns
========================  =====================================  ==============================
:func:`score`             ``hcs score PLATE... --out RESULTS``   :class:`ScoreSummary`
:func:`analyze`           ``hcs analyze RESULTS``                :class:`AnalysisResult`
:func:`evaluate`          ``hcs evaluate RESULTS``               dict (``evaluation.json``)
:func:`report`            ``hcs report RESULTS``                 Path of ``report.html``
:func:`load_results`      (reading a results folder)             :class:`Results` of DataFrames
:func:`open_model`        (a model on numpy arrays)              :class:`Model`
========================  =====================================  ==============================

Example
-------
>>> from mcnn_infer import api
>>> api.score(["plates/P1"], "results", metadata=["plate_map.csv"], embeddings=True)  # doctest: +SKIP
>>> api.report("results")                                                          # doctest: +SKIP
>>> res = api.load_results("results")                                              # doctest: +SKIP
>>> res.wells.groupby("compound")["prob_DMSO"].mean()                              # doctest: +SKIP

See ``docs/api.md`` for a worked example.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mcnn_infer.card import ModelCard, bit_depth_mismatch, load_card
from mcnn_infer.errors import ChannelMismatchError, ConfigError, ImageReadError
from mcnn_infer.formats import DEFAULT_BACKEND, DEFAULT_PRECISION
from mcnn_infer.preprocess import Normalization, preprocess_field
from mcnn_infer.results import (
    ANALYSIS_DIRNAME,
    EVALUATION_DIRNAME,
    PROB_PROFILES_FILE,
    PROFILES_FILE,
    SUMMARY_NAME,
    logodds_column,
    prob_column,
)
from mcnn_infer.scoring.options import default_model_dir, score_options
from mcnn_infer.scoring.pipeline import ScoreSummary
from mcnn_infer.scoring.shard import Shard, resolve_shard

if TYPE_CHECKING:
    from rich.console import Console

    from mcnn_infer.analysis.outputs import AnalysisResult
    from mcnn_infer.runtime import Engine

PathLike = str | os.PathLike[str]

__all__ = [
    "Model",
    "Prediction",
    "Results",
    "ScoreSummary",
    "analyze",
    "evaluate",
    "load_results",
    "open_model",
    "report",
    "score",
]


def _paths(value: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(value, str | os.PathLike):
        return [Path(value)]
    return [Path(v) for v in value]


def score(
    plates: PathLike | Sequence[PathLike],
    out: PathLike,
    model: PathLike | None = None,
    *,
    metadata: PathLike | Sequence[PathLike] = (),
    positive: Sequence[str] = (),
    embeddings: bool = False,
    thumbnails: bool = True,
    backend: str = DEFAULT_BACKEND,
    precision: str = DEFAULT_PRECISION,
    shard: str | Shard | None = None,
    shard_count: int | None = None,
    on_error: str = "skip",
    batch_size: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    channel_map: str | Mapping[str, str] | None = None,
    pattern: str | None = None,
    planes: str | None = None,
    allow_bit_depth_mismatch: bool = False,
    overwrite: bool = False,
    flush_every: int = 256,
    console: Console | None = None,
) -> ScoreSummary:
    """Score plates with an exported model (``hcs score``); resumable, like the command.

    Parameters
    ----------
    plates : path or sequence of paths
        Plate folders of any layout, OME-Zarr plates (``*.zarr``) or manifest CSVs.
    out : path
        RESULTS folder: ``fields``, ``wells``, ``treatments`` (.parquet + .csv), ``run.json``;
        an unfinished run there is resumed, a finished one of another run refused.
    model : path, optional
        Exported model folder (default ``$HCS_MODEL_DIR`` or the shipped ``mcnn-small-synth``).
    metadata : path or sequence of paths
        BBBC021 image CSVs or plate maps; add treatments, roles and MoA labels.
    positive : sequence of str
        Positive-control compounds.
    embeddings : bool
        Also write ``embeddings.parquet`` (needed by :func:`evaluate` and the profiles).
    thumbnails : bool
        Also write ``thumbnails.parquet`` (small composites of the fields the report shows, with
        activation maps where the model has them).
    backend, precision : str
        As ``--backend`` / ``--precision`` (:data:`mcnn_infer.formats.BACKENDS`, ``PRECISIONS``, ``auto``).
    shard : str or Shard, optional
        ``"i/n"``, ``"auto"`` (from Slurm, Kubernetes, mpirun) or a :class:`Shard`; default: from
        the environment when a launcher or scheduler set one, else all wells.
    shard_count : int, optional
        Completion count of a Kubernetes indexed Job (``--shard-count``).
    on_error : {'skip', 'fail'}
        ``skip`` records a bad field with its reason; ``fail`` raises naming the file.
    batch_size, workers, threads : int, optional
        Fields per request, loader threads, inference threads (defaults as the command's).
    channel_map : str or mapping, optional
        Model channel to plate channel, ``"DAPI=w1,Tubulin=w2"`` or ``{"DAPI": "w1", ...}``.
    pattern : str, optional
        File-name regular expression of an instrument without a layout (``--pattern``).
    planes : str, optional
        Z-stacks: ``max``, ``mean`` (projections) or a 1-based plane index (``--planes``); a
        multi-plane plate without it is refused.
    allow_bit_depth_mismatch, overwrite : bool
        As the options of the same name.
    flush_every : int
        Fields per result part (the resume granularity).
    console : rich.console.Console, optional
        Where progress bars and the summary go (None: silent).

    Returns
    -------
    ScoreSummary
        ``out_dir``, ``counts`` (fields, ok, skipped, wells, treatments), ``plates``, throughput.

    Raises
    ------
    HcsError
        Unreadable plates or model, plates that do not fit the model card, bad options, results
        of another run in ``out``, inconsistent scheduler variables.
    """
    options = score_options(
        backend=backend,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        threads=threads,
        on_error=on_error,
        embeddings=embeddings,
        thumbnails=thumbnails,
        metadata=_paths(metadata),
        positive=positive,
        channel_map=channel_map,
        allow_bit_depth_mismatch=allow_bit_depth_mismatch,
        overwrite=overwrite,
        flush_every=flush_every,
        pattern=pattern,
        planes=planes,
    )
    chosen = shard if isinstance(shard, Shard) else resolve_shard(shard, count=shard_count)
    from mcnn_infer.scoring.pipeline import score_plates

    return score_plates(_paths(plates), out, model, options, chosen, console)


def analyze(
    results: PathLike,
    *,
    readout: str = "model",
    out: PathLike | None = None,
    truth: PathLike | None = None,
    qc_class: str | None = None,
    response_class: str | None = None,
    heatmap_class: str | None = None,
    normalize: str = "none",
    plate_map: PathLike | None = None,
    score: str | None = None,
    max_hill: float | None = None,
) -> AnalysisResult:
    """Plate QC (Z'), heatmaps, MoA calls, potency (EC50) and profiles (``hcs analyze``).

    Parameters
    ----------
    results : path
        ``readout='model'``: a folder written by :func:`score`. ``readout='translocation'``: a
        plate folder read with the classical nuclear-translocation readout.
    readout : {'model', 'translocation'}
    out : path, optional
        Model readout: the analysis folder (default ``results/analysis``). Translocation: the
        output folder (required; results in ``out/analysis``).
    truth : path, optional
        ``truth_compounds.csv`` of ``hcs synth``: EC50 fold-errors against the truth.
    qc_class, response_class, heatmap_class : str, optional
        Model classes of the Z' score, the potency readout and the heatmaps (see ``hcs analyze --help``).
    normalize : str
        Profile normalisation, a :data:`mcnn_infer.analysis.profiles.NORMALIZATIONS` name.
    plate_map : path, optional
        Plate map CSV (translocation readout, required there).
    score : str, optional
        Translocation scale of QC, heatmap and potency (``ratio``, ``log-ratio``,
        ``nuclear-fraction``; default ``ratio``); not for the model readout.
    max_hill : float, optional
        Bound of the 4PL fits' |Hill slope| (default
        :data:`mcnn_infer.analysis.potency.MAX_HILL`); a fit at the bound is flagged ``steep``.

    Returns
    -------
    AnalysisResult
        ``out_dir`` (the ``analysis`` folder) and its ``summary`` (as in ``summary.json``).

    Raises
    ------
    AnalysisError
        A results folder without ``wells.parquet``, a class that is not the model's, a missing
        plate map, ``score`` with the model readout, an unknown readout.
    """
    from mcnn_infer.analysis.errors import AnalysisError
    from mcnn_infer.analysis.potency import MAX_HILL

    max_hill = MAX_HILL if max_hill is None else max_hill
    if readout == "translocation":
        if plate_map is None or out is None:
            raise AnalysisError(f"--readout translocation on {results}: --plate-map and --out are required")
        from mcnn_infer.analysis.translocation import analyze_translocation

        return analyze_translocation(results, plate_map, out, score=score or "ratio", max_hill=max_hill)
    if readout != "model":
        raise AnalysisError(f"readout {readout!r} on {results}; expected 'model' or 'translocation'")
    if score is not None:
        raise AnalysisError(
            f"--score {score} on {results}: it chooses the scale of --readout translocation; "
            "the model readout has none"
        )
    from mcnn_infer.analysis.pipeline import analyze as run_analysis

    return run_analysis(
        results,
        out_dir=out,
        qc_class=qc_class,
        response_class=response_class,
        heatmap_class=heatmap_class,
        truth=truth,
        normalize=normalize,
        max_hill=max_hill,
    )


def evaluate(
    results: PathLike,
    *,
    normalize: str = "none",
    null_size: int | None = None,
    seed: int | None = None,
    out: PathLike | None = None,
) -> dict[str, Any]:
    """NSC / NSCB 1-NN MoA accuracy, the classifier's accuracy and copairs mAP (``hcs evaluate``).

    Parameters
    ----------
    results : path
        A results folder scored with ``embeddings=True`` and labelled metadata.
    normalize : str
        Profile normalisation to the DMSO wells (:data:`mcnn_infer.analysis.profiles.NORMALIZATIONS`).
    null_size, seed : int, optional
        Permutations and seed of the mAP null distribution (defaults as ``hcs evaluate``).
    out : path, optional
        Output folder (default ``results/analysis/evaluation``).

    Returns
    -------
    dict
        The evaluation as written to ``evaluation.json``: per metric key (``nsc``, ``nscb``,
        ``classifier``, ``map_activity_embeddings``, ...) its score and counts.

    Raises
    ------
    AnalysisError
        No ``embeddings.parquet`` or no MoA labels in the wells.
    """
    from mcnn_infer.analysis.evaluation import evaluate_results
    from mcnn_infer.analysis.mean_ap import NULL_SIZE, SEED, MapSettings

    settings = MapSettings(
        null_size=NULL_SIZE if null_size is None else null_size, seed=SEED if seed is None else seed
    )
    return evaluate_results(results, out_dir=out, normalize=normalize, map_settings=settings)


def report(results: PathLike, out: PathLike | None = None, images: bool = True) -> Path:
    """Write the self-contained HTML report (``hcs report``); analyses first when not analysed yet.

    Parameters
    ----------
    results : path
        A results folder (or the output folder of the translocation readout).
    out : path, optional
        HTML file (default ``results/report.html``).
    images : bool
        Show the fields' thumbnails and activation maps (``hcs report --no-images``: False).

    Returns
    -------
    Path
        The report written.
    """
    from mcnn_infer.report.render import write_report

    return write_report(results, out, images=images)


@dataclass
class Results:
    """The tables of a results folder, as DataFrames (None when that table was not written).

    Attributes
    ----------
    root : Path
        The results folder.
    fields : pandas.DataFrame or None
        One row per field: ``plate, well, site, timepoint, plane, path_<channel>..., status, reason,
        predicted_class, confidence, prob_<class>..., logodds_<class>..., qc_*``.
    wells : pandas.DataFrame
        One row per well: ``plate, well, n_fields, predicted_class, confidence, prob_<class>...,
        logodds_<class>..., in_training`` and, with metadata, ``compound, concentration, moa, role``.
    treatments : pandas.DataFrame or None
        The scorer's per-treatment MoA calls (with metadata).
    embeddings : pandas.DataFrame or None
        Per-field embeddings ``plate, well, site, timepoint, plane, emb_000...`` (``embeddings=True``).
    profiles : pandas.DataFrame or None
        Per-well profiles of the embeddings after the analysis (``Metadata_*`` columns, then the
        features), from ``analysis/profiles.parquet`` (or the evaluation folder's).
    probability_profiles : pandas.DataFrame or None
        The same of the class probabilities (``profiles_probabilities.parquet``).
    qc : pandas.DataFrame or None
        Plate QC after the analysis: one row per plate with Z' and the control counts (``qc_plates.csv``).
    field_qc : pandas.DataFrame or None
        Fields flagged by image QC (``qc_fields.csv``).
    potency : pandas.DataFrame or None
        4PL fits per compound: EC50 (µM), Hill slope, top, bottom, trusted (``potency.csv``).
    moa_calls : pandas.DataFrame or None
        The analysis's MoA call per treatment (``moa_calls.csv``).
    run : dict
        ``run.json``: model, plates, options, counts, engine, CPU, software.
    summary : dict
        ``analysis/summary.json`` (empty before the analysis).
    class_names : list of str
        The model's classes, in logit order.
    """

    root: Path
    fields: pd.DataFrame | None
    wells: pd.DataFrame
    treatments: pd.DataFrame | None
    embeddings: pd.DataFrame | None
    profiles: pd.DataFrame | None
    probability_profiles: pd.DataFrame | None
    qc: pd.DataFrame | None
    field_qc: pd.DataFrame | None
    potency: pd.DataFrame | None
    moa_calls: pd.DataFrame | None
    run: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)


def _read_optional(path: Path) -> pd.DataFrame | None:
    """The table at ``path`` (Parquet or CSV), None when it was not written."""
    if not path.is_file():
        return None
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _table_name(summary: dict[str, Any], section: str, key: str, default: str) -> str:
    entry = summary.get(section)
    return str(entry.get(key, default)) if isinstance(entry, dict) else default


def load_results(results: PathLike) -> Results:
    """Read a results folder (and its analysis, when done) into DataFrames.

    Parameters
    ----------
    results : path
        A folder written by :func:`score` (or ``hcs score`` / ``hcs merge``).

    Returns
    -------
    Results

    Raises
    ------
    AnalysisError
        The folder or ``wells.parquet`` is missing, or a table lacks the columns of the results
        contract (ARCHITECTURE.md, "Scoring outputs").
    """
    from mcnn_infer.analysis.io import read_scoring_results

    res = read_scoring_results(results)
    folder = res.root / ANALYSIS_DIRNAME
    summary_path = folder / SUMMARY_NAME
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    profiles = _read_optional(folder / _table_name(summary, "profiles", "table", PROFILES_FILE))
    prob_profiles = _read_optional(
        folder / _table_name(summary, "profiles", "probabilities_table", PROB_PROFILES_FILE)
    )
    if profiles is None:  # `hcs evaluate` alone writes them into its own folder
        profiles = _read_optional(folder / EVALUATION_DIRNAME / PROFILES_FILE)
        prob_profiles = _read_optional(folder / EVALUATION_DIRNAME / PROB_PROFILES_FILE)
    return Results(
        root=res.root,
        fields=res.fields,
        wells=res.wells,
        treatments=res.treatments,
        embeddings=res.embeddings,
        profiles=profiles,
        probability_profiles=prob_profiles,
        qc=_read_optional(folder / _table_name(summary, "qc", "table", "qc_plates.csv")),
        field_qc=_read_optional(folder / _table_name(summary, "field_qc", "table", "qc_fields.csv")),
        potency=_read_optional(folder / _table_name(summary, "potency", "table", "potency.csv")),
        moa_calls=_read_optional(folder / _table_name(summary, "moa", "table", "moa_calls.csv")),
        run=res.run,
        summary=summary,
        class_names=res.class_names,
    )


@dataclass
class Prediction:
    """A model's outputs for N fields.

    Attributes
    ----------
    class_names : list of str
        K classes, in logit order.
    logits : numpy.ndarray
        float32 (N, K).
    probabilities : numpy.ndarray
        float32 (N, K): ``softmax(logits)``.
    log_odds : numpy.ndarray
        float32 (N, K): ``log(p / (1 - p))`` per class.
    embedding : numpy.ndarray
        float32 (N, E): the dense layer before the logits (E = 512 for the M-CNN).
    """

    class_names: list[str]
    logits: np.ndarray
    probabilities: np.ndarray
    log_odds: np.ndarray
    embedding: np.ndarray

    @property
    def predicted_class(self) -> list[str]:
        """The most probable class of each field (N names)."""
        return [self.class_names[k] for k in self.probabilities.argmax(axis=1)]

    def to_frame(self) -> pd.DataFrame:
        """One row per field: ``predicted_class, confidence, prob_<class>..., logodds_<class>...``
        (the columns of ``fields.parquet``)."""
        frame = pd.DataFrame(
            {"predicted_class": self.predicted_class, "confidence": self.probabilities.max(axis=1)}
        )
        for k, name in enumerate(self.class_names):
            frame[prob_column(name)] = self.probabilities[:, k]
        for k, name in enumerate(self.class_names):
            frame[logodds_column(name)] = self.log_odds[:, k]
        return frame


class Model:
    """An exported model opened for inference on numpy arrays (see :func:`open_model`).

    Attributes
    ----------
    card : ModelCard
        The model card (classes, input size and channels, normalisation, training record).
    engine : Engine
        The compiled runtime engine.
    channels : list of str
        The card's channel keys: the order of the C axis of the images given to :meth:`predict`.
    """

    def __init__(self, engine: Engine, allow_bit_depth_mismatch: bool = False) -> None:
        self.engine = engine
        self.card: ModelCard = engine.card
        self.channels = list(self.card.input.channels)
        self.allow_bit_depth_mismatch = allow_bit_depth_mismatch

    @property
    def class_names(self) -> list[str]:
        return list(self.card.class_names)

    def preprocess(self, images: np.ndarray, normalization: Normalization | None = None) -> np.ndarray:
        """Raw fields -> model input, exactly as the scorer prepares them.

        Parameters
        ----------
        images : numpy.ndarray
            One field (H, W, C) or a stack (N, H, W, C) of raw camera counts (the dtype of the
            images, e.g. uint16), channels in the order of :attr:`channels`; any H, W (area-resized).
        normalization : Normalization, optional
            Per-channel low/high; default the card's (for a card normalised per plate, the
            training set's values: fit a plate's own with :func:`mcnn_infer.preprocess.fit_normalization`).

        Returns
        -------
        numpy.ndarray
            float32 (N, height, width, C) in [0, 1], the card's input size.

        Raises
        ------
        ChannelMismatchError
            When C is not the card's number of channels.
        ImageReadError
            When the dtype's bit depth is not the card's (unless ``allow_bit_depth_mismatch``).
        """
        stack = np.asarray(images)
        if stack.ndim == 3:
            stack = stack[None]
        if stack.ndim != 4 or stack.shape[0] == 0:
            raise ConfigError(
                f"images of shape {np.shape(images)}; expected (H, W, C) or (N, H, W, C) raw fields"
            )
        if stack.shape[3] != len(self.channels):
            raise ChannelMismatchError(
                f"images have {stack.shape[3]} channels but model {self.card.model_name} expects "
                f"{len(self.channels)} ({', '.join(self.channels)}) on the last axis"
            )
        mismatch = bit_depth_mismatch(self.card, stack.dtype, "given as an array")
        if mismatch and not self.allow_bit_depth_mismatch:
            raise ImageReadError(
                mismatch.replace("--allow-bit-depth-mismatch", "allow_bit_depth_mismatch=True")
            )
        norm = normalization or self.card.normalization
        return np.stack([preprocess_field(field, norm, self.card.input.size) for field in stack])

    def predict(self, images: np.ndarray, normalization: Normalization | None = None) -> Prediction:
        """Run the model on raw fields (see :meth:`preprocess` for ``images`` and ``normalization``).

        Returns
        -------
        Prediction
            Logits, probabilities, log-odds (N, K) and embeddings (N, E), in input order.
        """
        from mcnn_infer.runtime import log_odds, softmax

        logits, embedding = self.engine.infer(self.preprocess(images, normalization))
        return Prediction(self.class_names, logits, softmax(logits), log_odds(logits), embedding)


def open_model(
    model: PathLike | None = None,
    *,
    backend: str = DEFAULT_BACKEND,
    precision: str = DEFAULT_PRECISION,
    batch_size: int | None = None,
    threads: int | None = None,
    allow_bit_depth_mismatch: bool = False,
) -> Model:
    """Open an exported model (checksums verified) to run it on numpy arrays.

    Parameters
    ----------
    model : path, optional
        Exported model folder (default ``$HCS_MODEL_DIR`` or the shipped ``mcnn-small-synth``).
    backend, precision : str
        As ``hcs score --backend / --precision``.
    batch_size, threads : int, optional
        Fields per inference request and inference threads (defaults as ``hcs score``).
    allow_bit_depth_mismatch : bool
        Accept images whose dtype's bit depth differs from the card's.

    Returns
    -------
    Model
        ``model.predict(images)`` -> :class:`Prediction`.

    Raises
    ------
    ModelCardError
        Missing card or format, checksum mismatch.
    ConfigError
        A backend/precision the model has no format for, or BF16 on a CPU without it.
    """
    from mcnn_infer.runtime import open_engine

    folder = Path(model) if model is not None else default_model_dir()
    card = load_card(folder)
    engine = open_engine(folder, backend, precision, batch_size, threads, card, hint="LATENCY")
    return Model(engine, allow_bit_depth_mismatch)
