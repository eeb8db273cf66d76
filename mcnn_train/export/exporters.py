"""The exporter of each format of :data:`mcnn_infer.formats.FORMATS`, keyed by the format's name.

An exporter takes the :class:`~mcnn_train.export.context.ExportContext`, writes its format's files
into the staging folder and returns the facts recorded in the card (``sha256`` is added from the
files unless given). It registers itself with ``@exporter("<format name>")`` in any module of
this package; :func:`exporters` imports them all (they import TensorFlow, tf2onnx, OpenVINO and
NNCF only when run). So a new format or precision is its row in ``FORMATS`` and its exporter.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcnn_infer.formats import FORMATS
from mcnn_train.export.errors import ExportError

if TYPE_CHECKING:
    from mcnn_train.export.context import ExportContext

Exporter = Callable[["ExportContext"], dict[str, Any]]

_REGISTERED: dict[str, Exporter] = {}


def exporter(name: str) -> Callable[[Exporter], Exporter]:
    """Register the decorated function as the exporter of format ``name`` (a key of FORMATS).

    Raises
    ------
    ExportError
        If ``name`` is not a format of the table or already has an exporter.
    """

    def register(function: Exporter) -> Exporter:
        if name not in FORMATS:
            raise ExportError(
                f"exporter {function.__module__}.{function.__name__} is for format {name!r}, "
                f"which is not in FORMATS (expected one of {', '.join(FORMATS)})"
            )
        known = _REGISTERED.get(name)
        if known is not None and known is not function:
            raise ExportError(
                f"format {name!r} has two exporters: {known.__module__}.{known.__name__} and "
                f"{function.__module__}.{function.__name__} (expected one)"
            )
        _REGISTERED[name] = function
        return function

    return register


def exporters() -> dict[str, Exporter]:
    """Format name -> exporter, in FORMATS order, from every module of :mod:`mcnn_train.export`."""
    package = __name__.rsplit(".", 1)[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{info.name}")
    return {name: _REGISTERED[name] for name in FORMATS if name in _REGISTERED}
