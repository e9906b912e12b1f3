"""SQLite failures become typed datacore-msg errors naming the file, never raw tracebacks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from datacore_msg.errors import Busy, IntegrityError, StorageError
from datacore_msg.eventlog.connection import connect, write_transaction
from datacore_msg.eventlog.sqlite_errors import translate, translating
from datacore_msg.migrations.runner import open_store

PATH = "/state/spaces/0-personal/events.sqlite3"


@pytest.mark.parametrize(
    ("exc", "expected", "words"),
    [
        (sqlite3.OperationalError("database is locked"), Busy, "busy"),
        (sqlite3.OperationalError("database table is locked: events"), Busy, "busy"),
        (sqlite3.OperationalError("database is busy"), Busy, "busy"),
        (sqlite3.OperationalError("database or disk is full"), StorageError, "disk is full"),
        (sqlite3.IntegrityError("UNIQUE constraint failed: events.id"), IntegrityError, "UNIQUE"),
        (
            sqlite3.IntegrityError("events are append-only: UPDATE refused"),
            IntegrityError,
            "append-only",
        ),
        (sqlite3.DatabaseError("file is not a database"), StorageError, "not a readable"),
        (sqlite3.DatabaseError("database disk image is malformed"), StorageError, "not a readable"),
        (sqlite3.OperationalError("disk I/O error"), StorageError, "disk I/O error"),
    ],
)
def test_translate_maps_sqlite_errors_to_typed_errors(exc: sqlite3.Error, expected: type, words: str) -> None:
    err = translate(exc, PATH)
    assert type(err) is expected
    assert PATH in str(err)
    assert words in str(err)


def test_translating_reraises_as_typed_error_with_the_cause_kept() -> None:
    original = sqlite3.OperationalError("database is locked")
    with pytest.raises(Busy) as info, translating(PATH):
        raise original
    assert info.value.__cause__ is original
    assert info.value.code == "busy"


def test_translating_leaves_other_exceptions_alone() -> None:
    with pytest.raises(KeyError), translating(PATH):
        raise KeyError("x")


def test_opening_a_file_of_random_bytes_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StorageError) as info:
        open_store(path)
    assert str(path) in str(info.value)
    assert info.value.code == "storage"


def test_opening_a_text_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    path.write_text("* TODO this is an org file, not a database\n" * 100)
    with pytest.raises(StorageError, match="not a readable event log"):
        open_store(path)


def test_state_folder_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(StorageError):
        connect(blocker / "spaces" / "events.sqlite3")


def test_a_writer_blocked_past_the_busy_timeout_gets_busy(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    holder = connect(path)
    waiter = connect(path, busy_timeout_s=0.05)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(Busy, match="busy"), write_transaction(waiter, path):
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        waiter.close()


def test_write_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    conn = connect(path)
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), write_transaction(conn, path):
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert not conn.in_transaction
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    conn.close()
