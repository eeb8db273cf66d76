"""The OME-NGFF HCS metadata ``hcs convert`` writes, for spec versions 0.4 and 0.5.

0.4 (Zarr v2) puts ``plate``, ``well``, ``multiscales`` and ``omero`` at the top of a group's
attributes (``.zattrs``), each with its own ``version``; 0.5 (Zarr v3) puts them under
``attributes.ome`` of ``zarr.json`` with one ``ome.version``. The converter's own bookkeeping
(``hcs``: fingerprint, completion marker) sits beside them, outside the spec's keys.

Every image is ``t, c, z, y, x`` (time, channel, space x3), chunks of one plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mcnn_infer.plates.ome_zarr import HCS_KEY

NGFF_VERSIONS = ("0.4", "0.5")
DEFAULT_NGFF_VERSION = "0.5"
AXES = (("t", "time"), ("c", "channel"), ("z", "space"), ("y", "space"), ("x", "space"))
AXIS_NAMES = [name for name, _ in AXES]
#: Display colours of channels 1, 2, 3 ... (omero.channels[*].color), cycled.
COLORS = ("0000FF", "00FF00", "FF0000", "FF00FF", "00FFFF", "FFFF00", "FFFFFF")


def zarr_format(version: str) -> int:
    """The Zarr format of an NGFF version: 2 for 0.4, 3 for 0.5."""
    return 2 if version == "0.4" else 3


def _wrap(version: str, key: str, value: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    if version == "0.4":
        return {key: {**value, "version": "0.4"}, **extra}
    if key == "plate":  # as ome-zarr-py writes it; ome-zarr-models warns without it
        value = {**value, "version": "0.5"}
    return {"ome": {"version": "0.5", key: value}, **extra}


def plate_attrs(
    version: str,
    name: str,
    rows: Sequence[str],
    columns: Sequence[int],
    wells: Sequence[tuple[str, int]],
    field_count: int,
    marker: dict[str, Any],
) -> dict[str, Any]:
    """Attributes of the plate (root) group.

    Parameters
    ----------
    rows, columns : sequence
        Row letters and column numbers of the plate grid, in order.
    wells : sequence of (str, int)
        (row, column) of each well holding at least one field, in plate order.
    field_count : int
        Most fields in any well.
    marker : dict
        The converter's ``hcs`` attribute (fingerprint, completion).
    """
    row_pos = {r: i for i, r in enumerate(rows)}
    col_pos = {c: i for i, c in enumerate(columns)}
    plate = {
        "name": name,
        "rows": [{"name": r} for r in rows],
        "columns": [{"name": str(c)} for c in columns],
        "wells": [{"path": f"{r}/{c}", "rowIndex": row_pos[r], "columnIndex": col_pos[c]} for r, c in wells],
        "field_count": int(field_count),
    }
    return _wrap(version, "plate", plate, {HCS_KEY: marker})


def well_attrs(version: str, images: Sequence[str]) -> dict[str, Any]:
    """Attributes of a well group listing its field image groups (``0``, ``1`` ...)."""
    return _wrap(version, "well", {"images": [{"path": p} for p in images]}, {})


def _window(dtype: np.dtype) -> dict[str, float]:
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        low, high = float(info.min), float(info.max)
    else:
        low, high = 0.0, 1.0
    return {"min": low, "max": high, "start": low, "end": high}


def image_attrs(
    version: str,
    name: str,
    levels: int,
    channels: Sequence[str],
    dtype: np.dtype,
    marker: dict[str, Any],
) -> dict[str, Any]:
    """Attributes of a field image group: ``multiscales`` (levels ``0 .. levels-1``), ``omero``, ``hcs``.

    Level ``k`` halves y and x ``k`` times (scale ``2**k``); channel labels are the source's
    channel keys, so a scan of the converted plate names channels as the source did.
    """
    datasets = [
        {
            "path": str(k),
            "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 1.0, 2.0**k, 2.0**k]}],
        }
        for k in range(levels)
    ]
    multiscales = {
        "name": name,
        "axes": [{"name": n, "type": t} for n, t in AXES],
        "datasets": datasets,
    }
    window = _window(np.dtype(dtype))
    omero = {
        "channels": [
            {"label": key, "color": COLORS[i % len(COLORS)], "active": True, "window": dict(window)}
            for i, key in enumerate(channels)
        ]
    }
    if version == "0.4":
        return {
            "multiscales": [{**multiscales, "version": "0.4"}],
            "omero": omero,
            HCS_KEY: marker,
        }
    return {"ome": {"version": "0.5", "multiscales": [multiscales], "omero": omero}, HCS_KEY: marker}
