"""`hcs plates`: scan several paths and collect their summaries and problems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from mcnn_infer.plates.scan import PROBLEM_COLUMNS, scan_plate
from mcnn_infer.plates.summary import PlateSummary, summarize


@dataclass
class PlatesReport:
    """Summaries of every plate found, and every problem (``plate, well, site, path, problem``)."""

    summaries: list[PlateSummary]
    problems: pd.DataFrame


def inspect_plates(
    paths: Sequence[str], layout: str | None = None, root: str | None = None, pattern: str | None = None
) -> PlatesReport:
    """Scan each path (plate folder or manifest) and summarise its plates.

    ``layout``, ``root`` and ``pattern`` are passed to :func:`mcnn_infer.plates.scan_plate`.
    """
    summaries: list[PlateSummary] = []
    problems = [pd.DataFrame(columns=PROBLEM_COLUMNS)]
    for path in paths:
        scan = scan_plate(path, layout=layout, root=root, pattern=pattern)
        summaries.extend(summarize(scan))
        problems.append(scan.problems)
    frames = [p for p in problems if len(p)]
    return PlatesReport(summaries, pd.concat(frames, ignore_index=True) if frames else problems[0])
