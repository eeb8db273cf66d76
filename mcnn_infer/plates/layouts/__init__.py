"""File-name layouts of instruments, one module each.

Every :class:`~mcnn_infer.plates.base.Layout` subclass defined in a module of this package is a
layout of :data:`LAYOUTS` (its ``--layout`` name, and tried by the detector in ``detect_order``):
a new instrument's naming is one file here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from mcnn_infer.plates.base import Layout


def _discover_layouts() -> dict[str, Layout]:
    """``name`` -> layout, from every module of this package, in ``detect_order`` (then name)."""
    found: list[type[Layout]] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Layout)
            and value.__module__ == module.__name__
            and not inspect.isabstract(value)
        ]
    return {cls.name: cls() for cls in sorted(found, key=lambda cls: (cls.detect_order, cls.name))}


#: File-name layouts by name, in the order the detector tries them.
LAYOUTS: dict[str, Layout] = _discover_layouts()
