"""The single table of export formats.

Export, the scorer's backend choice and the benchmarks all read :data:`FORMATS`;
nothing handles a format by position or by an if-chain. A row says what a format needs
(a calibration plate, native BF16), how the export checks it and which ``hcs export`` flag
names it; its exporter is registered under its name in :mod:`mcnn_train.export.exporters`
(``mcnn_infer`` never imports the training side). A new format or precision is its row here
plus its exporter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mcnn_infer.errors import ConfigError


@dataclass(frozen=True)
class ModelFormat:
    """One deployable form of a model.

    Attributes
    ----------
    name : str
        Key used in the model card and on the command line.
    path : str
        Main file, relative to the model folder.
    runtime : str
        ``openvino``, ``onnxruntime`` or ``tensorflow``.
    precision : str
        What ``hcs score --precision`` calls it: ``fp32``, ``fp16`` (weights stored as FP16,
        computed in f32), ``bf16`` (the FP32 IR computed in BF16) or ``int8`` (NNCF-quantized).
    scorer_backend : bool
        True if ``hcs score`` can run it (TensorFlow formats are for parity checks only).
    description : str
    inference_precision : str
        The floating-point precision the runtime is told to compute in (OpenVINO
        ``INFERENCE_PRECISION_HINT``: ``f32`` or ``bf16``; never left to the CPU's default).
        INT8 formats compute their quantized layers in int8 and the rest in this precision.
    check : str
        How the export checks it (:data:`CHECKS`): ``parity`` (held to the FP32 tolerance
        against TensorFlow), ``agreement`` (top-1 agreement with the FP32 IR on held-out fields
        of the calibration plate, at least ``--min-agreement``; reported in parity too),
        ``reported`` (parity figures reported, not judged: FP16 weights) or ``reference``
        (TensorFlow itself).
    needs_plate : bool
        True if the export needs a calibration plate (``--calibrate``) for it: INT8 calibrates
        on it, and every ``agreement`` check runs on its held-out fields.
    always : bool
        True if every export writes it (the ones the reduced precisions are built from).
    flag : str or None
        The ``hcs export`` flag that adds it (an alias of ``--formats NAME``), e.g. ``int8``.
    """

    name: str
    path: str
    runtime: str
    precision: str
    scorer_backend: bool
    description: str
    inference_precision: str = "f32"
    check: str = "parity"
    needs_plate: bool = False
    always: bool = False
    flag: str | None = None

    @property
    def validated(self) -> bool:
        """True if the export checks this format's top-1 agreement with FP32 on held-out fields
        (reduced precisions); the card lists it only after that check passed."""
        return self.check == "agreement"

    @property
    def needs_native_bf16(self) -> bool:
        """True if only a CPU with native BF16 computes it (its inference precision is BF16)."""
        return self.inference_precision == "bf16"


#: How the export checks a format (:attr:`ModelFormat.check`).
CHECKS = ("reference", "parity", "agreement", "reported")

FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat(
            "tensorflow", "saved_model", "tensorflow", "fp32", False, "TensorFlow SavedModel (training side)",
            check="reference", flag="saved-model",
        ),
        ModelFormat("onnx", "model.onnx", "onnxruntime", "fp32", True, "ONNX via tf2onnx", always=True),
        ModelFormat(
            "openvino-fp32", "openvino/model.xml", "openvino", "fp32", True, "OpenVINO IR, FP32 weights",
            always=True,
        ),
        ModelFormat(
            "openvino-bf16",
            "openvino/model.xml",
            "openvino",
            "bf16",
            True,
            "the FP32 OpenVINO IR computed in BF16 (CPUs with native BF16)",
            inference_precision="bf16",
            check="agreement",
            needs_plate=True,
            flag="bf16",
        ),
        ModelFormat(
            "openvino-fp16", "openvino-fp16/model.xml", "openvino", "fp16", True, "OpenVINO IR, FP16 weights",
            check="reported", flag="fp16",
        ),
        ModelFormat(
            "openvino-int8",
            "openvino-int8/model.xml",
            "openvino",
            "int8",
            True,
            "OpenVINO IR, NNCF INT8",
            check="agreement",
            needs_plate=True,
            flag="int8",
        ),
    )
}

#: The scorer's runtime unless ``--backend`` says otherwise (asynchronous requests, THROUGHPUT hint).
DEFAULT_BACKEND = "openvino"
#: The scorer's precision unless ``--precision`` says otherwise (every export has it).
DEFAULT_PRECISION = "fp32"
#: Runtimes ``hcs score --backend`` accepts: the default first, then the others in table order.
BACKENDS = tuple(
    dict.fromkeys([DEFAULT_BACKEND, *(f.runtime for f in FORMATS.values() if f.scorer_backend)])
)
#: Precisions ``hcs score --precision`` accepts besides ``auto``, in table order.
PRECISIONS = tuple(dict.fromkeys(f.precision for f in FORMATS.values() if f.scorer_backend))
AUTO = "auto"
#: ``--precision auto`` tries these fastest first; FP16 weights compute in f32 on CPUs, so never faster.
AUTO_ORDER = ("int8", "bf16", "fp32")


def weight_files(fmt: ModelFormat, model_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Files (relative to the model folder) that make up ``fmt``; the card records their sha256.

    A folder format (the SavedModel) is every file below its folder, so ``model_dir`` is needed.
    """
    if fmt.path.endswith(".xml"):
        return [fmt.path, fmt.path[: -len(".xml")] + ".bin"]
    if Path(fmt.path).suffix:
        return [fmt.path]
    if model_dir is None:
        raise ConfigError(f"format {fmt.name} is a folder ({fmt.path}); its files depend on the model folder")
    root = Path(model_dir)
    return sorted(p.relative_to(root).as_posix() for p in (root / fmt.path).rglob("*") if p.is_file())


def select_format(backend: str, precision: str, available: list[str] | None = None) -> ModelFormat:
    """The format that a scorer backend runs at a precision.

    Raises
    ------
    ConfigError
        If no format fits, or it is not among ``available`` (the formats a model card lists).
    """
    matches = [
        f for f in FORMATS.values() if f.scorer_backend and f.runtime == backend and f.precision == precision
    ]
    if not matches:
        combos = sorted({f"{f.runtime}/{f.precision}" for f in FORMATS.values() if f.scorer_backend})
        raise ConfigError(
            f"no model format for backend {backend!r} at precision {precision!r} (expected one of {combos})"
        )
    fmt = matches[0]
    if available is not None and fmt.name not in available:
        raise ConfigError(
            f"this model has no {fmt.name} export (it has {', '.join(available) or 'none'}); "
            f"export it with `hcs export` or choose another --backend/--precision"
        )
    return fmt
