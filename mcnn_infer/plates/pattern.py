"""A layout from a user-given file-name pattern (``--pattern REGEX``), for instruments without a layout.

The pattern is a Python regular expression matched with :func:`re.fullmatch` against each
TIFF file's name (not its folder), case-sensitively unless it starts with ``(?i)``. Named groups
say what the name holds:

- ``well`` (``B02``, ``b2``), or ``row`` (letters ``B``, or a 1-based number ``2``) and ``col``
  (a number): required;
- ``channel``: required; its text is the channel key (``path_<key>`` in the field table),
  channels are ordered by the number in the key (then alphabetically);
- ``site``: optional, 1-based (default 1); ``site0`` instead for 0-based numbering
  (``f00`` is site 1);
- ``timepoint`` / ``timepoint0`` and ``plane`` / ``plane0``: optional, same rule (default 1);
- ``plate``: optional; without it (or when it matches nothing) the plate is the folder name,
  as for the built-in layouts.

Any other named group is an error (a typo would otherwise be ignored silently); use ``(?:...)``
or unnamed groups for the rest of the name. Example (Yokogawa CellVoyager CV7000/CV8000:
``Plate1_B02_T0001F001L01A01Z01C01.tif``)::

    (?P<plate>.+)_(?P<well>[A-P]\\d{2})_T(?P<timepoint>\\d{4})F(?P<site>\\d{3})L\\d{2}A\\d{2}Z(?P<plane>\\d{2})(?P<channel>C\\d{2})\\.tif
"""

from __future__ import annotations

import re
from pathlib import Path

from mcnn_infer.errors import LayoutError, PlateError
from mcnn_infer.plates.base import ChannelFile, Layout, plate_name_for
from mcnn_infer.wells import normalize_well, row_label

#: Name of the layout a ``--pattern`` gives (``PlateScan.layout``).
PATTERN = "pattern"
#: Numbered parts of a name: 1-based under their own name, 0-based under ``<name>0``.
NUMBERED = ("site", "timepoint", "plane")
KNOWN_GROUPS = frozenset({"plate", "well", "row", "col", "channel", *NUMBERED, *(f"{n}0" for n in NUMBERED)})
EXPECTED = (
    "a Python regular expression matched against the whole file name, with named groups well (or row and "
    "col) and channel, optionally site (1-based) or site0 (0-based), timepoint/timepoint0, plane/plane0 "
    "and plate, e.g. '(?P<well>[A-P]\\d{2})_s(?P<site>\\d+)_(?P<channel>w\\d)\\.tif'"
)


class PatternLayout(Layout):
    """The layout a ``--pattern`` regular expression describes (see the module docstring).

    Parameters
    ----------
    text : str
        The regular expression.

    Raises
    ------
    LayoutError
        When the pattern does not compile, lacks the required groups (``well`` or ``row`` and
        ``col``; ``channel``), names a group this layout does not know, or gives a number both
        1-based and 0-based (``site`` and ``site0``).
    """

    name = PATTERN
    description = "user-given file-name pattern (--pattern)"

    def __init__(self, text: str) -> None:
        self.text = text
        self.pattern = compile_pattern(text)
        self.example = f"a name matching --pattern {text!r}"

    def parse(self, path: Path, plate_root: Path) -> ChannelFile | None:
        """Parse one file name with :func:`re.fullmatch`; None if it does not match."""
        match = self.pattern.fullmatch(path.name)
        return None if match is None else self.from_match(match, path, plate_root)

    def from_match(self, match: re.Match[str], path: Path, plate_root: Path) -> ChannelFile:
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        channel = groups.get("channel", "")
        if not channel:
            raise PlateError(f"--pattern matched an empty channel in {path.name} (expected a channel key)")
        numbers = {name: self._number(groups, name, path) for name in NUMBERED}
        return ChannelFile(
            plate=groups.get("plate") or plate_name_for(path, plate_root),
            well=self._well(groups, path),
            site=numbers["site"],
            channel=channel,
            path=path,
            timepoint=numbers["timepoint"],
            plane=numbers["plane"],
        )

    @staticmethod
    def _well(groups: dict[str, str], path: Path) -> str:
        if "well" in groups:
            return normalize_well(groups["well"], source=str(path))
        row, col = groups.get("row", ""), groups.get("col", "")
        if _digits(row):
            if int(row) < 1:
                raise PlateError(
                    f"row {row!r} in {path.name} is not a 1-based row number (expected 1 for row A)"
                )
            row = row_label(int(row))
        if not _digits(col):
            raise PlateError(f"column {col!r} in {path.name} is not a number (expected e.g. 2 or 02)")
        return normalize_well(f"{row}{col}", source=str(path))

    @staticmethod
    def _number(groups: dict[str, str], name: str, path: Path) -> int:
        base, text = (0, groups[f"{name}0"]) if f"{name}0" in groups else (1, groups.get(name))
        if text is None:
            return 1
        if not _digits(text):
            raise PlateError(f"{name} {text!r} in {path.name} is not a number (expected digits)")
        value = int(text) + 1 - base
        if value < 1:
            raise PlateError(
                f"{name} {text} in {path.name} is below 1 (expected 1-based numbers; name the group "
                f"(?P<{name}0>...) if the instrument counts from 0)"
            )
        return value


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def compile_pattern(text: str) -> re.Pattern[str]:
    """Compile and check a ``--pattern``; see :class:`PatternLayout` for what raises :class:`LayoutError`."""
    try:
        compiled = re.compile(text)
    except (re.error, TypeError) as exc:
        raise LayoutError(f"--pattern {text!r} does not compile ({exc}); expected {EXPECTED}") from None
    groups = set(compiled.groupindex)
    problems = []
    unknown = sorted(groups - KNOWN_GROUPS)
    if unknown:
        problems.append(f"unknown group(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_GROUPS))})")
    if "well" not in groups and not {"row", "col"} <= groups:
        problems.append("no well group (and not both row and col)")
    if "well" in groups and groups & {"row", "col"}:
        problems.append("both well and row/col groups")
    if "channel" not in groups:
        problems.append("no channel group")
    problems += [f"both {n} and {n}0 groups" for n in NUMBERED if {n, f"{n}0"} <= groups]
    if problems:
        raise LayoutError(f"--pattern {text!r} has {'; '.join(problems)}; expected {EXPECTED}")
    return compiled
