"""When an acquisition in the inbox is complete.

A plate entry (a plate folder or an OME-Zarr store) is judged only when two snapshots in a row
are equal (nothing is being written). It is then complete when, first match wins:

1. no file has changed for ``quiet`` seconds (whatever else is true: also with a temp file left behind);
2. the instrument's end-of-plate marker is there (:data:`LAYOUT_MARKERS`, or a ``--marker`` name)
   and no file has a temporary name;
3. the expected number of fields has arrived (``--expect N`` per plate, or the wells the
   ``--metadata`` lists for the plate times ``--fields-per-well``) and no file has a temporary
   name. Not for OME-Zarr stores: their metadata lists every field before the pixels are written.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mcnn_infer.errors import HcsError
from mcnn_infer.plates import scan_plate
from mcnn_infer.plates.ome_zarr import OME_ZARR
from mcnn_infer.watch.snapshot import Snapshot

#: The file an instrument writes when a plate's acquisition or export is finished, per layout:
#: Harmony (Operetta / Opera Phenix) writes the measurement's index of all images next to them.
LAYOUT_MARKERS: dict[str, tuple[str, ...]] = {"harmony": ("Index.idx.xml", "Index.xml")}


@dataclass(frozen=True)
class Expectation:
    """How many fields make an entry complete.

    Attributes
    ----------
    fields : int or None
        ``--expect N``: fields per inbox entry (a field: all channels of one site, time point, plane).
    wells : mapping
        Plate name -> number of wells the metadata (plate map, BBBC021 CSV) lists for it.
    fields_per_well : int
        Fields the instrument acquires per well (with ``wells``).
    """

    fields: int | None = None
    wells: Mapping[str, int] = field(default_factory=dict)
    fields_per_well: int = 1

    @classmethod
    def from_treatments(
        cls, treatments: pd.DataFrame | None, fields_per_well: int = 1, fields: int | None = None
    ) -> Expectation:
        """From ``--expect`` and the treatment table of ``--metadata`` (one row per plate and well)."""
        wells = {} if treatments is None else treatments.groupby("plate")["well"].nunique().to_dict()
        return cls(fields, {str(k): int(v) for k, v in wells.items()}, fields_per_well)

    def expected(self, plates: Sequence[str]) -> int | None:
        """Fields expected for an entry holding ``plates`` (None when unknown)."""
        if self.fields is not None:
            return self.fields
        if plates and all(p in self.wells for p in plates):
            return sum(self.wells[p] for p in plates) * self.fields_per_well
        return None


@dataclass(frozen=True)
class ScanCount:
    """What the scanner finds in a stable entry: its layout, plates and complete fields (names only, no pixels)."""

    layout: str | None
    plates: tuple[str, ...]
    fields: int
    problem: str = ""


def count_fields(entry: Path, pattern: str | None = None) -> ScanCount:
    """Scan ``entry`` by file names (or OME-Zarr metadata) and count its complete fields.

    A plate that cannot be scanned yet (no complete field, no layout matched) counts 0 fields;
    ``problem`` says why.
    """
    try:
        scan = scan_plate(entry, pattern=pattern)
    except (HcsError, OSError) as exc:  # OSError: a file renamed or removed while scanned
        return ScanCount(None, (), 0, str(exc))
    return ScanCount(scan.layout, tuple(scan.plates), len(scan.fields))


def marker_found(snapshot: Snapshot, layout: str | None, markers: Sequence[str] = ()) -> str | None:
    """The end-of-plate marker present in ``snapshot`` (the layout's or a ``--marker`` glob), or None."""
    names = snapshot.names
    for name in LAYOUT_MARKERS.get(layout or "", ()):
        if name in names:
            return name
    for glob in markers:
        hits = sorted(n for n in names if fnmatch.fnmatchcase(n, glob))
        if hits:
            return hits[0]
    return None


def completion_reason(
    snapshot: Snapshot,
    quiet_for: float,
    quiet: float,
    count: ScanCount | None,
    expectation: Expectation,
    markers: Sequence[str] = (),
) -> str | None:
    """Why a stable entry is complete (one phrase for the log), or None while it is not.

    Parameters
    ----------
    snapshot : Snapshot
        The entry now (equal to the previous poll's).
    quiet_for : float
        Seconds since the entry last changed.
    quiet : float
        ``--quiet``: seconds without change after which an entry is complete.
    count : ScanCount or None
        The entry's scan (None when not scanned).
    expectation : Expectation
    markers : sequence of str
        ``--marker`` file-name globs.
    """
    if not snapshot.files:
        return None
    if quiet_for >= quiet:
        return f"no file changed for {quiet_for:.0f} s"
    if snapshot.temp:
        return None
    layout = count.layout if count is not None else None
    marker = marker_found(snapshot, layout, markers)
    if marker is not None:
        return f"end-of-plate marker {marker}"
    if count is None or layout == OME_ZARR:
        return None
    expected = expectation.expected(count.plates)
    if expected is not None and count.fields >= expected:
        return f"{count.fields} of {expected} expected fields"
    return None
