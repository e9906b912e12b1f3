"""The views lock: taken at once when free, a timeout when held, woken as soon as it is released."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from datacore_msg.projections.drivers.viewlock import LockTimeout, views_lock

HOLDER = (
    "import filelock, sys; lock = filelock.FileLock(sys.argv[1]); lock.acquire();"
    " print('held', flush=True); sys.stdin.read()"
)


def _holder(path: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
    return proc


def _release(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_a_free_lock_is_taken_and_given_back(tmp_path: Path) -> None:
    path = tmp_path / "views" / ".lock"
    first = views_lock(path, 1.0)
    first.acquire()
    first.release()
    second = views_lock(path, 1.0)
    second.acquire()
    second.release()


@pytest.mark.slow
def test_a_held_lock_times_out_then_is_taken_when_released(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    holder = _holder(path)
    try:
        lock = views_lock(path, 0.2)
        with pytest.raises(LockTimeout):
            lock.acquire()
        waiter = views_lock(path, 60.0)
        started = time.monotonic()
        released_at: list[float] = []

        def release_soon() -> None:
            time.sleep(0.3)
            released_at.append(time.monotonic())
            _release(holder)

        threading.Thread(target=release_soon).start()
        waiter.acquire()
        assert released_at and time.monotonic() - started < 30
        again = views_lock(path, 0.1)
        with pytest.raises(LockTimeout):
            again.acquire()
        waiter.release()
        again.acquire()
        again.release()
    finally:
        if holder.poll() is None:
            _release(holder)
