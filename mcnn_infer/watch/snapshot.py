"""What a plate entry of the inbox holds right now: every file's size and mtime, and its temp files.

A file still being written changes size or mtime between two polls, so a plate is only judged
(and read) when two snapshots in a row are equal. Instruments and copy tools that write under a
temporary name and rename when done (``*.tmp``, ``*.part``, rsync's ``.name.XXXXXX``, ...) leave
files whose names :func:`is_temp_name` recognises: while one is there the plate is still arriving.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mcnn_infer.scoring.store import digest

#: Names of files that are still being written under a temporary name.
TEMP_NAME = re.compile(
    r"""(?ix)
    \.(tmp|temp|part|partial|crdownload|filepart|download|writing|inprogress)$  # writers' temp suffixes
    | ~$                                              # editors' and some instruments' backups
    | ^~\$                                            # Office-style lock files
    | ^\.~                                            # LibreOffice / smbclient
    | ^\..+\.[A-Za-z0-9]{6}$                          # rsync: .<name>.<6 random characters>
    """
)


def is_temp_name(name: str) -> bool:
    """True when ``name`` is a file still being written under a temporary name (never read).

    Zarr's own hidden files (``.zattrs``, ``.zarray``, ``.zgroup``) are not temporary.
    """
    return bool(TEMP_NAME.search(name))


@dataclass(frozen=True)
class Snapshot:
    """The files below one inbox entry.

    Attributes
    ----------
    files : dict
        Path relative to the entry (POSIX) -> ``(size in bytes, mtime in ns)``, temp files included.
    temp : tuple of str
        The relative paths with a temporary name (:func:`is_temp_name`).
    signature : str
        sha256 of ``files``: equal signatures, nothing written in between.
    """

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    temp: tuple[str, ...] = ()
    signature: str = ""

    @property
    def names(self) -> set[str]:
        """The file names (no folders) present."""
        return {Path(rel).name for rel in self.files}


def take_snapshot(entry: Path) -> Snapshot:
    """Sizes and mtimes of every file below ``entry`` (a plate folder or an OME-Zarr store).

    Files that vanish while the folder is walked (renamed from a temp name) are left out: the
    next snapshot sees them under their final name.
    """
    files: dict[str, tuple[int, int]] = {}
    temp: list[str] = []
    for dirpath, dirnames, filenames in os.walk(entry):
        dirnames.sort()
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            rel = Path(path).relative_to(entry).as_posix()
            files[rel] = (st.st_size, st.st_mtime_ns)
            if is_temp_name(name):
                temp.append(rel)
    return Snapshot(files, tuple(sorted(temp)), digest(sorted(files.items())))
