"""Opening the SQLite file of one space: pragmas, busy timeout, and the write-transaction helper.

Connections run in autocommit mode (``isolation_level=None``); every write happens inside an explicit
``BEGIN IMMEDIATE`` so that competing writers queue on SQLite's own lock (with the busy timeout)
instead of failing on a read-to-write upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datacore_msg.errors import StorageError
from datacore_msg.eventlog.sqlite_errors import translating

BUSY_TIMEOUT_S = 60.0


def connect(path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise StorageError(f"{path}: cannot create the event log: {exc.strerror}") from None
    with translating(path):
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        _use_wal(conn, busy_timeout_s)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    return conn


def _use_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Switch a new file to WAL (persistent, so later opens only read it). Changing the journal
    mode does not wait on SQLite's busy handler, so a file being created by several processes at
    once is retried here until the busy timeout."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def write_transaction(conn: sqlite3.Connection, path: Path | str) -> Iterator[sqlite3.Connection]:
    with translating(path):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
