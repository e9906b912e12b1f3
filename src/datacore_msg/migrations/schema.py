"""The numbered schema migrations of a space's SQLite file.

Each step is a plain function of a ``sqlite_utils.Database``; :mod:`.runner` registers them, in this
order, in one ``sqlite_utils.Migrations`` set. Names are identities: never rename or reorder a step
that has shipped, only append new ones (a test keeps names unique and numbered in order).
"""

from __future__ import annotations

from collections.abc import Callable

from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

MIGRATION_SET = "datacore_msg"


def m0001_events(db: Any) -> None:
    db.executescript(
        """
        CREATE TABLE events (
            position INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq >= 1),
            prev TEXT,
            hlc INTEGER NOT NULL,
            actor TEXT NOT NULL,
            type TEXT NOT NULL,
            v INTEGER NOT NULL,
            data TEXT NOT NULL,
            sig TEXT NOT NULL,
            subject TEXT,
            UNIQUE (origin, seq)
        );
        CREATE INDEX events_order ON events (hlc, origin, seq);
        CREATE INDEX events_subject ON events (subject);
        CREATE INDEX events_actor ON events (actor, hlc);
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
        """
    )


def m0002_view_cache(db: Any) -> None:
    db.executescript(
        """
        CREATE TABLE view_entries (
            file TEXT NOT NULL,
            s_hlc INTEGER NOT NULL,
            s_origin TEXT NOT NULL,
            s_seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            subject TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (file, s_hlc, s_origin, s_seq, role)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX view_entries_subject ON view_entries (subject, role);
        CREATE TABLE view_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
        CREATE TABLE view_files (
            file TEXT PRIMARY KEY,
            written_hash TEXT,
            pending_hash TEXT,
            written_stat TEXT,
            dirty INTEGER NOT NULL DEFAULT 1
        );
        """
    )


def m0003_tasks(db: Any) -> None:
    db.executescript(
        """
        CREATE TABLE task_state (
            task TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            sender TEXT NOT NULL,
            state TEXT NOT NULL,
            estimate INTEGER,
            let_through_ms INTEGER,
            state_ms INTEGER NOT NULL,
            retry_count INTEGER NOT NULL,
            priority TEXT,
            s_hlc INTEGER NOT NULL,
            s_origin TEXT NOT NULL,
            s_seq INTEGER NOT NULL
        );
        CREATE INDEX task_state_queue ON task_state (agent, state, sender);
        CREATE INDEX task_state_in_state ON task_state (agent, state, s_hlc, s_origin, s_seq);
        CREATE INDEX task_state_rate ON task_state (agent, sender, let_through_ms);
        CREATE INDEX task_state_order ON task_state (agent, s_hlc, s_origin, s_seq);
        CREATE TABLE task_tokens (
            task TEXT NOT NULL,
            n INTEGER NOT NULL,
            agent TEXT NOT NULL,
            sender TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            PRIMARY KEY (task, n)
        );
        CREATE INDEX task_tokens_sender ON task_tokens (agent, sender, at_ms);
        CREATE INDEX task_tokens_day ON task_tokens (agent, at_ms);
        CREATE TABLE derived_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """
    )


def m0004_hook_columns(db: Any) -> None:
    """What the Claude Code hook reads without folding: a message entry's status for its viewer and
    the other party; a task's decided tier, request details and text. Derived columns: the
    projections fill them on their next full re-fold (``derived_meta.format`` changes with them)."""
    db.executescript(
        """
        ALTER TABLE view_entries ADD COLUMN status TEXT;
        ALTER TABLE view_entries ADD COLUMN peer TEXT;
        CREATE INDEX view_entries_status ON view_entries (role, status);
        ALTER TABLE task_state ADD COLUMN tier TEXT;
        ALTER TABLE task_state ADD COLUMN effort INTEGER;
        ALTER TABLE task_state ADD COLUMN tags TEXT;
        ALTER TABLE task_state ADD COLUMN requested_ms INTEGER;
        ALTER TABLE task_state ADD COLUMN text TEXT;
        """
    )


def m0005_unpinned_key(db: Any) -> None:
    """The origin key of a request not signed by a key pinned for its sender (NULL for a pinned
    one), for the governor's unpinned queue caps: indexed over such rows only. A derived column: the
    projections fill it on their next full re-fold (``derived_meta.format`` changes with it)."""
    db.executescript(
        """
        ALTER TABLE task_state ADD COLUMN unpinned_key TEXT;
        CREATE INDEX task_state_unpinned ON task_state (agent, state, unpinned_key)
            WHERE unpinned_key IS NOT NULL;
        """
    )


def m0006_sender_checks(db: Any) -> None:
    """What is known of a sender's name, for the hook: whether a pinned key backs it, and the pinned
    name it looks like (an inbox entry's sender; a task's requester). Derived columns, filled on the
    next full re-fold like those of 0004."""
    db.executescript(
        """
        ALTER TABLE view_entries ADD COLUMN peer_verified INTEGER;
        ALTER TABLE view_entries ADD COLUMN peer_looks_like TEXT;
        ALTER TABLE task_state ADD COLUMN sender_verified INTEGER;
        ALTER TABLE task_state ADD COLUMN sender_looks_like TEXT;
        """
    )


def m0007_search_index(db: Any) -> None:
    """The search index (:mod:`datacore_msg.readmodels.searchindex`): one row per message or task
    text in the user's own views, and an FTS5 index over the texts (external content: the texts are
    stored once, in ``search_docs``). Derived rows, filled on the next full re-fold like those of
    0004."""
    db.executescript(
        """
        CREATE TABLE search_docs (
            doc INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            sender TEXT NOT NULL,
            recipient TEXT NOT NULL,
            thread TEXT,
            time_ms INTEGER NOT NULL,
            status TEXT NOT NULL,
            archived INTEGER NOT NULL,
            sender_verified INTEGER NOT NULL,
            sender_looks_like TEXT,
            text TEXT NOT NULL,
            UNIQUE (kind, subject)
        );
        CREATE INDEX search_docs_sender ON search_docs (sender, time_ms);
        CREATE INDEX search_docs_recipient ON search_docs (recipient, time_ms);
        CREATE INDEX search_docs_thread ON search_docs (thread);
        CREATE VIRTUAL TABLE search_text USING fts5(
            text, content='search_docs', content_rowid='doc',
            tokenize='unicode61 remove_diacritics 2'
        );
        """
    )


def m0008_deferred_until(db: Any) -> None:
    """When a deferred request (over the rate, within the cooldown; still REQUESTED) is decided
    again: what the governor's sweep looks for, and what the queue figures count with the waiting
    tasks. A derived column, filled on the next full re-fold like those of 0004."""
    db.executescript(
        """
        ALTER TABLE task_state ADD COLUMN deferred_until INTEGER;
        CREATE INDEX task_state_deferred ON task_state (agent, deferred_until)
            WHERE deferred_until IS NOT NULL;
        """
    )


STEPS: tuple[tuple[str, Callable[[Any], None]], ...] = (
    ("0001_events", m0001_events),
    ("0002_view_cache", m0002_view_cache),
    ("0003_tasks", m0003_tasks),
    ("0004_hook_columns", m0004_hook_columns),
    ("0005_unpinned_key", m0005_unpinned_key),
    ("0006_sender_checks", m0006_sender_checks),
    ("0007_search_index", m0007_search_index),
    ("0008_deferred_until", m0008_deferred_until),
)
