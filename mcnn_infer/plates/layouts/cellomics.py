"""Thermo Cellomics ArrayScan / CellInsight (HCS Studio) naming: ``<plate>_<well>f<field>d<channel>.TIF``.

Examples: ``MFGTMP_150819110001_A01f00d0.TIF`` (plate ``MFGTMP_150819110001``, well A01,
field 00, channel d0), ``AS_09125_050116030001_B02f12d3.tif``. As in Bio-Formats' Cellomics
reader:

- the plate is everything before the last ``_<well>``: the plate ID the instrument writes into
  every file name (instrument name + acquisition time stamp), so several plates exported into
  one folder stay apart; a name without that prefix (``A01f00d0.TIF``) takes the plate folder's
  name, like the other layouts;
- fields are numbered from 00 (two or three digits) and become 1-based sites (``f00`` is site 1);
- the channel is ``d<n>`` (``o<n>`` in older exports) numbered from 0; its key is kept as
  written (``d0``, ``d1``, ...) and channels are ordered by that number;
- some exports append a 32-hex-digit GUID (with or without dashes) before the extension.

Only TIFF exports are read: native ``.C01`` / ``.DIB`` files are not TIFFs (they are listed
as ignored); export TIFFs from HCS Studio or convert them with Bio-Formats' ``bfconvert``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mcnn_infer.plates.base import ChannelFile, Layout, plate_name_for
from mcnn_infer.wells import normalize_well

_HEX_GUID = r"(?:[0-9A-F]{32}|[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12})"
_NAME = re.compile(
    r"^(?:(?P<plate>.+)_)?(?P<well>[A-Z]{1,2}\d{2})f(?P<field>\d{2,3})(?P<kind>[do])(?P<channel>\d{1,2})"
    rf"(?P<guid>{_HEX_GUID})?\.tiff?$",
    re.IGNORECASE | re.ASCII,
)


class CellomicsLayout(Layout):
    name = "cellomics"
    detect_order = 40
    description = "Thermo Cellomics ArrayScan / CellInsight (HCS Studio)"
    example = "MFGTMP_150819110001_A01f00d0.TIF"
    pattern = _NAME

    def from_match(self, match: re.Match[str], path: Path, plate_root: Path) -> ChannelFile:
        return ChannelFile(
            plate=match.group("plate") or plate_name_for(path, plate_root),
            well=normalize_well(match.group("well"), source=str(path)),
            site=int(match.group("field")) + 1,
            channel=f"{match.group('kind').lower()}{int(match.group('channel'))}",
            path=path,
        )
