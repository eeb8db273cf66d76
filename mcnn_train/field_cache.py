"""On-disk cache of preprocessed fields, filled lazily on first use.

Each worker owns one cache: a float32 array ``(n, height, width, channels)`` in a
memory-mapped file plus a one-byte "filled" flag per field. The first time a field is
requested it is read from its TIFFs (:func:`mcnn_infer.images.read_field`), preprocessed with
:func:`mcnn_infer.preprocess.preprocess_field` (the scorer's code path) and written to the
cache; later requests read the cached array. The data stay on disk (the page cache does the
rest), so data sets larger than RAM work. The cache folder is keyed by a hash of the field
paths, each field's normalisation and the size, so any change of these starts a new cache. Values are
stored as float32, exactly what :func:`preprocess_field` returns.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mcnn_infer.atomic import write_json
from mcnn_infer.images import read_field
from mcnn_infer.preprocess import Normalization, preprocess_field


def _distinct(norms: Sequence[Normalization]) -> tuple[list[Normalization], list[int]]:
    """The distinct normalisations (first-seen order) and, per field, the position of its own."""
    distinct: list[Normalization] = []
    position: dict[str, int] = {}
    of_field: list[int] = []
    for norm in norms:
        key = json.dumps(norm.to_dict(), sort_keys=True)
        if key not in position:
            position[key] = len(distinct)
            distinct.append(norm)
        of_field.append(position[key])
    return distinct, of_field


def cache_key(paths: Sequence[Sequence[str]], norms: Sequence[Normalization], size: tuple[int, int]) -> str:
    """Hex digest (16 chars) of the field paths, each field's normalisation and the size."""
    distinct, of_field = _distinct(norms)
    payload = json.dumps(
        {
            "paths": [list(map(str, p)) for p in paths],
            "norms": [n.to_dict() for n in distinct],
            "norm_of_field": of_field,
            "size": list(size),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class FieldCache:
    """Preprocessed fields of one worker, on disk.

    Parameters
    ----------
    root : Path
        Folder holding cache folders (one per key).
    paths : sequence of sequence of str
        Channel file paths of each field, in channel order; position = cache index.
    norms : Normalization or sequence of Normalization
        Intensity normalisation (C channels): one for all fields, or one per field (e.g. its
        plate's).
    size : (int, int)
        Model input (height, width) in pixels.
    """

    def __init__(
        self,
        root: Path,
        paths: Sequence[Sequence[str]],
        norms: Normalization | Sequence[Normalization],
        size: tuple[int, int],
    ):
        self.paths = [list(map(str, p)) for p in paths]
        if isinstance(norms, Normalization):
            norms = [norms] * len(self.paths)
        if len(norms) != len(self.paths) or not norms:
            raise ValueError(
                f"{len(norms)} normalisations for {len(self.paths)} fields (expected one per field)"
            )
        self.norms, self.norm_of_field = _distinct(norms)
        self.size = (int(size[0]), int(size[1]))
        self.shape = (len(self.paths), self.size[0], self.size[1], self.norms[0].n_channels)
        self.key = cache_key(self.paths, norms, self.size)
        self.folder = Path(root) / self.key
        self.folder.mkdir(parents=True, exist_ok=True)
        data_file = self.folder / "fields.f32"
        flag_file = self.folder / "filled.u8"
        if not (data_file.exists() and flag_file.exists()):
            self._create(data_file, flag_file)
        self.data = np.memmap(data_file, dtype=np.float32, mode="r+", shape=self.shape)
        self.filled = np.memmap(flag_file, dtype=np.uint8, mode="r+", shape=(len(self.paths),))

    def _create(self, data_file: Path, flag_file: Path) -> None:
        write_json(
            self.folder / "meta.json",
            {
                "shape": list(self.shape),
                "dtype": "float32",
                "norms": [n.to_dict() for n in self.norms],
                "n": len(self.paths),
            },
        )
        for final, nbytes in ((data_file, int(np.prod(self.shape)) * 4), (flag_file, len(self.paths))):
            tmp = final.with_name(f".{final.name}.tmp")
            with open(tmp, "wb") as handle:
                handle.truncate(max(nbytes, 1))  # sparse: disk is used as fields are written
            os.replace(tmp, final)

    def __len__(self) -> int:
        return len(self.paths)

    def n_filled(self) -> int:
        """Number of fields already cached."""
        return int(np.count_nonzero(self.filled))

    def get(self, index: int) -> np.ndarray:
        """Preprocessed field ``index``: float32 ``(height, width, channels)`` in [0, 1]."""
        if self.filled[index]:
            return np.array(self.data[index])
        norm = self.norms[self.norm_of_field[index]]
        image = preprocess_field(read_field(self.paths[index]), norm, self.size)
        self.data[index] = image
        self.filled[index] = 1  # set only after the data are in place
        return image

    def flush(self) -> None:
        """Write dirty pages to disk (called at the end of each epoch)."""
        self.data.flush()
        self.filled.flush()
