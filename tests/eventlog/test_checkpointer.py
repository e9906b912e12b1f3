"""Checkpoints beside a writer's commits: none inside them while a Checkpointer runs, the thread
checkpoints once the writer pauses (or has written for long), and the default comes back after."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from datacore_msg.eventlog.checkpointer import BACKSTOP_PAGES, DEFAULT_PAGES, checkpointed, due
from datacore_msg.eventlog.connection import connect

ROW = "x" * 3000  # about one 4 KiB page a row


def _writer(tmp_path: Path) -> tuple[sqlite3.Connection, Path]:
    path = tmp_path / "log.sqlite"
    conn = connect(path)
    conn.execute("CREATE TABLE t (v TEXT)")
    return conn, path


def _commit(conn: sqlite3.Connection, rows: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t VALUES (?)", [(ROW,)] * rows)
    conn.execute("COMMIT")


def _autocheckpoint(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_without_a_checkpointer_the_commit_past_1000_pages_checkpoints(tmp_path: Path) -> None:
    conn, path = _writer(tmp_path)
    before = path.stat().st_size
    _commit(conn, 1500)
    assert path.stat().st_size > before + 1000 * 4096  # copied into the database file, in the commit
    conn.close()


def test_with_a_checkpointer_the_commit_does_not_checkpoint_and_the_thread_does(tmp_path: Path) -> None:
    conn, path = _writer(tmp_path)
    before = path.stat().st_size
    with checkpointed(conn, path, poll_s=3600) as checkpointer:  # the thread waits: nothing moves
        assert _autocheckpoint(conn) == BACKSTOP_PAGES
        _commit(conn, 1500)
        assert path.stat().st_size == before
        assert checkpointer.checkpoints == 0
    assert _autocheckpoint(conn) == DEFAULT_PAGES
    assert not checkpointer._thread.is_alive()
    with checkpointed(conn, path, poll_s=0.02) as checkpointer:
        _commit(conn, 1500)
        deadline = time.monotonic() + 30

        def copied() -> bool:  # both commits, by the thread (its count moves once a checkpoint ends)
            return path.stat().st_size >= before + 2500 * 4096 and checkpointer.checkpoints >= 1

        while not copied() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert copied()
        assert checkpointer.failures == 0
        assert int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 3000
    conn.close()


@pytest.mark.parametrize(
    ("changed", "dirty_since", "now", "expected"),
    [
        (False, None, 10.0, False),  # nothing written since the last checkpoint
        (True, 9.5, 10.0, False),  # the writer is busy: wait for a pause
        (False, 9.5, 10.0, True),  # it paused
        (True, 7.0, 10.0, True),  # busy for 3 s, over busy_max_s: checkpoint anyway
    ],
)
def test_a_checkpoint_is_due_after_a_pause_or_a_long_busy_spell(
    changed: bool, dirty_since: float | None, now: float, expected: bool
) -> None:
    assert due(changed, dirty_since, now, 2.0) is expected


def test_a_block_left_from_another_thread_does_not_raise(tmp_path: Path) -> None:
    """A writer dropped without being closed has its block ended wherever the garbage collector runs."""
    import threading

    path = tmp_path / "log.sqlite3"
    conn = connect(path)
    block = checkpointed(conn, path)
    block.__enter__()
    errors: list[BaseException] = []

    def leave() -> None:
        try:
            block.__exit__(None, None, None)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=leave)
    thread.start()
    thread.join()
    conn.close()
    assert errors == []
