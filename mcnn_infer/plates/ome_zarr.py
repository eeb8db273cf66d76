"""OME-Zarr (OME-NGFF HCS) plates: ``plate.zarr/<row>/<column>/<field>/<level>``.

Both spec versions are read: 0.4 (Zarr v2, metadata in ``.zattrs``: ``plate``, ``well``,
``multiscales``, ``omero``) and 0.5 (Zarr v3, the same keys under ``attributes.ome`` of
``zarr.json``). Stores are opened with ``zarr`` itself: it is the reference implementation of
both Zarr formats (v2 and v3) and reads local stores with no extra stack, whereas
ome-zarr-py's ``Reader`` pulls in dask and fsspec/s3fs and builds dask graphs we do not need.
Only metadata is read while scanning; pixels are read later, one 2-D plane at a time, through
the plane locators (:mod:`mcnn_infer.zarr_planes`) the field table holds.

What becomes of the NGFF structure:

* wells: ``plate.wells[*].path`` (``B/3`` -> well ``B03``); fields: ``well.images[*].path``
  (an integer path ``k`` is site ``k + 1``, any other name its 1-based position);
* the full-resolution level: the first dataset of ``multiscales[0].datasets``; axes from
  ``multiscales[0].axes`` (``t, c, z, y, x`` in any subset; ``y, x`` last; 0.1-0.3 stores
  without axes are ``tczyx``);
* channel keys: ``omero.channels[*].label`` when every channel has a distinct label, else
  ``c0, c1, ...``; time points and z-planes become ``timepoint`` and ``plane`` (1-based);
* the plate name: ``plate.name`` if present, else the store folder name without ``.zarr``.

Wells or fields listed in the metadata but missing, without usable ``multiscales``, or
whose array does not match its axes, are rows of ``PlateScan.problems`` naming the path.
Stores written by ``hcs convert`` carry an ``hcs`` attribute: a field it had not finished
(interrupted run) or a plane it could not read from the source is a problem too.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mcnn_infer.errors import HcsWarning, LayoutError, PlateError
from mcnn_infer.image_checks import supported_dtype, supported_dtype_names
from mcnn_infer.images import IMAGE_SUFFIXES
from mcnn_infer.plates.base import ChannelFile
from mcnn_infer.wells import normalize_well
from mcnn_infer.zarr_planes import make_locator

#: The layout's name (``--layout ome-zarr``, ``PlateScan.layout``).
OME_ZARR = "ome-zarr"
DESCRIPTION = "OME-Zarr HCS plate (OME-NGFF 0.4 on Zarr v2, 0.5 on Zarr v3)"
EXAMPLE = "plate.zarr/B/3/0/0 (row/column/field/level)"
#: Key of the attributes ``hcs convert`` adds to the groups it writes (beside the spec's keys).
HCS_KEY = "hcs"
_ZARR_FILES = (".zattrs", ".zgroup", "zarr.json")
_ROLE_OF_TYPE = {"time": "t", "channel": "c"}
_PRE_04_AXES = ("t", "c", "z", "y", "x")
#: OME-NGFF versions this reader knows (0.1-0.3: no axes metadata, tczyx).
KNOWN_VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5")
#: Largest number of planes (time points x channels x z-planes) one field may declare.
MAX_FIELD_PLANES = 100_000


class NgffVersionWarning(HcsWarning):
    """An OME-Zarr plate declares an OME-NGFF version this reader does not know."""


def declared_version(attrs: Mapping[str, Any], plate: Mapping[str, Any]) -> str | None:
    """The OME-NGFF version a plate declares: ``ome.version`` (0.5+) or ``plate.version`` (0.4); None."""
    inner = attrs.get("ome")
    version = inner.get("version") if isinstance(inner, Mapping) else None
    version = version if version is not None else plate.get("version")
    return None if version is None else str(version)


def ome_metadata(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The NGFF metadata of a group's attributes: ``attrs["ome"]`` (0.5) or ``attrs`` itself (0.4)."""
    inner = attrs.get("ome")
    return dict(inner) if isinstance(inner, Mapping) else dict(attrs)


def is_zarr_node(folder: Path) -> bool:
    """True when ``folder`` is a Zarr group or array (metadata file inside) or is named ``*.zarr``."""
    return folder.name.lower().endswith(".zarr") or any((folder / name).is_file() for name in _ZARR_FILES)


def _open_group(path: Path):
    import zarr

    try:
        return zarr.open_group(str(path), mode="r")
    except Exception as exc:
        raise PlateError(
            f"{path} is not a readable Zarr group ({' '.join(str(exc).split())[:200] or type(exc).__name__}; "
            "expected an OME-Zarr plate with .zattrs (NGFF 0.4) or zarr.json (NGFF 0.5))"
        ) from exc


