"""Atomic file replacement: the one way datacore-msg replaces a file it owns; tails rewritten in
place; private files.

A temporary file in the same folder is written and fsynced, renamed over the target, and the folder
is fsynced, so a reader (or a crash) sees the old bytes or the new ones, never a mix. Used by the
views' writer, the settings and contacts editors, and the Claude Code hook's state and settings.
:func:`open_private_text` opens a file that only its owner may read (mode 0600 whatever the umask),
for exports, which hold the whole log. :func:`append_durably`, :func:`cut_partial_line` and
:func:`open_regular_for_reading` are the append-only files of ``sync --folder`` (never a symbolic
link, a FIFO or a device). :func:`open_private_fd` opens (creating, mode 0600) the watcher's lock
file and its log; :func:`rotate_log` keeps that log from growing without end. Standard library
only: the hook's fast path imports it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from datacore_msg.errors import StorageError
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the hook's fast path does without pathlib
    from pathlib import Path
    from typing import IO


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o666, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; ``mode`` (before the umask) for a private file.
    ``durable=False`` skips both fsyncs, for a cache whose loss or a torn copy only costs a miss."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp, path)
        if durable:
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


def _open_regular(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that never follows a symbolic link at ``path`` nor blocks on a FIFO, and refuses
    anything but a regular file (``OSError``, with ``errno`` ``ELOOP`` or ``EINVAL``)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | nofollow, mode)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def open_regular_for_reading(path: Path) -> IO[bytes]:
    """``path`` opened for binary reading, refused (``OSError``) when it is a symbolic link, a
    folder, a FIFO or a device: what a shared folder may hold on purpose."""
    return os.fdopen(_open_regular(path, os.O_RDONLY), "rb")


def cut_partial_line(path: Path) -> int:
    """Cut a last line that has no newline (left by an interrupted writer or sync tool) from the
    regular file ``path``, and fsync; how many bytes were cut. The rest is left as it was."""
    fd = _open_regular(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        end = size
        while end > 0:
            start = max(0, end - 65536)
            chunk = os.pread(fd, end - start, start)
            if end == size and chunk.endswith(b"\n"):
                return 0
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        os.ftruncate(fd, end)
        os.fsync(fd)
        return size - end
    finally:
        os.close(fd)


def append_durably(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Append ``data`` to the regular file ``path`` (created with ``mode`` before the umask) and
    fsync it (and the folder, when the file is new); a symbolic link at ``path`` is refused."""
    created = not os.path.lexists(path)
    fd = _open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def open_private_fd(path: Path, append: bool = False) -> int:
    """A descriptor on the regular file ``path``, created with mode 0600 (with its folder) when
    missing: read-write for a lock file, append-only (``append``) for a log."""
    flags = (os.O_WRONLY | os.O_APPEND) if append else os.O_RDWR
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _open_regular(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise StorageError(f"{path}: cannot open: {exc.strerror or exc}") from None


def rotate_log(path: Path, limit: int) -> None:
    """Move ``path`` to ``<path>.1`` (replacing an older one) once it is over ``limit`` bytes."""
    try:
        if path.stat().st_size > limit:
            os.replace(path, path.with_name(path.name + ".1"))
    except OSError:
        pass
