"""What a plate layout is: a file-name parser that yields one record per channel image."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from pathlib import Path

from mcnn_infer.errors import PlateError

#: Largest site, time point or plane number accepted from a file name.
MAX_INDEX = 1_000_000


@dataclass(frozen=True)
class ChannelFile:
    """One channel image of one field, as parsed from its file name (or a manifest row).

    Attributes
    ----------
    plate : str
        Plate name (usually the plate folder name).
    well : str
        Normalised well name, e.g. ``B02``.
    site : int
        Field (site) number within the well, 1-based.
    channel : str
        Channel key as the instrument names it (``w1``, ``Channel2``, ``ch1``).
    path : Path
        Absolute path of the image file.
    timepoint, plane : int
        1-based time point and z-plane (1 when the instrument has none).
    """

    plate: str
    well: str
    site: int
    channel: str
    path: Path
    timepoint: int = 1
    plane: int = 1

    def __post_init__(self) -> None:
        for name in ("site", "timepoint", "plane"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_INDEX:
                raise PlateError(
                    f"{name} {value} in {self.path.name} is out of range (expected 1 to {MAX_INDEX})"
                )

    @property
    def field_key(self) -> tuple[str, str, int, int, int]:
        return (self.plate, self.well, self.site, self.timepoint, self.plane)


def numeric_channel_order(channels: set[str]) -> list[str]:
    """Sort channel keys by the number in them (``w1, w2, w4``; ``ch1, ch2, ch10``)."""

    def key(name: str) -> tuple[int, str]:
        digits = re.findall(r"\d+", name)
        return (int(digits[-1]) if digits else 0, name)

    return sorted(channels, key=key)


class Layout(abc.ABC):
    """A folder layout: how an instrument names its per-channel image files.

    A new layout is a module of :mod:`mcnn_infer.plates.layouts` with a subclass of this: it sets
    the class attributes (``pattern`` matches a whole file name) and implements :meth:`from_match`;
    :meth:`is_ignored`, :meth:`channel_order` and ``detect_order`` have defaults. Every such
    subclass is found and listed in :data:`mcnn_infer.plates.scan.LAYOUTS`.
    """

    #: Key on the command line (``--layout``) and in ``hcs plates`` output.
    name: str
    description: str
    example: str
    #: Where the detector tries this layout among the others (lower first; a tie of matching
    #: files goes to the layout tried first).
    detect_order: int = 100
    #: Regular expression of this instrument's file names (``re.match`` on the name).
    pattern: re.Pattern[str]

    def parse(self, path: Path, plate_root: Path) -> ChannelFile | None:
        """Parse one file; return None if its name does not follow this layout."""
        match = self.pattern.match(path.name)
        return None if match is None else self.from_match(match, path, plate_root)

    @abc.abstractmethod
    def from_match(self, match: re.Match[str], path: Path, plate_root: Path) -> ChannelFile | None:
        """The channel image a matching file name describes (None if the match is not a field image)."""

    def is_ignored(self, path: Path) -> str | None:
        """Why a file of this instrument is not a field image (e.g. a thumbnail), or None."""
        return None

    def channel_order(self, channels: set[str]) -> list[str]:
        """Declared channel order for the channel keys found on a plate (default: by their number)."""
        return numeric_channel_order(channels)


def plate_name_for(path: Path, plate_root: Path, skip: tuple[str, ...] = ()) -> str:
    """Plate name of a file: its folder name, skipping instrument sub-folders.

    ``skip`` lists folder-name patterns (regular expressions) that are not plates, such as
    ``TimePoint_1`` or ``Images``; the first parent folder not matching them names the plate.
    When the file sits directly in ``plate_root`` the root's own name is used.
    """
    folder = path.parent
    while folder != plate_root and any(re.fullmatch(p, folder.name) for p in skip):
        folder = folder.parent
    return folder.name or plate_root.resolve().name
