"""``hcs watch``: score plates in an inbox folder as the instrument finishes them.

``snapshot.py`` (what is on disk, temp names), ``completion.py`` (when a plate is complete),
``state.py`` (what was done, atomically on disk), ``watcher.py`` (the poll loop: score, analyse,
report each complete plate once).
"""

from mcnn_infer.watch.completion import LAYOUT_MARKERS, Expectation
from mcnn_infer.watch.snapshot import Snapshot, is_temp_name, take_snapshot
from mcnn_infer.watch.state import STATE_FILE, WatchState
from mcnn_infer.watch.watcher import Watcher, WatchSettings, WatchSummary, watch

__all__ = [
    "LAYOUT_MARKERS",
    "STATE_FILE",
    "Expectation",
    "Snapshot",
    "WatchSettings",
    "WatchState",
    "WatchSummary",
    "Watcher",
    "is_temp_name",
    "take_snapshot",
    "watch",
]