def open_plate(store: Path) -> tuple[Any, dict[str, Any]]:
    """The root group of a plate store and its ``plate`` metadata (0.4 ``plate`` or 0.5 ``ome.plate``).

    Raises
    ------
    PlateError
        The folder is not a Zarr group or has no ``plate`` metadata.
    """
    group = _open_group(store)
    plate = ome_metadata(group.attrs.asdict()).get("plate")
    if not isinstance(plate, Mapping):
        raise PlateError(
            f"{store} has no OME-NGFF 'plate' metadata (expected 'plate' in .zattrs for NGFF 0.4 or "
            "'attributes.ome.plate' in zarr.json for NGFF 0.5)"
        )
    return group, dict(plate)


def find_plate_stores(folder: Path) -> tuple[list[Path], list[dict], list[Path]]:
    """Walk ``folder`` for OME-Zarr plates without entering any Zarr store.

    Returns
    -------
    stores : list of Path
        Plate stores (``folder`` itself when it is one), sorted.
    others : list of dict
        ``path, reason`` for Zarr stores that are not plates.
    tiffs : list of Path
        TIFF files outside any store.
    """
    if is_zarr_node(folder):
        return [folder], [], []
    stores: list[Path] = []
    others: list[dict] = []
    tiffs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            if name.startswith("."):
                continue
            child = here / name
            if not is_zarr_node(child):
                keep.append(name)
                continue
            try:
                open_plate(child)
                stores.append(child)
            except PlateError as exc:
                others.append({"path": str(child), "reason": str(exc)})
        dirnames[:] = keep
        tiffs.extend(here / n for n in sorted(filenames) if Path(n).suffix.lower() in IMAGE_SUFFIXES)
    return sorted(stores), others, tiffs


def looks_like_ome_zarr(source: Path) -> bool:
    """True when ``source`` is an OME-Zarr plate or a folder holding some (and no TIFF images).

    Raises
    ------
    LayoutError
        The folder holds both OME-Zarr plates and TIFF images (scan them separately).
    """
    if not source.is_dir():
        return False
    if is_zarr_node(source):
        return True
    stores, _, tiffs = find_plate_stores(source)
    if stores and tiffs:
        raise LayoutError(
            f"{source} holds both OME-Zarr plates ({stores[0].name}) and TIFF images ({tiffs[0]}); "
            "expected one kind per folder (scan them separately, or pass --layout)"
        )
    return bool(stores)


def read_ome_zarr(
    source: Path, plates: Sequence[str] | None = None
) -> tuple[list[str], list[ChannelFile], list[dict], list[dict]]:
    """Channel planes of every OME-Zarr plate at ``source`` (a store, or a folder of stores).

    Parameters
    ----------
    source : Path
        A plate store (``plate.zarr``) or a folder searched for plate stores.
    plates : sequence of str, optional
        Keep only these plates.

    Returns
    -------
    channels : list of str
        Channel keys of the first field, in array order.
    files : list of ChannelFile
        One per (field, time point, plane, channel); ``path`` is the plane locator.
    problems : list of dict
        ``plate, well, site, path, problem``.
    ignored : list of dict
        ``path, reason``: TIFF files and non-plate Zarr stores beside the plates.

    Raises
    ------
    PlateError
        ``source`` is a store without plate metadata, or no plate store is found.
    """
    stores, others, tiffs = find_plate_stores(source)
    ignored = [{"path": o["path"], "reason": o["reason"]} for o in others]
    ignored += [{"path": str(t), "reason": "TIFF image outside the OME-Zarr plates"} for t in tiffs]
    if not stores:
        raise PlateError(
            f"no OME-Zarr plate found in {source} (expected plate.zarr folders with OME-NGFF 'plate' "
            f"metadata, e.g. {EXAMPLE})"
        )
    declared: list[str] = []
    files: list[ChannelFile] = []
    problems: list[dict] = []
    seen: dict[str, Path] = {}
    for store in stores:
        root, meta = open_plate(store)  # a store given directly must be a plate: this says why not
        name = _plate_name(store, meta)
        if name in seen:
            raise PlateError(
                f"plate name {name!r} of {store} is also the name of {seen[name]} (expected distinct plate names)"
            )
        seen[name] = store
        if plates is not None and name not in set(plates):
            continue
        channels = _scan_store(root, meta, store, name, files, problems)
        declared = declared or channels
    return declared, files, problems, ignored


def _plate_name(store: Path, meta: Mapping[str, Any]) -> str:
    name = meta.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    base = store.name
    return base[: -len(".zarr")] if base.lower().endswith(".zarr") else base


def _problem(plate: str, well: str, site: int, path: Path | str, problem: str) -> dict:
    return {"plate": plate, "well": well, "site": site, "path": str(path), "problem": problem}


