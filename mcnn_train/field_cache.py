"""On-disk cache of preprocessed fields, filled lazily on first use.

Each worker owns one cache: a float32 array ``(n, height, width, channels)`` in a
memory-mapped file plus a one-byte "filled" flag per field. The first time a field is
requested it is read from its TIFFs (:func:`mcnn_infer.images.read_field`), preprocessed with
:func:`mcnn_infer.preprocess.preprocess_field` (the scorer's code path) and written to the
cache; later requests read the cached array. The data stay on disk (the page cache does the
rest), so data sets larger than RAM work. The cache folder is keyed by a hash of the field
paths, the normalisation and the size, so any change of these starts a new cache. Values are
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


def cache_key(paths: Sequence[Sequence[str]], norm: Normalization, size: tuple[int, int]) -> str:
    """Hex digest (16 chars) of the field paths, normalisation and size."""
    payload = json.dumps(
        {"paths": [list(map(str, p)) for p in paths], "norm": norm.to_dict(), "size": list(size)},
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
    norm : Normalization
        Intensity normalisation (C channels).
    size : (int, int)
        Model input (height, width) in pixels.
    """

    def __init__(
        self, root: Path, paths: Sequence[Sequence[str]], norm: Normalization, size: tuple[int, int]
    ):
        self.paths = [list(map(str, p)) for p in paths]
        self.norm = norm
        self.size = (int(size[0]), int(size[1]))
        self.shape = (len(self.paths), self.size[0], self.size[1], norm.n_channels)
        self.key = cache_key(self.paths, norm, self.size)
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
                "norm": self.norm.to_dict(),
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
        image = preprocess_field(read_field(self.paths[index]), self.norm, self.size)
        self.data[index] = image
        self.filled[index] = 1  # set only after the data are in place
        return image

    def flush(self) -> None:
        """Write dirty pages to disk (called at the end of each epoch)."""
        self.data.flush()
        self.filled.flush()
