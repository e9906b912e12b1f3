"""Derived task state kept next to the log, indexed for the governor's figures.

One row per task (``task_state``: agent, sender, state, estimate, when the governor let it through,
when it last changed state, what the Claude Code hook shows: tier, effort, tags, text, whether a
pinned key backs the sender's name and the pinned name it looks like, and the origin key of a
request not signed by a key pinned for its sender) and one row per reported completion
(``task_tokens``). The rows are written by the projections' catch-up in
the same transaction as the view entries and the checkpoint (:meth:`ViewCache.apply`), so they are
always those of the events up to the checkpoint; like the rest of the derived state they are deleted
and rebuilt by ``rebuild``.

Every figure the governor needs is one indexed query over the *outstanding* or *recent* rows: the
cost of a decision does not grow with the history in the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from datacore_msg.eventlog.sqlite_errors import translating
from datacore_msg.records import TYPE_CHECKING, Record, set_field
from datacore_msg.task_states import CANCELLED, IN_QUEUE, OUTSTANDING, REQUESTED, WORKING, sql_list

if TYPE_CHECKING:
    from typing import Any

OUTSTANDING_SQL = sql_list(OUTSTANDING)
#: What the queue figures count: tasks waiting or queued, and deferred requests (which wait too).
#: Written as a state list (a deferred request is REQUESTED), so the (agent, state, ...) indexes serve
#: it: an OR with ``deferred_until IS NOT NULL`` made SQLite scan every task of the agent.
QUEUED_OR_DEFERRED = (
    f"(state IN {sql_list((*IN_QUEUE, REQUESTED))} "
    f"AND (state <> '{REQUESTED}' OR deferred_until IS NOT NULL))"
)
#: Outstanding tasks and deferred requests, in the same index-friendly form.
OUTSTANDING_OR_DEFERRED = (
    f"(state IN {sql_list((*OUTSTANDING, REQUESTED))} "
    f"AND (state <> '{REQUESTED}' OR deferred_until IS NOT NULL))"
)


class TaskRow(Record):
    __slots__ = (
        "agent",
        "completions",
        "deferred_until",
        "effort",
        "estimate",
        "let_through_ms",
        "priority",
        "requested_ms",
        "retry_count",
        "sender",
        "sender_looks_like",
        "sender_verified",
        "sort",
        "state",
        "state_ms",
        "tags",
        "task",
        "text",
        "tier",
        "unpinned_key",
    )
    task: str
    agent: str
    sender: str
    state: str
    estimate: int | None
    let_through_ms: int | None
    state_ms: int
    retry_count: int
    priority: str | None
    sort: tuple[int, str, int]
    completions: tuple[tuple[int, int], ...]
    tier: str | None
    effort: int | None
    tags: tuple[str, ...]
    requested_ms: int | None
    text: str | None
    #: The request's origin key when no key pinned for its sender signed it, else None.
    unpinned_key: str | None
    sender_verified: bool
    sender_looks_like: str | None
    #: A deferred request's next decision time (still REQUESTED), else None.
    deferred_until: int | None

    def __init__(
        self,
        task: str,
        agent: str,
        sender: str,
        state: str,
        estimate: int | None,
        let_through_ms: int | None,
        state_ms: int,
        retry_count: int,
        priority: str | None,
        sort: tuple[int, str, int],
        completions: tuple[tuple[int, int], ...] = (),
        tier: str | None = None,
        effort: int | None = None,
        tags: tuple[str, ...] = (),
        requested_ms: int | None = None,
        text: str | None = None,
        unpinned_key: str | None = None,
        sender_verified: bool = False,
        sender_looks_like: str | None = None,
        deferred_until: int | None = None,
    ) -> None:
        set_field(self, "task", task)
        set_field(self, "agent", agent)
        set_field(self, "sender", sender)
        set_field(self, "state", state)
        set_field(self, "estimate", estimate)
        set_field(self, "let_through_ms", let_through_ms)
        set_field(self, "state_ms", state_ms)
        set_field(self, "retry_count", retry_count)
        set_field(self, "priority", priority)
        set_field(self, "sort", sort)
        set_field(self, "completions", completions)
        set_field(self, "tier", tier)
        set_field(self, "effort", effort)
        set_field(self, "tags", tags)
        set_field(self, "requested_ms", requested_ms)
        set_field(self, "text", text)
        set_field(self, "unpinned_key", unpinned_key)
        set_field(self, "sender_verified", sender_verified)
        set_field(self, "sender_looks_like", sender_looks_like)
        set_field(self, "deferred_until", deferred_until)


def write_rows(conn: sqlite3.Connection, rows: Sequence[TaskRow]) -> None:
    """Replace the rows of these tasks (inside the caller's transaction)."""
    tasks = [(row.task,) for row in rows]
    conn.executemany("DELETE FROM task_tokens WHERE task = ?", tasks)
    conn.executemany(
        "INSERT INTO task_state (task, agent, sender, state, estimate, let_through_ms, state_ms, "
        "retry_count, priority, s_hlc, s_origin, s_seq, tier, effort, tags, requested_ms, text, "
        "unpinned_key, sender_verified, sender_looks_like, deferred_until) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(task) DO UPDATE SET agent = excluded.agent, sender = excluded.sender, "
        "state = excluded.state, estimate = excluded.estimate, "
        "let_through_ms = excluded.let_through_ms, state_ms = excluded.state_ms, "
        "retry_count = excluded.retry_count, priority = excluded.priority, s_hlc = excluded.s_hlc, "
        "s_origin = excluded.s_origin, s_seq = excluded.s_seq, tier = excluded.tier, "
        "effort = excluded.effort, tags = excluded.tags, requested_ms = excluded.requested_ms, "
        "text = excluded.text, unpinned_key = excluded.unpinned_key, "
        "sender_verified = excluded.sender_verified, sender_looks_like = excluded.sender_looks_like, "
        "deferred_until = excluded.deferred_until",
        [
            (
                row.task,
                row.agent,
                row.sender,
                row.state,
                row.estimate,
                row.let_through_ms,
                row.state_ms,
                row.retry_count,
                row.priority,
                *row.sort,
                row.tier,
                row.effort,
                " ".join(row.tags),
                row.requested_ms,
                row.text,
                row.unpinned_key,
                int(row.sender_verified),
                row.sender_looks_like,
                row.deferred_until,
            )
            for row in rows
        ],
    )
    conn.executemany(
        "INSERT INTO task_tokens (task, n, agent, sender, at_ms, tokens) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (row.task, n, row.agent, row.sender, at_ms, tokens)
            for row in rows
            for n, (at_ms, tokens) in enumerate(row.completions)
        ],
    )


def clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM task_tokens")
    conn.execute("DELETE FROM task_state")


class SenderFigures(Record):
    __slots__ = (
        "completed_tokens_today",
        "last_let_through_ms",
        "let_through_last_hour",
        "oldest_in_hour_ms",
        "outstanding_tokens",
    )
    outstanding_tokens: int
    completed_tokens_today: int
    let_through_last_hour: int
    oldest_in_hour_ms: int | None
    last_let_through_ms: int | None

    def __init__(
        self,
        outstanding_tokens: int,
        completed_tokens_today: int,
        let_through_last_hour: int,
        oldest_in_hour_ms: int | None,
        last_let_through_ms: int | None,
    ) -> None:
        set_field(self, "outstanding_tokens", outstanding_tokens)
        set_field(self, "completed_tokens_today", completed_tokens_today)
        set_field(self, "let_through_last_hour", let_through_last_hour)
        set_field(self, "oldest_in_hour_ms", oldest_in_hour_ms)
        set_field(self, "last_let_through_ms", last_let_through_ms)

    @property
    def tokens_today(self) -> int:
        return self.outstanding_tokens + self.completed_tokens_today


class AgentFigures(Record):
    __slots__ = ("completed_tokens_today", "outstanding_tokens", "queue_depth", "unpinned_queue", "working")
    outstanding_tokens: int
    completed_tokens_today: int
    queue_depth: int
    """WAITING or QUEUED tasks of pinned requests (unpinned ones are in ``unpinned_queue``)."""
    working: int
    unpinned_queue: int
    """WAITING or QUEUED tasks of requests not signed by a key pinned for their sender."""

    def __init__(
        self,
        outstanding_tokens: int,
        completed_tokens_today: int,
        queue_depth: int,
        working: int,
        unpinned_queue: int = 0,
    ) -> None:
        set_field(self, "outstanding_tokens", outstanding_tokens)
        set_field(self, "completed_tokens_today", completed_tokens_today)
        set_field(self, "queue_depth", queue_depth)
        set_field(self, "working", working)
        set_field(self, "unpinned_queue", unpinned_queue)

    @property
    def tokens_today(self) -> int:
        return self.outstanding_tokens + self.completed_tokens_today


