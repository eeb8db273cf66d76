"""``run.json``: the typed record of a scoring (or merge) run, read by resume, merge and analysis."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcnn_infer.errors import HcsError
from mcnn_infer.results.columns import RUN_FILE


class ResultsError(HcsError):
    """A results folder without a readable ``run.json`` where one is needed."""


@dataclass(frozen=True)
class RunRecord:
    """The contents of one ``run.json`` (schema: ARCHITECTURE.md "Scoring outputs").

    Attributes
    ----------
    path : Path
        The ``run.json`` file.
    data : dict
        Everything it holds; the properties below name the parts readers use.
    """

    path: Path
    data: dict[str, Any]

    @property
    def fingerprint(self) -> str | None:
        """Digest of the model, the result-affecting options, the shard and the field listing."""
        value = self.data.get("fingerprint")
        return value if isinstance(value, str) else None

    @property
    def model(self) -> dict[str, Any]:
        """Model summary: name, format, precision, compiled precision, class names, input, sha256."""
        return dict(self.data.get("model") or {})

    @property
    def class_names(self) -> list[str]:
        return list(self.model.get("class_names") or [])

    @property
    def plates(self) -> list[dict[str, Any]]:
        return list(self.data.get("plates") or [])

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.data.get("options") or {})

    @property
    def shard(self) -> dict[str, Any]:
        return dict(self.data.get("shard") or {})

    @property
    def normalization(self) -> Any:
        """Per-plate normalisation record (:func:`mcnn_infer.plate_normalization.from_record` reads it)."""
        return self.data.get("normalization")

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.data.get("counts") or {})


def read_run(folder: str | os.PathLike[str], expected: str = "a finished `hcs score` run") -> RunRecord:
    """Read ``folder/run.json``.

    Parameters
    ----------
    folder : path
        A results folder.
    expected : str
        What the folder should be, for the error message.

    Raises
    ------
    ResultsError
        If ``run.json`` is missing or is not a JSON object (naming the file and ``expected``).
    """
    file = Path(folder) / RUN_FILE
    if not file.is_file():
        raise ResultsError(f"{folder} has no {RUN_FILE} (expected the RESULTS_DIR of {expected})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{file} is not valid JSON ({exc}); expected the record of {expected}") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{file} holds a {type(data).__name__}; expected the record (an object) of {expected}")
    return RunRecord(file, data)


def read_run_if_present(folder: str | os.PathLike[str]) -> RunRecord | None:
    """``run.json`` of ``folder`` when it exists and is readable, else None (resume tolerates both)."""
    try:
        return read_run(folder)
    except ResultsError:
        return None
