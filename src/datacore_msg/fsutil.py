"""Atomic file replacement: the one way datacore-msg replaces a file it owns; tails rewritten in
place; private files.

A temporary file in the same folder is written and fsynced, renamed over the target, and the folder
is fsynced, so a reader (or a crash) sees the old bytes or the new ones, never a mix. Used by the
views' writer, the settings and contacts editors, and the Claude Code hook's state and settings.
:func:`open_private_text` opens a file that only its owner may read (mode 0600 whatever the umask),
for exports, which hold the whole log. Standard library only: the hook's fast path imports it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import IO

from datacore_msg.errors import StorageError


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` atomically; ``mode`` (before the umask) for a private file."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise StorageError(f"{path}: the disk is full; the file was left as it was") from None
        raise StorageError(f"{path}: cannot write: {exc.strerror}; the file was left as it was") from None


def replace_tail(path: Path, offset: int, data: bytes) -> bool:
    """Cut ``path`` at ``offset`` and write ``data`` from there, in place, then fsync it (the folder
    is unchanged, so it is not fsynced); at the end of the file this is an append. False when
    ``path`` does not exist. A crash may leave the file cut with a prefix of ``data`` written: the
    caller records what it was writing to recognise that."""
    try:
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            if os.fstat(fd).st_size != offset:
                os.ftruncate(fd, offset)
            view = memoryview(data)
            position = offset
            while view:
                written = os.pwrite(fd, view, position)
                view, position = view[written:], position + written
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StorageError(f"{path}: the disk is full; the file will be written again") from None
        raise StorageError(f"{path}: cannot write: {exc.strerror}") from None
    return True


def open_private_text(path: Path) -> IO[str]:
    """Open ``path`` for writing UTF-8 text with ``\\n`` line ends, created (or truncated) with mode
    0600 before anything is written, whatever the umask or the mode of a file already there; a
    symbolic link at ``path`` is refused (``OSError``), never followed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    except BaseException:
        os.close(fd)
        raise