class TaskCache:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    def _one(self, sql: str, params: tuple[object, ...]) -> tuple[Any, ...]:
        with translating(self.path):
            row: tuple[Any, ...] = self.conn.execute(sql, params).fetchone()
        return row

    def sender_figures(
        self, agent: str, sender: str, day_start_ms: int, now_ms: int, default_estimate: int
    ) -> SenderFigures:
        outstanding = self._one(
            f"SELECT COALESCE(SUM(COALESCE(estimate, ?)), 0) FROM task_state WHERE agent = ? AND "
            f"state IN {OUTSTANDING_SQL} AND sender = ?",
            (default_estimate, agent, sender),
        )[0]
        completed = self._one(
            "SELECT COALESCE(SUM(tokens), 0) FROM task_tokens WHERE agent = ? AND sender = ? AND at_ms >= ?",
            (agent, sender, day_start_ms),
        )[0]
        count, oldest = self._one(
            "SELECT COUNT(*), MIN(let_through_ms) FROM task_state WHERE agent = ? AND sender = ? "
            "AND let_through_ms > ?",
            (agent, sender, now_ms - 3_600_000),
        )
        last = self._one(
            "SELECT MAX(let_through_ms) FROM task_state WHERE agent = ? AND sender = ?",
            (agent, sender),
        )[0]
        return SenderFigures(
            int(outstanding),
            int(completed),
            int(count),
            None if oldest is None else int(oldest),
            None if last is None else int(last),
        )

    def agent_figures(self, agent: str, day_start_ms: int, default_estimate: int) -> AgentFigures:
        outstanding, queued, working, unpinned = self._one(
            f"SELECT COALESCE(SUM(CASE WHEN state IN {OUTSTANDING_SQL} THEN COALESCE(estimate, ?) END), 0), "
            f"COALESCE(SUM({QUEUED_OR_DEFERRED} AND unpinned_key IS NULL), 0), "
            f"COALESCE(SUM(state = '{WORKING}'), 0), "
            f"COALESCE(SUM({QUEUED_OR_DEFERRED} AND unpinned_key IS NOT NULL), 0) "
            f"FROM task_state WHERE agent = ? AND {OUTSTANDING_OR_DEFERRED}",
            (default_estimate, agent),
        )
        completed = self._one(
            "SELECT COALESCE(SUM(tokens), 0) FROM task_tokens WHERE agent = ? AND at_ms >= ?",
            (agent, day_start_ms),
        )[0]
        return AgentFigures(
            int(outstanding),
            int(completed),
            int(queued),
            int(working),
            int(unpinned),
        )

    def unpinned_key_queue(self, agent: str, key: str) -> int:
        """WAITING, QUEUED or deferred tasks of ``agent`` requested unpinned from origin ``key``."""
        return int(
            self._one(
                f"SELECT COUNT(*) FROM task_state WHERE agent = ? AND {QUEUED_OR_DEFERRED} "
                "AND unpinned_key = ?",
                (agent, key),
            )[0]
        )

    def unpinned_refused_since(self, agent: str, key: str, since_ms: int) -> int:
        """Tasks of ``agent`` requested unpinned from origin ``key`` that were cancelled (refused,
        rejected or withdrawn) at or after ``since_ms``."""
        return int(
            self._one(
                f"SELECT COUNT(*) FROM task_state WHERE agent = ? AND state = '{CANCELLED}' "
                "AND unpinned_key = ? AND state_ms >= ?",
                (agent, key, since_ms),
            )[0]
        )

    def unpinned_queues(self, agent: str) -> list[tuple[str, int]]:
        """Per origin key with unpinned requests WAITING, QUEUED or deferred for ``agent``: how many."""
        with translating(self.path):
            rows = self.conn.execute(
                f"SELECT unpinned_key, COUNT(*) FROM task_state WHERE agent = ? AND "
                f"{QUEUED_OR_DEFERRED} AND unpinned_key IS NOT NULL GROUP BY unpinned_key ORDER BY 1",
                (agent,),
            )
            return [(str(key), int(count)) for key, count in rows]

    def senders_today(self, agent: str, day_start_ms: int) -> list[str]:
        with translating(self.path):
            rows = self.conn.execute(
                f"SELECT sender FROM task_state WHERE agent = ? AND state IN {OUTSTANDING_SQL} "
                "UNION SELECT sender FROM task_tokens WHERE agent = ? AND at_ms >= ? "
                "ORDER BY 1",
                (agent, agent, day_start_ms),
            )
            return [row[0] for row in rows]

    def tasks_in_state(self, agent: str, state: str) -> list[str]:
        """Tasks of ``agent`` in ``state``, in request order."""
        with translating(self.path):
            rows = self.conn.execute(
                "SELECT task FROM task_state WHERE agent = ? AND state = ? ORDER BY s_hlc, s_origin, s_seq",
                (agent, state),
            )
            return [row[0] for row in rows]

    def due_requests(self, agent: str, now_ms: int) -> list[str]:
        """Undecided requests to ``agent`` the governor may decide now: never decided, or deferred
        until ``now_ms`` or earlier; in request order."""
        with translating(self.path):
            rows = self.conn.execute(
                f"SELECT task FROM task_state WHERE agent = ? AND state = '{REQUESTED}' "
                "AND (deferred_until IS NULL OR deferred_until <= ?) ORDER BY s_hlc, s_origin, s_seq",
                (agent, now_ms),
            )
            return [row[0] for row in rows]

    def stale_working(self, agent: str, started_before_ms: int) -> list[str]:
        with translating(self.path):
            rows = self.conn.execute(
                f"SELECT task FROM task_state WHERE agent = ? AND state = '{WORKING}' AND state_ms <= ? "
                "ORDER BY s_hlc, s_origin, s_seq",
                (agent, started_before_ms),
            )
            return [row[0] for row in rows]

    def find(
        self,
        *,
        agent: str | None = None,
        sender: str | None = None,
        states: Iterable[str] = (),
        limit: int | None = None,
        changed_since_ms: int | None = None,
    ) -> list[str]:
        clauses: list[str] = []
        params: list[object] = []
        if changed_since_ms is not None:
            clauses.append("state_ms >= ?")
            params.append(changed_since_ms)
        if agent is not None:
            clauses.append("agent = ?")
            params.append(agent)
        if sender is not None:
            clauses.append("sender = ?")
            params.append(sender)
        wanted = list(states)
        if wanted:
            clauses.append(f"state IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT task FROM task_state {where} ORDER BY s_hlc, s_origin, s_seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with translating(self.path):
            return [row[0] for row in self.conn.execute(sql, params)]

    def matching(self, prefix: str, agent: str, sender: str, limit: int = 20) -> list[str]:
        """Ids of the tasks of ``agent`` or from ``sender`` that start with ``prefix`` (a range on
        the primary key when it starts with ``task-``), else whose random part does."""
        mine = "(agent = ? OR sender = ?)"
        if prefix.startswith("task-"):
            sql = f"SELECT task FROM task_state WHERE task >= ? AND task < ? AND {mine} ORDER BY task LIMIT ?"
            params: tuple[object, ...] = (prefix, prefix + "\U0010ffff", agent, sender, limit)
        else:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql = (
                "SELECT task FROM task_state WHERE (task LIKE ? ESCAPE '\\' OR task LIKE ? ESCAPE '\\') "
                f"AND {mine} ORDER BY task LIMIT ?"
            )
            params = (escaped + "%", "task-________-______-" + escaped + "%", agent, sender, limit)
        with translating(self.path):
            return [row[0] for row in self.conn.execute(sql, params)]

    def meta(self, key: str) -> str | None:
        with translating(self.path):
            row = self.conn.execute("SELECT value FROM derived_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
