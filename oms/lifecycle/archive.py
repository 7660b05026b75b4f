"""The purge archive: JSON lines, one object per line (its state and its full event list).

Written to a temporary name, fsynced, renamed into place and the directory fsynced, so a file
under its final name is complete on disk; the sha256 of its bytes is computed while writing and
recorded in the `PurgeRun`. Read it back with `read_archive`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ArchiveFile:
    path: Path
    sha256: str
    size: int
    lines: int


def write_archive(path: Path, records: Iterable[dict[str, Any]]) -> ArchiveFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    size = lines = 0
    try:
        with open(tmp, "xb") as fh:
            for record in records:
                line = (
                    json.dumps(record, sort_keys=True, separators=(",", ":"), default=str) + "\n"
                ).encode()
                fh.write(line)
                digest.update(line)
                size += len(line)
                lines += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ArchiveFile(path=path, sha256=digest.hexdigest(), size=size, lines=lines)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_archive(path: Path | str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
