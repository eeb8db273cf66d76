"""``export_run``: a training run folder -> a deployable model folder with a complete card.

The formats written are chosen from :data:`mcnn_infer.formats.FORMATS` (every ``always`` format
plus the ones asked for) and produced by the exporter registered for each name
(:mod:`mcnn_train.export.exporters`), in table order: later formats are built from earlier ones.
Everything is written to a staging folder next to the output and moved into place only when every
format converted and parity passed, so the output folder is either the previous one or a complete
new export.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from mcnn_infer.card import ModelCard, record_format, save_card
from mcnn_infer.cpu import require_native_bf16
from mcnn_infer.errors import ConfigError
from mcnn_infer.formats import FORMATS
from mcnn_infer.provenance import package_versions
from mcnn_train.export.calibration import plate_fields
from mcnn_train.export.context import (
    DEFAULT_CALIBRATION_FIELDS,
    DEFAULT_HOLDOUT_FIELDS,
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_OPSET,
    ExportContext,
    Int8Options,
)
from mcnn_train.export.embedded import embedded_card_json
from mcnn_train.export.errors import ExportError
from mcnn_train.export.exporters import exporters
from mcnn_train.export.feature_map import add_feature_map
from mcnn_train.export.parity import DEFAULT_FIELDS, check_parity
from mcnn_train.export.run_folder import open_run
from mcnn_train.export.tf_model import TFModel

_EXPORT_PACKAGES = ("tensorflow", "tf2onnx", "onnx", "openvino", "nncf", "onnxruntime")


def export_versions() -> dict[str, str]:
    """Versions of the packages that convert and check the model."""
    return package_versions(_EXPORT_PACKAGES)


def selected_formats(formats: Iterable[str] = ()) -> list[str]:
    """Names of the formats to write, in FORMATS order: every ``always`` format plus ``formats``.

    Raises
    ------
    ConfigError
        For a name that is not a format of the table.
    """
    wanted = list(formats)
    unknown = [name for name in wanted if name not in FORMATS]
    if unknown:
        raise ConfigError(f"export format {unknown[0]!r} is not known (expected some of {', '.join(FORMATS)})")
    wanted += [f.name for f in FORMATS.values() if f.always]
    return [name for name in FORMATS if name in wanted]


def export_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    formats: Iterable[str] = (),
    calibrate: str | os.PathLike[str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    calibration_fields: int = DEFAULT_CALIBRATION_FIELDS,
    holdout_fields: int = DEFAULT_HOLDOUT_FIELDS,
    parity_fields: int = DEFAULT_FIELDS,
    overwrite: bool = False,
    console: Console | None = None,
) -> Path:
    """Export the SavedModel of a training run to ONNX and OpenVINO IR with a model card.

    Parameters
    ----------
    run_dir : path
        Output of ``hcs train``: ``model/`` (SavedModel, signature ``image`` [N, H, W, C] float32 ->
        ``logits`` [N, K], ``embedding`` [N, E]) and ``card.json``.
    out_dir : path
        Model folder to write (``model.onnx``, ``openvino/``, optional ``openvino-fp16/``,
        ``openvino-int8/``, ``saved_model/``, and ``card.json``).
    formats : iterable of str
        Formats to write besides the ``always`` ones (``onnx``, ``openvino-fp32``): names of
        :data:`~mcnn_infer.formats.FORMATS`, e.g. ``openvino-int8`` (needs ``calibrate``),
        ``openvino-fp16`` (weights stored as FP16), ``openvino-bf16`` (BF16 compute of the FP32
        IR validated; needs ``calibrate`` and a CPU with native BF16), ``tensorflow`` (a copy of
        the SavedModel as ``saved_model/``).
    calibrate : path, optional
        Plate folder with the model's channels: calibration and held-out fields for INT8, and
        the fields of the parity check (random [0, 1] fields are used when not given).
    opset : int
        ONNX opset, >= 15.
    min_agreement : float
        Lowest accepted INT8-vs-FP32 and BF16-vs-FP32 top-1 agreement on held-out fields, in (0, 1].
    calibration_fields, holdout_fields : int
        Most fields used to calibrate INT8 and to check it.
    parity_fields : int
        Fields compared across TensorFlow, ONNX Runtime and OpenVINO.
    overwrite : bool
        Replace an existing, non-empty ``out_dir``.
    console : rich.console.Console, optional
        Where step messages go (default: stderr).

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ExportError
        Missing or malformed run folder, an existing output without ``overwrite``.
    ConfigError
        Inconsistent options (an unknown format, a format that needs ``calibrate`` without it,
        values out of range).
    ChannelMismatchError
        A calibration plate whose channels differ from the model's.
    ParityError, AgreementError
        Exported formats that disagree with TensorFlow / FP32 beyond the documented limits.
    """
    console = console or Console(stderr=True, highlight=False)
    names = selected_formats(formats)
    _check_options(names, calibrate, min_agreement, calibration_fields, holdout_fields, parity_fields)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ExportError(
            f"output folder {out} already exists and is not empty (pass --overwrite to replace it)"
        )
    run = open_run(run_dir)
    card = ModelCard.from_dict(run.card.to_dict(), source=f"card of {run.path}")
    card.formats, card.parity = {}, {}
    card.software = {**card.software, **export_versions()}
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    try:
        console.print(f"export {run.path} -> {out}", markup=False)
        fields = (
            None if calibrate is None else plate_fields(calibrate, card, calibration_fields, holdout_fields)
        )
        ctx = ExportContext(
            run=run,
            card=card,
            stage=stage,
            tf_model=_step(console, "load SavedModel", lambda: TFModel(run.saved_model, card)),
            embedded_card=embedded_card_json(card),
            opset=int(opset),
            plate_fields=fields,
        )
        _step(console, "activation maps: feature_map output, dense head", lambda: add_feature_map(ctx))
        if calibrate is not None:
            ctx.int8 = Int8Options(Path(calibrate), calibration_fields, holdout_fields, float(min_agreement))
        writers = exporters()
        for name in names:
            facts = _step(console, f"export {name}", lambda name=name: writers[name](ctx))
            _record(card, stage, name, facts)
        save_card(card, stage)
        card.parity = _step(console, "parity check", lambda: check_parity(ctx, parity_fields))
        save_card(card, stage)
        _swap_into_place(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _print_summary(console, card)
    return out


def _check_options(names, calibrate, min_agreement, calibration_fields, holdout_fields, parity_fields) -> None:
    for fmt in (FORMATS[name] for name in names):
        if fmt.needs_plate and calibrate is None:
            raise ConfigError(
                f"the {fmt.name} export needs fields of a plate like the ones you will score "
                f"(INT8 calibration, held-out fields of the agreement check): pass --calibrate PLATE_DIR "
                f"with --formats {fmt.name}"
            )
        if fmt.needs_native_bf16:
            require_native_bf16(f"hcs export --formats {fmt.name}")
    if not 0.0 < float(min_agreement) <= 1.0:
        raise ConfigError(f"min_agreement {min_agreement!r} is out of range (expected 0 < value <= 1)")
    for name, value in (
        ("calibration_fields", calibration_fields),
        ("holdout_fields", holdout_fields),
        ("parity_fields", parity_fields),
    ):
        if int(value) < 1:
            raise ConfigError(f"{name}={value!r} is out of range (expected an integer >= 1)")


def _step(console: Console, label: str, job: Callable[[], Any]) -> Any:
    console.print(f"  {label} ...", markup=False)
    start = time.perf_counter()
    result = job()
    console.print(f"  {label} done in {time.perf_counter() - start:.1f} s", markup=False)
    return result


def _record(card: ModelCard, stage: Path, name: str, facts: dict[str, Any]) -> None:
    """Add format ``name`` to the card; checksums of its files unless the exporter gave them."""
    facts = dict(facts)
    sums = facts.pop("sha256", None)
    if sums is None:
        record_format(card, stage, name, **facts)
    else:
        _record_folder(card, name, sums, facts)


def _record_folder(card: ModelCard, name: str, sums: dict[str, str], facts: dict[str, Any]) -> None:
    fmt = FORMATS[name]
    card.formats[name] = {
        "path": fmt.path,
        "runtime": fmt.runtime,
        "precision": fmt.precision,
        "sha256": sums,
        **facts,
    }


def _swap_into_place(stage: Path, out: Path) -> None:
    """Move the finished staging folder to ``out`` (replacing an old export only now)."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out)
    with contextlib.suppress(OSError):
        fd = os.open(out.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def _print_summary(console: Console, card: ModelCard) -> None:
    for name, result in card.parity.get("formats", {}).items():
        verdict = {True: "ok", False: "FAILED", None: "reported"}[result["passed"]]
        console.print(
            f"  parity {name}: max |dlogit| {result['max_abs_logit_diff']:.2e}, "
            f"top-1 agreement {result['top1_agreement']:.1%} ({verdict})",
            markup=False,
        )
