"""MetaXpress / ImageXpress (and BBBC021) naming: ``<prefix>_<well>_s<site>_w<n><GUID>.tif``.

The prefix is optional (some BBBC021 files are named ``G10_s1_w1<GUID>.tif``).

Examples: ``Week1_150607_B02_s1_w1EB868A72-19FC-46BB-BDFA-66B8966A817C.tif`` (BBBC021),
``MyPlate_B02_s3_w2.TIF``; ``_thumb`` images are previews and are not fields; optional
``TimePoint_<t>`` sub-folders give the time point. The plate is the folder holding the files.
"""

from __future__ import annotations

import re
from pathlib import Path

from mcnn_infer.plates.base import ChannelFile, Layout, plate_name_for
from mcnn_infer.wells import normalize_well

_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_NAME = re.compile(
    rf"^(?:(?P<prefix>.+?)_)??(?P<well>[A-Za-z]{{1,2}}\d{{1,3}})(?:_s(?P<site>\d+))?_w(?P<channel>\d+)"
    rf"(?P<guid>{_GUID})?\.tiff?$",
    re.IGNORECASE | re.ASCII,
)
_THUMB = re.compile(r"_thumb", re.IGNORECASE | re.ASCII)
_TIMEPOINT = re.compile(r"^TimePoint_(\d+)$", re.IGNORECASE | re.ASCII)


class MetaXpressLayout(Layout):
    name = "metaxpress"
    detect_order = 10
    description = "MetaXpress / ImageXpress and BBBC021"
    example = "Week1_150607_B02_s1_w1EB868A72-19FC-46BB-BDFA-66B8966A817C.tif"
    pattern = _NAME

    def is_ignored(self, path: Path) -> str | None:
        """Reason a matching file is not a field image (thumbnails), or None."""
        return "thumbnail preview (not a field image)" if _THUMB.search(path.name) else None

    def from_match(self, match: re.Match[str], path: Path, plate_root: Path) -> ChannelFile | None:
        if _THUMB.search(path.name):
            return None
        timepoint = 1
        tp_match = _TIMEPOINT.match(path.parent.name)
        if tp_match:
            timepoint = int(tp_match.group(1))
        return ChannelFile(
            plate=plate_name_for(path, plate_root, skip=(r"(?i)TimePoint_\d+",)),
            well=normalize_well(match.group("well"), source=str(path)),
            site=int(match.group("site") or 1),
            channel=f"w{int(match.group('channel'))}",
            path=path,
            timepoint=timepoint,
        )