def _scan_store(root, meta: Mapping[str, Any], store: Path, plate: str, files, problems) -> list[str]:
    marker = root.attrs.get(HCS_KEY)
    written_by_hcs = isinstance(marker, Mapping)
    unfinished = written_by_hcs and not marker.get("complete")
    count, first_file = len(problems), len(files)
    wells = meta.get("wells")
    declared: list[str] = []
    if not isinstance(wells, list) or not wells:
        problems.append(_problem(plate, "", 0, store, "plate metadata lists no wells (expected plate.wells)"))
        wells = []
    for entry in wells:
        path = entry.get("path") if isinstance(entry, Mapping) else None
        try:
            well = _well_name(path)
        except PlateError as exc:
            problems.append(_problem(plate, "", 0, store, str(exc)))
            continue
        channels = _scan_well(root, store, plate, well, str(path), written_by_hcs, files, problems)
        declared = declared or channels
    if unfinished:
        for row in problems[count:]:
            row["problem"] += " [hcs convert has not finished this plate: re-run the same `hcs convert`]"
    version = declared_version(root.attrs.asdict(), meta)
    if version is not None and version not in KNOWN_VERSIONS:
        # a spec from the future: what fits a known version is read, the rest is a problem row
        note = f" [the plate declares OME-NGFF version {version}, which this reader does not know]"
        for row in problems[count:]:
            row["problem"] += note
        n_fields = len({(f.well, f.site) for f in files[first_file:]})
        warnings.warn(
            NgffVersionWarning(
                f"OME-Zarr plate {store} declares OME-NGFF version {version!r}, which this reader does not know "
                f"(it reads {', '.join(KNOWN_VERSIONS)}); read where its metadata fits a known version: "
                f"{n_fields} fields read, {len(problems) - count} problems listed"
            ),
            stacklevel=2,
        )
    return declared


def _well_name(path: Any) -> str:
    parts = path.split("/") if isinstance(path, str) else []
    if len(parts) != 2:
        raise PlateError(
            f"well path {path!r} in the plate metadata is not '<row>/<column>' (expected e.g. 'B/3')"
        )
    return normalize_well(f"{parts[0]}{parts[1]}", source=f"well path {path!r}")


def _child(group, path: str, where: Path):
    """The group's member at ``path``; None if absent.

    Raises
    ------
    PlateError
        The member exists but its metadata cannot be read (e.g. a corrupt ``zarr.json``).
    """
    try:
        return group[path]
    except KeyError:
        return None
    except Exception as exc:
        raise PlateError(
            f"the Zarr metadata of {where / path} cannot be read "
            f"({' '.join(str(exc).split())[:200] or type(exc).__name__})"
        ) from exc


def _scan_well(
    root, store: Path, plate: str, well: str, path: str, written_by_hcs: bool, files, problems
) -> list[str]:
    import zarr

    where = store / path
    try:
        group = _child(root, path, store)
    except PlateError as exc:
        problems.append(_problem(plate, well, 0, where, str(exc)))
        return []
    if not isinstance(group, zarr.Group):
        problems.append(
            _problem(
                plate,
                well,
                0,
                where,
                f"well {path} is listed in the plate metadata but {where} is "
                "not a Zarr group (expected a group with 'well' metadata)",
            )
        )
        return []
    images = ome_metadata(group.attrs.asdict()).get("well", {})
    images = images.get("images") if isinstance(images, Mapping) else None
    if not isinstance(images, list) or not images:
        problems.append(
            _problem(plate, well, 0, where, "well has no 'well.images' metadata (expected a list of fields)")
        )
        return []
    declared: list[str] = []
    for position, image in enumerate(images):
        name = image.get("path") if isinstance(image, Mapping) else None
        name = str(name) if name is not None else ""
        site = int(name) + 1 if name.isdigit() else position + 1
        try:
            channels, records, absent = _field_planes(group, where, name, plate, well, site, written_by_hcs)
        except PlateError as exc:
            problems.append(_problem(plate, well, site, where / name, str(exc)))
            continue
        files.extend(records)
        problems.extend(absent)
        declared = declared or channels
    return declared


