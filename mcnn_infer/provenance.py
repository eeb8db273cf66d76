"""Versions of the software that produced a result: one collector for cards, exports and run.json."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Iterable

#: Packages whose distribution has another name (the CPU-only TensorFlow wheel is ``tensorflow-cpu``).
DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "opencv": ("opencv-python-headless", "opencv-python"),
}
NOT_INSTALLED = "not installed"


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` of installed distributions (``not installed`` otherwise), plus ``python``.

    Nothing is imported: versions come from the installed distributions' metadata.
    """
    versions = {"python": platform.python_version()}
    for name in names:
        versions[name] = NOT_INSTALLED
        for distribution in DISTRIBUTIONS.get(name, (name,)):
            try:
                versions[name] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions
