"""Derived state that projections keep next to the log: rendered entries, checkpoints, file hashes.

Everything here can be deleted and rebuilt from the events (``rebuild`` does exactly that). It lives
in the same SQLite file so that a projection's state and its checkpoint move together in one
transaction.

* ``view_entries``: one rendered org entry per (subject, role) — role names the view it belongs to
  (``inbox``, ``outbox``) — with the file it currently lives in, its sort key, and for messages the
  status its viewer sees (``unread``, ``read``, …) and the other party, for an inbox entry with
  whether a pinned key backs the sender's name and the pinned name it looks like (read by the hook).
* ``view_checkpoints``: the last log position a projection has applied.
* ``view_files``: for each file, the hash of the bytes last written (to tell our own writes from hand
  edits), a pending hash (set just before a write, so a crash between rename and record is not
  mistaken for a hand edit) and a dirty flag (entries changed since the last write).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from datacore_msg.eventlog.connection import write_transaction
from datacore_msg.eventlog.sqlite_errors import translating
from datacore_msg.readmodels.bulk import without_indexes
from datacore_msg.readmodels.entry import Entry
from datacore_msg.readmodels.searchdoc import SearchDoc
from datacore_msg.readmodels.searchindex import (
    apply_docs,
    end_staging,
    replace_docs_from_stage,
    stage_docs,
    start_staging,
)
from datacore_msg.readmodels.taskcache import TaskRow, clear, write_rows
from datacore_msg.records import Record, set_field


class FileRecord(Record):
    __slots__ = ("dirty", "file", "pending_hash", "written_hash", "written_stat")
    file: str
    written_hash: str | None
    pending_hash: str | None
    dirty: bool
    written_stat: str | None

    def __init__(
        self,
        file: str,
        written_hash: str | None,
        pending_hash: str | None,
        dirty: bool,
        written_stat: str | None = None,
    ) -> None:
        set_field(self, "file", file)
        set_field(self, "written_hash", written_hash)
        set_field(self, "pending_hash", pending_hash)
        set_field(self, "dirty", dirty)
        set_field(self, "written_stat", written_stat)


_COLUMNS = "subject, role, file, s_hlc, s_origin, s_seq, text, status, peer, peer_verified, peer_looks_like"
_PLACES = ", ".join("?" for _ in _COLUMNS.split(", "))
#: Entries staged per statement by :meth:`ViewCache.replace_all`.
STAGE_BATCH = 2000


def _entry_row(entry: Entry) -> tuple[object, ...]:
    verified = None if entry.peer_verified is None else int(entry.peer_verified)
    return (
        entry.subject,
        entry.role,
        entry.file,
        *entry.sort,
        entry.text,
        entry.status,
        entry.peer,
        verified,
        entry.peer_looks_like,
    )


class ViewCache:
    """Writes here use ``synchronous=NORMAL``: the state is derived, a power cut can at worst roll it
    back to an earlier checkpoint (re-applied on the next command), and a killed process loses
    nothing that was committed. The event log itself stays at ``FULL``."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with translating(self.path):
            self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with write_transaction(self.conn, self.path) as conn:
                yield conn
        finally:
            with translating(self.path):
                self.conn.execute("PRAGMA synchronous=FULL")

    def checkpoint(self, name: str) -> int:
        with translating(self.path):
            row = self.conn.execute(
                "SELECT position FROM view_checkpoints WHERE name = ?", (name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def entry_files(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        with translating(self.path):
            for subject, role in keys:
                row = self.conn.execute(
                    "SELECT file FROM view_entries WHERE subject = ? AND role = ?", (subject, role)
                ).fetchone()
                if row is not None:
                    out[(subject, role)] = row[0]
        return out

    def entry_rows(
        self, keys: Iterable[tuple[str, str]], chunk: int = 500
    ) -> dict[tuple[str, str], tuple[str, tuple[int, str, int], str]]:
        """Per (subject, role) cached: its file, sort key and text (one query per ``chunk``
        subjects, on the (subject, role) index)."""
        wanted = set(keys)
        subjects = sorted({subject for subject, _ in wanted})
        out: dict[tuple[str, str], tuple[str, tuple[int, str, int], str]] = {}
        with translating(self.path):
            for start in range(0, len(subjects), chunk):
                part = subjects[start : start + chunk]
                marks = ", ".join("?" * len(part))
                for row in self.conn.execute(
                    "SELECT subject, role, file, s_hlc, s_origin, s_seq, text FROM view_entries "
                    f"WHERE subject IN ({marks})",
                    part,
                ):
                    key = (row[0], row[1])
                    if key in wanted:
                        out[key] = (row[2], (int(row[3]), str(row[4]), int(row[5])), row[6])
        return out

    def apply(
        self,
        name: str,
        checkpoint: int,
        upserts: Iterable[Entry],
        deletes: Iterable[tuple[str, str]],
        dirty: Iterable[str],
        task_rows: Iterable[TaskRow] = (),
        docs: Iterable[SearchDoc] = (),
        doc_deletes: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Store changed entries, task rows and search documents (dropping those of the (kind,
        subject) pairs in ``doc_deletes``), mark files dirty and move the checkpoint, atomically."""
        with self._write():
            write_rows(self.conn, list(task_rows))
            apply_docs(self.conn, docs, doc_deletes)
            self.conn.executemany("DELETE FROM view_entries WHERE subject = ? AND role = ?", list(deletes))
            self.conn.executemany(
                f"INSERT INTO view_entries ({_COLUMNS}) VALUES ({_PLACES}) "
                "ON CONFLICT(subject, role) DO UPDATE SET "
                "file = excluded.file, s_hlc = excluded.s_hlc, s_origin = excluded.s_origin, "
                "s_seq = excluded.s_seq, text = excluded.text, status = excluded.status, "
                "peer = excluded.peer, peer_verified = excluded.peer_verified, "
                "peer_looks_like = excluded.peer_looks_like",
                [_entry_row(e) for e in upserts],
            )
            self.conn.executemany(
                "INSERT INTO view_files (file, dirty) VALUES (?, 1) "
                "ON CONFLICT(file) DO UPDATE SET dirty = 1",
                [(file,) for file in sorted(set(dirty))],
            )
            self.conn.execute(
                "INSERT INTO view_checkpoints (name, position) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                (name, checkpoint),
            )

    def replace_all(
        self,
        name: str,
        checkpoint: int,
        entries: Iterable[Entry],
        task_rows: Iterable[TaskRow] = (),
        meta: dict[str, str] | None = None,
        docs: Iterable[SearchDoc] = (),
    ) -> None:
        """Drop every entry, task row and search document and load these (used by rebuild).

        ``entries`` may be lazy: they are first staged, :data:`STAGE_BATCH` at a time, in a
        temporary table of this connection (which takes no lock on the log and spills to disk),
        and only then, with ``task_rows`` (read after every entry), moved in one transaction.
        ``docs`` are staged the same way; when it is a list that the producer of ``entries``
        fills as it goes, it is emptied into the staging table after each batch of entries, so
        neither entries nor documents are held whole."""
        with translating(self.path):
            self.conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS staged_entries AS SELECT {_COLUMNS} FROM view_entries "
                "WHERE false"
            )
            self.conn.execute("DELETE FROM temp.staged_entries")
            start_staging(self.conn)
        try:
            self._stage(entries, docs)
            with self._write():
                clear(self.conn)
                write_rows(self.conn, list(task_rows))
                replace_docs_from_stage(self.conn)
                self.conn.executemany(
                    "INSERT INTO derived_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    sorted((meta or {}).items()),
                )
                self.conn.execute("DELETE FROM view_entries")
                self.conn.execute("UPDATE view_files SET dirty = 1")
                # in primary key order (appends), the other indexes built once afterwards
                with without_indexes(self.conn, "view_entries"):
                    self.conn.execute(
                        f"INSERT INTO view_entries ({_COLUMNS}) SELECT {_COLUMNS} FROM "
                        "temp.staged_entries ORDER BY file, s_hlc, s_origin, s_seq, role"
                    )
                self.conn.execute(
                    "INSERT INTO view_files (file, dirty) SELECT DISTINCT file, 1 FROM view_entries "
                    "WHERE true ON CONFLICT(file) DO UPDATE SET dirty = 1"
                )
                self.conn.execute(
                    "INSERT INTO view_checkpoints (name, position) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                    (name, checkpoint),
                )
        finally:
            with translating(self.path):
                self.conn.execute("DROP TABLE IF EXISTS temp.staged_entries")
                end_staging(self.conn)

    def _stage(self, entries: Iterable[Entry], docs: Iterable[SearchDoc]) -> None:
        with translating(self.path):
            self.conn.execute("BEGIN")
            try:
                rows = (_entry_row(entry) for entry in entries)
                while batch := list(itertools.islice(rows, STAGE_BATCH)):
                    self.conn.executemany(
                        f"INSERT INTO temp.staged_entries ({_COLUMNS}) VALUES ({_PLACES})", batch
                    )
                    if isinstance(docs, list):
                        stage_docs(self.conn, docs)
                        docs.clear()
                stage_docs(self.conn, docs)
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def texts(self, file: str) -> list[str]:
        with translating(self.path):
            rows = self.conn.execute(
                "SELECT text FROM view_entries WHERE file = ? ORDER BY s_hlc, s_origin, s_seq",
                (file,),
            )
            return [row[0] for row in rows]

    def last_sort(self, file: str) -> tuple[int, str, int] | None:
        with translating(self.path):
            row = self.conn.execute(
                "SELECT s_hlc, s_origin, s_seq FROM view_entries WHERE file = ? "
                "ORDER BY s_hlc DESC, s_origin DESC, s_seq DESC LIMIT 1",
                (file,),
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), int(row[2]))

    def subjects(
        self, role: str, file: str | None = None, statuses: Iterable[str] | None = None
    ) -> list[str]:
        """Subjects rendered in ``role``'s views (optionally in one file, and only those whose
        viewer sees one of ``statuses``), in view order."""
        return [subject for subject, _ in self.statuses(role, file, statuses)]

    def statuses(
        self, role: str, file: str | None = None, statuses: Iterable[str] | None = None
    ) -> list[tuple[str, str | None]]:
        """(subject, status) of each entry rendered in ``role``'s views (optionally in one file, and
        only those whose viewer sees one of ``statuses``), in view order: a page of the inbox
        without folding every message in it.

        With ``statuses``, the rows are found through the ``(role, status)`` index and the file is
        only a filter (``+file``): left to itself, SQLite walks the file's part of the primary key
        instead, reading every entry's text, so ``inbox`` at 70,000 live entries took 25 ms to find
        its 15 unread ones (0.2 ms this way)."""
        sql = "SELECT subject, status FROM view_entries WHERE role = ?"
        params: tuple[str, ...] = (role,)
        if file is not None:
            sql += " AND +file = ?" if statuses is not None else " AND file = ?"
            params = (*params, file)
        if statuses is not None:
            wanted = tuple(statuses)
            sql += f" AND status IN ({', '.join('?' for _ in wanted)})"
            params = (*params, *wanted)
        with translating(self.path):
            rows = self.conn.execute(sql + " ORDER BY s_hlc, s_origin, s_seq", params)
            return [(row[0], row[1]) for row in rows]

    def latest(
        self, roles: Iterable[str], before: tuple[int, str, int] | None, limit: int
    ) -> list[tuple[str, str, str | None, tuple[int, str, int]]]:
        """(subject, role, status, sort) of the ``limit`` newest entries of ``roles`` sorted before
        ``before`` (all when None), newest first: a page of the chat window's list. Each file is
        read newest first along its primary key and the files merged, so a page costs ``limit`` rows
        per file whatever the log holds."""
        wanted = tuple(roles)
        marks = ", ".join("?" for _ in wanted)
        sql = (
            "SELECT subject, role, status, s_hlc, s_origin, s_seq FROM view_entries "
            f"WHERE file = ? AND role IN ({marks})"
        )
        if before is not None:
            sql += " AND (s_hlc, s_origin, s_seq) < (?, ?, ?)"
        sql += " ORDER BY s_hlc DESC, s_origin DESC, s_seq DESC LIMIT ?"
        rows: list[tuple[str, str, str | None, tuple[int, str, int]]] = []
        with translating(self.path):
            files = [row[0] for row in self.conn.execute("SELECT file FROM view_files")]
            for file in files:
                params = (file, *wanted, *(before or ()), limit)
                for row in self.conn.execute(sql, params):
                    rows.append((row[0], row[1], row[2], (int(row[3]), str(row[4]), int(row[5]))))
        rows.sort(key=lambda row: row[3], reverse=True)
        return rows[:limit]

    def files(self) -> list[FileRecord]:
        with translating(self.path):
            rows = self.conn.execute(
                "SELECT file, written_hash, pending_hash, dirty, written_stat FROM view_files ORDER BY file"
            ).fetchall()
        return [FileRecord(row[0], row[1], row[2], bool(row[3]), row[4]) for row in rows]

    def file_record(self, file: str) -> FileRecord:
        with translating(self.path):
            row = self.conn.execute(
                "SELECT file, written_hash, pending_hash, dirty, written_stat FROM view_files WHERE file = ?",
                (file,),
            ).fetchone()
        if row is None:
            return FileRecord(file, None, None, True)
        return FileRecord(row[0], row[1], row[2], bool(row[3]), row[4])

    def forget_files(self, files: Iterable[str]) -> None:
        with self._write():
            self.conn.executemany("DELETE FROM view_files WHERE file = ?", [(f,) for f in files])

    def set_pending(self, pending: Iterable[tuple[str, str]]) -> None:
        """Record (file, hash) pairs about to be written."""
        with self._write():
            self.conn.executemany(
                "INSERT INTO view_files (file, pending_hash, dirty) VALUES (?, ?, 1) "
                "ON CONFLICT(file) DO UPDATE SET pending_hash = excluded.pending_hash",
                list(pending),
            )

    def set_written(self, written: Iterable[tuple[str, str, str]]) -> None:
        """Record (file, hash, stat token) triples just written (or found already right)."""
        with self._write():
            self.conn.executemany(
                "INSERT INTO view_files (file, written_hash, pending_hash, dirty, written_stat) "
                "VALUES (?, ?, NULL, 0, ?) ON CONFLICT(file) DO UPDATE SET "
                "written_hash = excluded.written_hash, pending_hash = NULL, dirty = 0, "
                "written_stat = excluded.written_stat",
                list(written),
            )
