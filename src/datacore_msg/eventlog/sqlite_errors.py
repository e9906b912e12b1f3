"""The one place where sqlite3's exceptions become datacore-msg errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from datacore_msg.errors import Busy, DatacoreError, IntegrityError, StorageError
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:  # pathlib is not imported at run time: the fast paths do without it
    from pathlib import Path


def translate(exc: sqlite3.Error, path: Path | str) -> DatacoreError:
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return Busy(f"{path}: the event log is busy (another writer held it too long): {text}")
    if "append-only" in lowered:
        return IntegrityError(f"{path}: {text}")
    if "full" in lowered:
        return StorageError(f"{path}: the disk is full; the write was rolled back")
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(f"{path}: {text}")
    if "not a database" in lowered or "malformed" in lowered:
        return StorageError(f"{path}: not a readable event log ({text})")
    return StorageError(f"{path}: database error: {text}")


@contextmanager
def translating(path: Path | str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
