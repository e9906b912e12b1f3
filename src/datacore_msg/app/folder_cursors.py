"""The cursors of ``sync --folder`` (how far each file of a folder was read, kept in the state
folder) and the reading of complete lines they count in; see :mod:`datacore_msg.app.folder_sync`.

A cursor is a shortcut, never a truth: :func:`cursor_holds` says whether reading may start at it
(the file still has the bytes the cursor saw before its offset, and the log still holds what it
held), a cursor that does not hold is replaced by a fresh one (the file is read from its start, the
events already held skipped), and a malformed saved cursor reads as a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from datacore_msg.app.exchange import MAX_LINE_BYTES
from datacore_msg.app.space import Space
from datacore_msg.fsutil import atomic_write

#: How many bytes before a cursor's offset must be unchanged for the cursor to be used.
TAIL_BYTES = 256
STATE_FILE = "folder-sync.json"
STATE_VERSION = 1
StatKey = tuple[int, int, int]


@attrs.frozen
class Cursor:
    """How far one file of one folder has been read (peers) or written (ours)."""

    offset: int = 0
    line: int = 0
    #: sha256 (hex) of the TAIL_BYTES bytes before ``offset`` (ours: the id of the file's last event).
    tail: str = ""
    #: The log's head of the file's origin when the cursor was saved (ours: the file's head).
    held: int = 0
    #: The file's (inode, size, mtime_ns) when it was read (None: it grew while it was read); an
    #: unchanged stat means nothing new to read.
    stat: StatKey | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "line": self.line,
            "tail": self.tail,
            "held": self.held,
            "stat": list(self.stat) if self.stat is not None else None,
        }

    @classmethod
    def from_json(cls, value: object) -> Cursor:
        """The cursor saved as ``value``; a fresh one for anything malformed (a cursor is only a
        shortcut: the worst a lost one costs is reading a file again)."""
        if not isinstance(value, dict):
            return cls()
        numbers = [value.get(k) for k in ("offset", "line", "held")]
        tail, saved = value.get("tail"), value.get("stat")
        if not all(type(n) is int and n >= 0 for n in numbers) or not isinstance(tail, str):
            return cls()
        stat_key: StatKey | None = None
        if isinstance(saved, list) and len(saved) == 3 and all(type(n) is int for n in saved):
            stat_key = (saved[0], saved[1], saved[2])
        offset, line, held = (int(n) for n in numbers)  # type: ignore[arg-type]
        return cls(offset, line, tail, held, stat_key)


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def tail_hash(fd: int, offset: int) -> str:
    start = max(0, offset - TAIL_BYTES)
    return hashlib.sha256(os.pread(fd, offset - start, start)).hexdigest()


def cursor_holds(cursor: Cursor, fd: int, size: int, head: int) -> bool:
    """Whether reading the open file ``fd`` (``size`` bytes) may start at ``cursor``: the file
    still has the bytes the cursor saw before its offset, and the log (whose head of the file's
    origin is now ``head``) still holds what it held when the cursor was saved."""
    if cursor.offset == 0:
        return True
    if size < cursor.offset or head < cursor.held:
        return False
    return tail_hash(fd, cursor.offset) == cursor.tail


def complete_lines(handle: IO[bytes], line: int = 0) -> Iterator[tuple[int, bytes | None, int]]:
    """The complete lines of ``handle`` from where it stands: (line number, the line, or None for
    a line over MAX_LINE_BYTES, which is skipped up to its newline; its length in bytes). A last
    line without a newline is not yielded: a writer or a sync tool may still be writing it."""
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if raw.endswith(b"\n"):
            line += 1
            yield line, raw if len(raw) <= MAX_LINE_BYTES else None, len(raw)
            continue
        if len(raw) <= MAX_LINE_BYTES:
            return
        length = len(raw)
        while True:
            chunk = handle.readline(1 << 16)
            if not chunk:
                return
            length += len(chunk)
            if chunk.endswith(b"\n"):
                break
        line += 1
        yield line, None, length


def last_line(fd: int, size: int) -> bytes | None:
    """The last line of a file of ``size`` bytes that ends with a newline (the line without it),
    or None when that line is longer than MAX_LINE_BYTES."""
    start = max(0, size - MAX_LINE_BYTES - 2)
    chunk = os.pread(fd, size - start, start)
    newline = chunk.rfind(b"\n", 0, len(chunk) - 1)
    if newline >= 0:
        return chunk[newline + 1 : -1]
    return chunk[:-1] if start == 0 else None


def state_file(space: Space) -> Path:
    return space.paths.space_state_dir / STATE_FILE


def load_cursors(space: Space, folder: Path) -> dict[str, Cursor]:
    try:
        raw = json.loads(state_file(space).read_bytes())
    except (OSError, ValueError, RecursionError):  # damaged: derived state, dropped
        return {}
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        return {}
    folders = raw.get("folders")
    saved = folders.get(str(folder)) if isinstance(folders, dict) else None
    if not isinstance(saved, dict):
        return {}
    return {name: Cursor.from_json(value) for name, value in saved.items() if isinstance(name, str)}


def save_cursors(space: Space, folder: Path, cursors: dict[str, Cursor]) -> None:
    try:
        raw = json.loads(state_file(space).read_bytes())
    except (OSError, ValueError, RecursionError):  # damaged: derived state, dropped
        raw = {}
    folders = raw.get("folders") if isinstance(raw, dict) else None
    if not isinstance(folders, dict):
        folders = {}
    folders[str(folder)] = {name: cursor.to_json() for name, cursor in sorted(cursors.items())}
    data = json.dumps({"version": STATE_VERSION, "folders": folders}, sort_keys=True).encode("utf-8")
    atomic_write(state_file(space), data, mode=0o600)
