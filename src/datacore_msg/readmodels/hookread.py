"""What the Claude Code hook reads on every prompt: the derived state, never the events themselves.

The hook must cost little more than starting Python, so this module imports the standard library
only (no attrs, no codec) and answers from the rows the projections keep (``task_state``,
``view_entries``) in one read transaction:

* whether those rows are current: the log's head against the projection's checkpoint, and the
  format and trust fingerprint the rows were folded with (when not, the hook takes the full path,
  which catches the views up first);
* the agent's open tasks (WAITING, QUEUED, WORKING) with what is shown of them, the text apart;
* the user's unread messages (subject, sender).

With each sender comes what is known of its name: whether a pinned key backs it, and the pinned name
it looks like. A row without that (never the case in the current format) reads as unverified.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from datacore_msg.errors import StorageError
from datacore_msg.eventlog.sqlite_errors import translating
from datacore_msg.readmodels.meta import DERIVED_FORMAT, PROJECTION
from datacore_msg.records import TYPE_CHECKING, NamedTuple
from datacore_msg.task_states import OUTSTANDING, sql_list

if TYPE_CHECKING:  # pathlib is not imported at run time: the fast paths do without it
    from pathlib import Path

BUSY_TIMEOUT_MS = 5000


class Freshness(NamedTuple):
    head: int
    checkpoint: int
    derived_format: str | None
    trust: str | None

    @property
    def current(self) -> bool:
        """The derived rows hold every event, in the current format (pinned keys aside)."""
        return self.head <= self.checkpoint and self.derived_format == DERIVED_FORMAT


class OpenTask(NamedTuple):
    task: str
    sender: str
    state: str
    tier: str | None
    priority: str | None
    effort: int | None
    tags: str
    estimate: int | None
    requested_ms: int
    state_ms: int
    retry_count: int
    sort: tuple[int, str, int]
    verified: bool = True
    looks_like: str | None = None


class Unread(NamedTuple):
    message: str
    sender: str
    verified: bool = True
    looks_like: str | None = None


@contextmanager
def reading(db: Path | str) -> Iterator[sqlite3.Connection]:
    """A connection inside one read transaction (a consistent snapshot); the file must exist."""
    if not os.path.isfile(db):
        raise StorageError(f"{db}: no event log here yet")
    with translating(db):
        conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()


def freshness(conn: sqlite3.Connection, projection: str = PROJECTION) -> Freshness:
    head, checkpoint, fmt, trust = conn.execute(
        "SELECT (SELECT COALESCE(MAX(position), 0) FROM events), "
        "(SELECT position FROM view_checkpoints WHERE name = ?), "
        "(SELECT value FROM derived_meta WHERE key = 'format'), "
        "(SELECT value FROM derived_meta WHERE key = 'trust')",
        (projection,),
    ).fetchone()
    return Freshness(int(head), int(checkpoint or 0), fmt, trust)


def open_tasks(conn: sqlite3.Connection, agent: str) -> list[OpenTask]:
    """The agent's WAITING, QUEUED and WORKING tasks, in request order."""
    rows = conn.execute(
        "SELECT task, sender, state, tier, priority, effort, tags, estimate, requested_ms, state_ms, "
        "retry_count, s_hlc, s_origin, s_seq, sender_verified, sender_looks_like FROM task_state "
        f"WHERE agent = ? AND state IN {sql_list(OUTSTANDING)} "
        "ORDER BY s_hlc, s_origin, s_seq",
        (agent,),
    ).fetchall()
    return [
        OpenTask(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6] or "",
            row[7],
            int(row[8] or 0),
            int(row[9]),
            int(row[10]),
            (int(row[11]), str(row[12]), int(row[13])),
            bool(row[14]),
            row[15],
        )
        for row in rows
    ]


def task_text(conn: sqlite3.Connection, task: str) -> str | None:
    row = conn.execute("SELECT text FROM task_state WHERE task = ?", (task,)).fetchone()
    return None if row is None else row[0]


def unread_messages(conn: sqlite3.Connection) -> list[Unread]:
    """Messages in the user's inbox that the user has not marked, oldest first."""
    rows = conn.execute(
        "SELECT subject, peer, peer_verified, peer_looks_like FROM view_entries "
        "WHERE role = 'inbox' AND status = 'unread' ORDER BY s_hlc, s_origin, s_seq"
    ).fetchall()
    return [Unread(row[0], row[1] or "?", bool(row[2]), row[3]) for row in rows]
