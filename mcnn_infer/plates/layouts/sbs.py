"""CellProfiler example / SBS naming: ``Channel<c>-<NN>-<Row>-<Col>.tif``.

Example: ``Channel2-01-A-01.tif`` (channel 2, image 01, well A01); one field per well.
"""

from __future__ import annotations

import re
from pathlib import Path

from mcnn_infer.plates.base import ChannelFile, Layout, plate_name_for
from mcnn_infer.wells import normalize_well


class SbsLayout(Layout):
    name = "sbs"
    detect_order = 20
    description = "CellProfiler example / SBS (BBBC013-style)"
    example = "Channel1-01-A-01.tif"
    pattern = re.compile(
        r"^Channel(?P<channel>\d+)-(?P<index>\d+)-(?P<row>[A-Za-z]{1,2})-(?P<col>\d{1,3})\.tiff?$",
        re.IGNORECASE | re.ASCII,
    )

    def from_match(self, match: re.Match[str], path: Path, plate_root: Path) -> ChannelFile:
        return ChannelFile(
            plate=plate_name_for(path, plate_root),
            well=normalize_well(f"{match.group('row')}{match.group('col')}", source=str(path)),
            site=1,
            channel=f"Channel{int(match.group('channel'))}",
            path=path,
        )
