"""Checkpoints of a long-lived writer's WAL, made beside its commits instead of inside them.

Theory of operation
-------------------
In WAL mode SQLite checkpoints inside a commit: the commit that takes the WAL past
``wal_autocheckpoint`` pages (1,000 by default, about 4 MiB) also copies the WAL's pages into the
database file and fsyncs it, which makes that one commit several milliseconds slower (4-5 ms for a
one-event commit on the benchmark machine, 11 ms after a bulk load). For a writer whose every
commit is waited for — the relay acknowledges and fans out a batch only once it is committed, a
live message reaches its reader when the reader's log has stored it — that is one message in a few
hundred arriving late.

A :class:`Checkpointer` takes that work off the commits: a thread with its own connection to the
file that looks every :data:`POLL_S` whether the file changed (``PRAGMA data_version``) and runs a
``PASSIVE`` checkpoint, which copies what it can without waiting for any reader or writer and
without blocking them, once the writer has been quiet for a whole look (so it seldom runs beside a
commit: both fsync, and a commit beside a checkpoint is slower too), or after :data:`BUSY_MAX_S`
of writes without a pause. While it runs, the writer's own connection keeps auto-checkpoint only
as a backstop (:data:`BACKSTOP_PAGES`), so the WAL stays bounded even if the thread falls behind
or fails; :func:`checkpointed` sets that up around a block and puts the default back after it.

Crash safety does not change: a commit is durable in the WAL (``synchronous=FULL``) when it
returns, whoever checkpoints later; a checkpoint only copies committed pages into the database file
and is itself safe to interrupt.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from datacore_msg.eventlog.connection import connect

#: Seconds between the thread's looks at the file (one ``PRAGMA data_version`` each).
POLL_S = 0.1
#: Seconds of writes without a quiet look after which the thread checkpoints anyway.
BUSY_MAX_S = 2.0
#: The writer's auto-checkpoint while a :class:`Checkpointer` runs: the WAL's bound should the thread
#: not keep up (about 40 MiB of 4 KiB pages).
BACKSTOP_PAGES = 10_000
#: SQLite's default ``wal_autocheckpoint``, put back when the checkpointer stops.
DEFAULT_PAGES = 1_000


class Checkpointer:
    """A daemon thread that checkpoints ``path`` (PASSIVE) when it changed and then stayed quiet for
    ``poll_s``, or changed for ``busy_max_s`` without a pause, until :meth:`close`. A failing round
    is counted in :attr:`failures` and tried again at the next look."""

    def __init__(self, path: Path, poll_s: float = POLL_S, busy_max_s: float = BUSY_MAX_S) -> None:
        self.path = path
        self.poll_s = poll_s
        self.busy_max_s = busy_max_s
        self.checkpoints = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = connect(self.path)
        except Exception:  # the writer's backstop keeps the WAL bounded without this thread
            self.failures += 1
            return
        try:
            seen: int | None = None
            dirty_since: float | None = time.monotonic()  # what was written before it started
            while not self._stop.wait(self.poll_s):
                try:
                    version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                    now = time.monotonic()
                    changed, seen = version != seen, version
                    if changed and dirty_since is None:
                        dirty_since = now
                    if due(changed, dirty_since, now, self.busy_max_s):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        self.checkpoints += 1
                        dirty_since = None
                except sqlite3.Error:
                    self.failures += 1
        finally:
            conn.close()


def due(changed: bool, dirty_since: float | None, now: float, busy_max_s: float) -> bool:
    """Whether to checkpoint at this look: something was written since the last checkpoint
    (``dirty_since``), and the file did not change since the previous look (the writer paused) or
    it has been written for ``busy_max_s`` without one."""
    if dirty_since is None:
        return False
    return not changed or now - dirty_since >= busy_max_s


@contextmanager
def checkpointed(
    conn: sqlite3.Connection, path: Path, poll_s: float = POLL_S, busy_max_s: float = BUSY_MAX_S
) -> Iterator[Checkpointer]:
    """While the block runs, ``conn`` (the writer, used on this thread) leaves checkpoints to a
    :class:`Checkpointer` of ``path``; afterwards it checkpoints in its commits again."""
    conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    checkpointer = Checkpointer(path, poll_s, busy_max_s)
    try:
        yield checkpointer
    finally:
        checkpointer.close()
        # Left from another thread (a writer dropped without being closed, its block ended by the
        # garbage collector) or after ``conn`` was closed, the setting ends with the connection.
        with suppress(sqlite3.ProgrammingError):
            conn.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_PAGES}")
