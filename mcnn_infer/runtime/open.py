"""The one way to open a model: verify its files, pick the format, compile it with explicit settings.

Scoring, export parity, the INT8 / BF16 agreement checks, the tests and every benchmark open
models through :func:`open_engine` (or :func:`compile_engine` for a format the card does not
list yet), so a compile setting cannot differ between the check and the production run.
:data:`ENGINES` maps a format's runtime (:data:`mcnn_infer.formats.FORMATS`) to its engine class,
collected from the ``*_engine.py`` modules of this package: a new inference backend is one file
``mcnn_infer/runtime/<name>_engine.py`` (an :class:`Engine` subclass with ``runtime = "<name>"``)
and its rows in ``FORMATS``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

from mcnn_infer.card import ModelCard, load_card, verify_files
from mcnn_infer.cpu import fast_bf16, native_bf16, native_int8, require_native_bf16
from mcnn_infer.errors import ConfigError, ModelCardError
from mcnn_infer.formats import (
    AUTO,
    AUTO_ORDER,
    DEFAULT_BACKEND,
    DEFAULT_PRECISION,
    ModelFormat,
    select_format,
)
from mcnn_infer.runtime.base import Engine


def _discover_engines() -> dict[str, type[Engine]]:
    """``runtime`` -> engine class, from every ``*_engine`` module of this package (runtimes import lazily)."""
    package = __name__.rsplit(".", 1)[0]
    found: dict[str, type[Engine]] = {}
    for info in sorted(pkgutil.iter_modules(importlib.import_module(package).__path__), key=lambda i: i.name):
        if not info.name.endswith("_engine"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Engine) and value.__module__ == module.__name__:
                found[value.runtime] = value
    return found


#: ``ModelFormat.runtime`` -> engine class.
ENGINES: dict[str, type[Engine]] = _discover_engines()

#: Bytes of preprocessed float32 input one inference request may hold (see :func:`choose_batch_size`).
REQUEST_INPUT_BUDGET = 32 * 2**20
MAX_BATCH = 32


def choose_batch_size(height: int, width: int, channels: int) -> int:
    """Fields per inference request, from the model's input size.

    Rule: as many fields as fit in :data:`REQUEST_INPUT_BUDGET` (32 MiB of float32 input per
    request), at most :data:`MAX_BATCH`, at least 1. The THROUGHPUT hint already runs one
    request per CPU stream, so batching only has to amortise per-request overhead; with at most
    ``2 x requests`` batches in flight memory stays bounded whatever the plate size.
    224x224x3 gives 32; BBBC021 at full size (1024x1280x3, 15 MiB per field) gives 2.
    """
    per_field = int(height) * int(width) * int(channels) * 4
    return int(max(1, min(MAX_BATCH, REQUEST_INPUT_BUDGET // per_field)))


def resolve_precision(card: ModelCard, backend: str, precision: str) -> tuple[str, str]:
    """The precision to run and why: ``precision`` itself, or for ``auto`` the fastest usable one.

    ``auto`` takes the first of :data:`mcnn_infer.formats.AUTO_ORDER` (int8, bf16, fp32) whose
    format the card lists (a reduced precision is only listed after it passed its agreement
    check at export) and that this CPU computes natively and fast (INT8: VNNI or AMX; BF16:
    :func:`mcnn_infer.cpu.fast_bf16`, i.e. AMX, or AVX-512 BF16 on AMD; native but slower BF16,
    Intel AVX-512 BF16 without AMX, is skipped).

    Returns
    -------
    (str, str)
        The precision and a one-line reason.
    """
    if precision != AUTO:
        return precision, "requested"
    native = {"int8": native_int8(), "bf16": native_bf16(), "fp32": True}
    fast = {"int8": True, "bf16": fast_bf16(), "fp32": True}
    passed_over = []
    for candidate in AUTO_ORDER:
        try:
            fmt = select_format(backend, candidate, list(card.formats))
        except ConfigError:
            passed_over.append(f"{candidate}: not validated in the card")
            continue
        if fmt.validated and "accuracy_check" not in card.formats[fmt.name]:
            passed_over.append(f"{candidate}: the card has no accuracy check of it")
            continue
        if not native[candidate]:
            passed_over.append(f"{candidate}: no native support on this CPU")
            continue
        if not fast[candidate]:
            passed_over.append(f"{candidate}: slower than fp32 on this CPU (AVX-512 BF16 without AMX)")
            continue
        why = f"auto: fastest precision validated by the card and native here ({fmt.name})"
        return candidate, why + (f"; skipped {', '.join(passed_over)}" if passed_over else "")
    raise ConfigError(
        f"--precision auto found no usable format for backend {backend!r} in model {card.model_name} "
        f"({'; '.join(passed_over)}); expected at least an fp32 export"
    )


def compile_engine(
    card: ModelCard,
    fmt: ModelFormat,
    main_file: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    batch_size: int | None = None,
    threads: int | None = None,
    hint: str = "THROUGHPUT",
    streams: int | None = None,
    profile: bool = False,
) -> Engine:
    """Compile an already verified file as format ``fmt`` (the export's checks use this before the
    card lists the format; everything else calls :func:`open_engine`).

    Raises
    ------
    ConfigError
        BF16 on a CPU without native BF16, or a runtime that compiled another precision.
    ModelCardError
        A model file the runtime cannot load.
    """
    if fmt.inference_precision == "bf16":
        require_native_bf16(f"precision bf16 (format {fmt.name})")
    size = batch_size or choose_batch_size(card.input.height, card.input.width, len(card.input.channels))
    try:
        engine = ENGINES[fmt.runtime](
            card, fmt, Path(main_file), Path(model_dir), size, threads, hint, streams, profile
        )
    except (ModelCardError, ConfigError):
        raise
    except Exception as exc:
        raise ModelCardError(f"model file {main_file} could not be loaded by {fmt.runtime} ({exc})") from exc
    engine.settings_from = {
        "batch_size": "requested"
        if batch_size
        else "input size: 32 MiB of float32 input per request, at most 32",
        "streams": "requested" if streams else f"the runtime's {hint} hint",
        "hint": hint,
    }
    return engine


def open_engine(
    model_dir: str | os.PathLike[str],
    backend: str = DEFAULT_BACKEND,
    precision: str = DEFAULT_PRECISION,
    batch_size: int | None = None,
    threads: int | None = None,
    card: ModelCard | None = None,
    hint: str = "THROUGHPUT",
    streams: int | None = None,
    profile: bool = False,
) -> Engine:
    """Verify a model's checksums and compile it for batched CPU inference.

    Parameters
    ----------
    model_dir : path
        Exported model folder with ``card.json``.
    backend : {'openvino', 'onnxruntime'}
        A runtime of :data:`mcnn_infer.formats.FORMATS`.
    precision : {'auto', 'fp32', 'bf16', 'fp16', 'int8'}
        ``auto``: see :func:`resolve_precision`; the choice is in ``engine.precision_reason``.
    batch_size : int, optional
        Fields per request (default: :func:`choose_batch_size`).
    threads : int, optional
        Inference threads (default: the runtime's choice).
    card : ModelCard, optional
        The folder's card when already loaded.
    hint : {'THROUGHPUT', 'LATENCY'}
        OpenVINO performance hint.
    streams : int, optional
        OpenVINO CPU streams (default: the hint's choice; benchmarks/engine_settings.py sweeps them).
    profile : bool
        OpenVINO only: compile with per-layer profiling (``PERF_COUNT``) and keep every finished
        request's per-layer times (:meth:`OpenVinoEngine.take_profiles`); off for scoring (it slows
        inference), on for ``benchmarks/layer_efficiency.py``.

    Raises
    ------
    ModelCardError
        Missing card or format, checksum mismatch, or a model the runtime cannot load.
    ConfigError
        Backend/precision without a format in this model, or BF16 on a CPU without it.
    """
    model_dir = Path(model_dir)
    card = card or load_card(model_dir)
    chosen, reason = resolve_precision(card, backend, precision)
    fmt = select_format(backend, chosen, list(card.formats))
    main_file = verify_files(card, model_dir, fmt.name)
    engine = compile_engine(card, fmt, main_file, model_dir, batch_size, threads, hint, streams, profile)
    engine.precision_reason = reason
    return engine