def _field_planes(group, where: Path, name: str, plate: str, well: str, site: int, written_by_hcs: bool):
    """Channel keys, one ChannelFile per (t, z, c), and problem rows for planes hcs convert left empty."""
    import zarr

    field = where / name
    image = _child(group, name, where) if name else None
    if not isinstance(image, zarr.Group):
        raise PlateError(
            f"field {name!r} is listed in the well metadata but {field} is not a Zarr group "
            "(expected an image group with 'multiscales' metadata)"
        )
    attrs = image.attrs.asdict()
    marker = attrs.get(HCS_KEY)
    if written_by_hcs and not (isinstance(marker, Mapping) and marker.get("complete")):
        raise PlateError(
            f"field {field} was not completely written by hcs convert (the conversion was interrupted; "
            "re-run the same `hcs convert` to finish it)"
        )
    meta = ome_metadata(attrs)
    multiscales = meta.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], Mapping):
        raise PlateError(f"field {field} has no 'multiscales' metadata (expected an NGFF image group)")
    datasets = multiscales[0].get("datasets")
    if not isinstance(datasets, list) or not datasets or not isinstance(datasets[0], Mapping):
        raise PlateError(f"field {field}: multiscales[0] has no datasets (expected at least one level)")
    level = str(datasets[0].get("path", ""))
    array = _child(image, level, field) if level else None
    if not isinstance(array, zarr.Array):
        raise PlateError(
            f"field {field}: the full-resolution level {level!r} (multiscales[0].datasets[0].path) is not "
            f"a Zarr array at {field / level}"
        )
    shape = tuple(int(n) for n in array.shape)
    roles = _axis_roles(multiscales[0].get("axes"), len(shape), field)
    if not supported_dtype(array.dtype):
        raise PlateError(
            f"field {field / level} has pixel type {array.dtype} (expected one of {supported_dtype_names()})"
        )
    sizes = dict(zip(roles, shape, strict=True))
    n_planes = sizes.get("t", 1) * sizes.get("c", 1) * sizes.get("z", 1)
    if n_planes > MAX_FIELD_PLANES:
        raise PlateError(
            f"field {field / level} declares {n_planes} planes (shape {shape}, axes {roles}), more than the "
            f"limit of {MAX_FIELD_PLANES} (expected time points x channels x z-planes of one field)"
        )
    channels = _channel_keys(meta.get("omero"), sizes.get("c", 1))
    absent = _absent_planes(marker, plate, well, site, field)
    array_path = field / level
    records = []
    for t in range(sizes.get("t", 1)):
        for z in range(sizes.get("z", 1)):
            if (t + 1, z + 1) in absent:
                continue
            for c, key in enumerate(channels):
                index = {"t": t, "c": c, "z": z}
                locator = make_locator(array_path, [(role, index[role]) for role in roles[:-2]])
                records.append(ChannelFile(plate, well, site, key, Path(locator), t + 1, z + 1))
    return channels, records, list(absent.values())


def _axis_roles(axes: Any, ndim: int, field: Path) -> list[str]:
    """The role (t, c, z, y, x) of each array axis, in array order."""
    if axes is None:
        if ndim != 5:
            raise PlateError(
                f"field {field} declares no axes and its array has {ndim} dimensions (expected 5: tczyx)"
            )
        return list(_PRE_04_AXES)
    if not isinstance(axes, list) or len(axes) != ndim:
        count = len(axes) if isinstance(axes, list) else axes
        raise PlateError(
            f"field {field}: multiscales[0].axes has {count} axes but the full-resolution array has {ndim} "
            "dimensions (expected one axis per dimension)"
        )
    roles = []
    for axis in axes:
        name = axis.get("name") if isinstance(axis, Mapping) else axis
        kind = axis.get("type") if isinstance(axis, Mapping) else None
        name = str(name).lower()
        roles.append(name if name in _PRE_04_AXES else _ROLE_OF_TYPE.get(str(kind), f"?{name}"))
    leading = roles[:-2]
    if roles[-2:] != ["y", "x"] or len(set(leading)) != len(leading) or not set(leading) <= {"t", "c", "z"}:
        raise PlateError(
            f"field {field} has axes {roles} (expected t, c, z in any subset, each once, then y, x last)"
        )
    return roles


def _channel_keys(omero: Any, n: int) -> list[str]:
    """``omero.channels[*].label`` when all n are present and distinct, else ``c0 .. c{n-1}``."""
    entries = omero.get("channels") if isinstance(omero, Mapping) else None
    if isinstance(entries, list) and len(entries) == n:
        labels = [str(e.get("label") or "").strip() if isinstance(e, Mapping) else "" for e in entries]
        if all(labels) and len(set(labels)) == n:
            return labels
    return [f"c{i}" for i in range(n)]


def _absent_planes(marker: Any, plate: str, well: str, site: int, field: Path) -> dict[tuple[int, int], dict]:
    """Planes ``hcs convert`` recorded as not written (absent or unreadable in its source)."""
    rows = marker.get("absent_planes", []) if isinstance(marker, Mapping) else []
    out = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping) and {"timepoint", "plane"} <= set(row):
            key = (int(row["timepoint"]), int(row["plane"]))
            out[key] = _problem(
                plate,
                well,
                site,
                field,
                f"time point {key[0]} plane {key[1]} holds no data: hcs convert could not convert it "
                f"({row.get('reason', 'no reason recorded')})",
            )
    return out
