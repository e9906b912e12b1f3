"""The views lock: one cross-process lock around catch-up and rebuild, with a timeout and no polling.

Theory of operation
-------------------
The lock is ``flock(LOCK_EX)`` on a small file next to the views (the same kind of lock the
``filelock`` package takes on POSIX, so either may hold it against the other). The common case, a
free lock, costs one non-blocking ``flock``. When another process holds it, a helper thread makes
the blocking ``flock`` call, so the waiter wakes the moment the holder releases (no poll interval,
no sleep), while this thread waits on an event for at most the timeout. On a timeout the helper is
told to give the lock back as soon as it gets it, and :class:`LockTimeout` is raised. The lock is
released by closing the file (also done by the kernel if the process dies).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LockTimeout(Exception):
    """Another process held the lock for longer than the timeout."""


class ViewsLock:
    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy = True
        except BaseException:
            os.close(fd)
            raise
        else:
            busy = False
        if busy and not _wait(fd, self.timeout_s):
            raise LockTimeout(str(self.path))
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _wait(fd: int, timeout_s: float) -> bool:
    """Block on ``fd``'s lock in a helper thread for up to ``timeout_s``; whether it was taken
    (if not, ``fd`` is closed, by the helper once its call returns)."""
    import threading  # only when the lock is busy: an uncontended command needs no threads

    done = threading.Event()
    state = {"abandoned": False, "error": False}
    guard = threading.Lock()

    def take() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            state["error"] = True
        with guard:
            if state["abandoned"]:
                os.close(fd)
            done.set()

    threading.Thread(target=take, name="datacore-msg views lock", daemon=True).start()
    taken = done.wait(timeout_s)
    with guard:
        if not taken and not done.is_set():
            state["abandoned"] = True
            return False
    if state["error"]:
        os.close(fd)
        return False
    return True


def views_lock(lock_path: Path, timeout_s: float) -> ViewsLock:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    return ViewsLock(lock_path, timeout_s)
