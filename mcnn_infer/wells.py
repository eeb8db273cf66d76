"""Well names: parse and normalise ``B2`` / ``b02`` / (row 2, col 2) to ``B02``.

Rows are letters (A..P for 384-well, A..Z then AA..AF for 1536-well plates), columns
are 1-based integers printed with at least two digits.
"""

from __future__ import annotations

import re

from mcnn_infer.errors import PlateError

_WELL_RE = re.compile(r"^\s*([A-Za-z]{1,2})\s*0*(\d{1,3})\s*$", re.ASCII)

# Plate formats: wells -> (rows, columns)
PLATE_SHAPES: dict[int, tuple[int, int]] = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}


def row_index(row: str) -> int:
    """1-based index of a row label (``A`` -> 1, ``Z`` -> 26, ``AA`` -> 27)."""
    row = row.upper()
    index = 0
    for char in row:
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index


def row_label(index: int) -> str:
    """Row label for a 1-based row index (1 -> ``A``, 27 -> ``AA``)."""
    if index < 1:
        raise PlateError(f"row index {index} is not a positive number (expected 1 for row A)")
    label = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        label = chr(ord("A") + rem) + label
    return label


def normalize_well(well: str, source: str = "") -> str:
    """Return the well name as row letters + two-digit column (``b2`` -> ``B02``).

    Raises
    ------
    PlateError
        If ``well`` is not a row letter (or two) followed by a column number.
    """
    match = _WELL_RE.match(str(well))
    if not match or int(match.group(2)) < 1:
        where = f" in {source}" if source else ""
        raise PlateError(
            f"well name {well!r}{where} is not a row letter and a column number (expected e.g. 'B02')"
        )
    return f"{match.group(1).upper()}{int(match.group(2)):02d}"


def split_well(well: str) -> tuple[str, int]:
    """Split a normalised well name into (row letters, column number)."""
    normalized = normalize_well(well)
    match = _WELL_RE.match(normalized)
    assert match is not None  # normalize_well guarantees the pattern
    return match.group(1), int(match.group(2))


def well_from_indices(row: int, col: int) -> str:
    """Well name from 1-based row and column indices ((2, 3) -> ``B03``)."""
    if col < 1:
        raise PlateError(f"column index {col} is not a positive number")
    return f"{row_label(row)}{col:02d}"


def plate_shape_for(wells: list[str]) -> tuple[int, int]:
    """Smallest standard plate (8x12, 16x24, 32x48) holding all ``wells``, as (rows, columns)."""
    max_row = max((row_index(split_well(w)[0]) for w in wells), default=1)
    max_col = max((split_well(w)[1] for w in wells), default=1)
    for rows, cols in sorted(PLATE_SHAPES.values()):
        if max_row <= rows and max_col <= cols:
            return rows, cols
    return max_row, max_col


def plate_format(wells: list[str]) -> int | None:
    """The smallest standard plate format (96, 384, 1536) holding every well; None if none does."""
    rows = max((row_index(split_well(w)[0]) for w in wells), default=1)
    cols = max((split_well(w)[1] for w in wells), default=1)
    for size, (n_rows, n_cols) in sorted(PLATE_SHAPES.items()):
        if rows <= n_rows and cols <= n_cols:
            return size
    return None


def format_extent(size: int) -> str:
    """``rows A-H, columns 1-12`` for a plate format."""
    n_rows, n_cols = PLATE_SHAPES[size]
    return f"rows A-{row_label(n_rows)}, columns 1-{n_cols}"


def outside_format_problem(well: str, size: int | None = None) -> str | None:
    """Why ``well`` cannot be on a plate of format ``size`` (default: on any standard plate); None if it can.

    Parameters
    ----------
    well : str
        A well name (``B02``).
    size : int, optional
        96, 384 or 1536; None checks against the largest, so only wells outside every format fail.
    """
    largest = max(PLATE_SHAPES)
    if plate_format([well]) is not None and (size is None or plate_format([well]) <= size):
        return None
    if size is None or size == largest:
        return (
            f"well {well} is outside every plate format (96: {format_extent(96)}; 384: "
            f"{format_extent(384)}; 1536: {format_extent(1536)})"
        )
    return f"well {well} is outside the {size}-well format of this plate ({format_extent(size)})"
