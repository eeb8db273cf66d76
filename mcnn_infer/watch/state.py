"""What ``hcs watch`` has done, in ``RESULTS/watch-state.json`` (written atomically after every change).

One record per inbox entry: ``status`` (``waiting``: seen, not complete; ``scoring`` and
``analysing``: complete, in progress; ``done``; ``failed``), the snapshot ``signature`` and the
wall-clock time ``since`` it last changed (so the quiet time counts across restarts and ``--once``
runs from cron), why it was complete, the results folder, counts and the error of a failure.
A restart skips ``done`` entries, resumes ``scoring`` / ``analysing`` ones (the scorer resumes from
its result parts) and retries a ``failed`` entry only when its files changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcnn_infer.atomic import write_json
from mcnn_infer.errors import ConfigError

STATE_FILE = "watch-state.json"
STATE_VERSION = 1
WAITING, SCORING, ANALYSING, DONE, FAILED = "waiting", "scoring", "analysing", "done", "failed"
IN_PROGRESS = (SCORING, ANALYSING)


class WatchState:
    """The state file of one results folder.

    Parameters
    ----------
    out_dir : Path
        The watcher's RESULTS folder.

    Raises
    ------
    ConfigError
        When the file exists but is not a state file of this version.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / STATE_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") != STATE_VERSION or not isinstance(data.get("entries"), dict):
                    raise ValueError(f"version {data.get('version')!r}")
            except (ValueError, AttributeError) as exc:
                raise ConfigError(
                    f"{self.path} is not a watch state file ({exc}); expected the JSON hcs watch writes "
                    f"(version {STATE_VERSION}): move it away to start afresh"
                ) from None
            self.entries = data["entries"]

    def get(self, name: str) -> dict[str, Any]:
        """The record of entry ``name`` (empty when never seen)."""
        return self.entries.get(name, {})

    def status(self, name: str) -> str | None:
        return self.entries.get(name, {}).get("status")

    def update(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change entry ``name``'s record and write the file atomically; return the record."""
        record = {**self.entries.get(name, {}), **changes}
        self.entries[name] = record
        self.save()
        return record

    def remove(self, name: str) -> None:
        """Forget entry ``name`` (it left the inbox) and write the file."""
        if self.entries.pop(name, None) is not None:
            self.save()

    def save(self) -> None:
        write_json(self.path, {"version": STATE_VERSION, "entries": self.entries})
