"""Whether a watcher (``sync --watch``) runs for a space, and starting one in the background.

The watcher holds an exclusive ``flock`` on ``<state>/spaces/<space>/watcher.lock`` for as long as
it runs; the kernel drops it when the process ends, however it ends, so a stale lock cannot exist.
:func:`watcher_running` asks with a shared, non-blocking lock (two commands asking at once do not
disturb each other). :func:`start_watcher` (the session-start hook) takes the exclusive lock itself,
then starts the watcher with that descriptor inherited (its number in :data:`FD_ENV`): the watcher
keeps the lock the hook took, so two hooks starting at once start one watcher, and a hook that runs
while a watcher is still starting sees it running. Standard library only (the hook imports it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from datacore_msg.fsutil import open_private_fd, rotate_log

LOCK_NAME = "watcher.lock"
LOG_NAME = "watcher.log"
FD_ENV = "DATACORE_MSG_WATCHER_LOCK_FD"
#: The watcher's log is moved to ``watcher.log.1`` when a watcher starts and it is over this size.
LOG_LIMIT = 1024 * 1024


def lock_path(space_state_dir: Path) -> Path:
    return space_state_dir / LOCK_NAME


def log_path(space_state_dir: Path) -> Path:
    return space_state_dir / LOG_NAME


class WatcherLock:
    """The watcher's exclusive lock, held until :meth:`release` or the process ends."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
            self.fd = -1


def _try_exclusive(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _inherited(path: Path) -> int | None:
    """The lock descriptor handed over by :func:`start_watcher`, if it is really this lock file."""
    value = os.environ.pop(FD_ENV, None)
    if value is None or not value.isdigit():
        return None
    fd = int(value)
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return None
    if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
        return None
    os.set_inheritable(fd, False)
    return fd


def acquire(space_state_dir: Path, wait_s: float = 1.0) -> WatcherLock | None:
    """The watcher's lock, or None when another watcher holds it (a command probing the lock
    meanwhile only delays this by a moment, hence ``wait_s``)."""
    path = lock_path(space_state_dir)
    fd = _inherited(path)
    if fd is not None and _try_exclusive(fd):
        return WatcherLock(fd)
    if fd is not None:
        os.close(fd)
    fd = open_private_fd(path)
    deadline = time.monotonic() + wait_s
    while not _try_exclusive(fd):
        if time.monotonic() >= deadline:
            os.close(fd)
            return None
        time.sleep(0.05)
    return WatcherLock(fd)


def watcher_running(space_state_dir: Path) -> bool:
    """Whether a watcher holds the space's lock (creates nothing)."""
    try:
        fd = os.open(lock_path(space_state_dir), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def start_watcher(space_state_dir: Path, argv: Sequence[str]) -> bool:
    """Start ``argv`` (``datacore-msg sync --watch …``) detached, its output appended to
    ``watcher.log`` (moved to ``watcher.log.1`` first when over :data:`LOG_LIMIT`), unless a watcher
    holds the lock: whether it was started."""
    fd = open_private_fd(lock_path(space_state_dir))
    try:
        if not _try_exclusive(fd):
            return False
        rotate_log(log_path(space_state_dir), LOG_LIMIT)
        log = open_private_fd(log_path(space_state_dir), append=True)
        try:
            env = dict(os.environ)
            env[FD_ENV] = str(fd)
            subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                pass_fds=(fd,),
                start_new_session=True,
            )
        finally:
            os.close(log)
        return True
    finally:
        os.close(fd)
