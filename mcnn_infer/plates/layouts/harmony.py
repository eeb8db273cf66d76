"""Operetta / Opera Phenix (Harmony export) naming: ``r01c01f01p01-ch1sk1fk1fl1.tiff``.

``r``/``c`` are 1-based row/column numbers, ``f`` the field (site), ``p`` the z-plane,
``ch`` the channel and ``sk`` the time point. Harmony exports put images in an ``Images``
folder; the plate is named after the folder above it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mcnn_infer.plates.base import ChannelFile, Layout, plate_name_for
from mcnn_infer.wells import well_from_indices


class HarmonyLayout(Layout):
    name = "harmony"
    detect_order = 30
    description = "Operetta / Opera Phenix (Harmony export)"
    example = "r01c01f01p01-ch1sk1fk1fl1.tiff"
    pattern = re.compile(
        r"^r(?P<row>\d{1,3})c(?P<col>\d{1,3})f(?P<field>\d{1,4})p(?P<plane>\d{1,3})"
        r"-ch(?P<channel>\d{1,2})sk(?P<timepoint>\d{1,4})fk\d+fl\d+\.tiff?$",
        re.IGNORECASE | re.ASCII,
    )

    def from_match(self, match: re.Match[str], path: Path, plate_root: Path) -> ChannelFile | None:
        if int(match.group("row")) < 1 or int(match.group("col")) < 1:
            return None
        return ChannelFile(
            plate=plate_name_for(path, plate_root, skip=(r"(?i)images",)),
            well=well_from_indices(int(match.group("row")), int(match.group("col"))),
            site=int(match.group("field")),
            channel=f"ch{int(match.group('channel'))}",
            path=path,
            timepoint=int(match.group("timepoint")),
            plane=int(match.group("plane")),
        )
