"""Splitting ``verify`` over every core: consecutive ranges of the ``(origin, seq)`` order, each
checked completely by its own process.

Theory of operation
-------------------
``verify`` walks the log in ``(origin, seq)`` order. Checking one event needs the event and only
the stored ``origin``, ``seq`` and ``id`` of the row before it in that order (the chain link), so
the walk splits into ranges with nothing to pass between them but that row. Threads cannot share
the work: reading rows, hashing, canonical encoding and payload decoding hold the interpreter's
lock, and only the signature checks (libsodium) run without it; on two cores that caps ``verify``
at about one and a half cores' worth.

:func:`split` cuts a log of at least :data:`FORK_MIN` events into one :class:`Part` per core, of
equal row counts, read in one transaction on the ``UNIQUE (origin, seq)`` index (a skip by
``OFFSET`` per cut: it reads index entries, not rows). :func:`run` forks a child per part but the
first; each child opens its own read-only connection, checks its part — signatures, ids, chain
links from the row before the part, payloads, subject index — in one thread, and writes its
problems back through a pipe; the parent checks the first part meanwhile and returns the problems
part by part, so the report is the one-pass report, in the same order. A part whose child failed
(killed, out of memory, a storage error) is checked again in the parent, which then raises what
the child met, if anything.

Rows are never updated or deleted, and an append adds a row after the last one of its origin: a cut
``(origin, seq)`` names the same place in every later snapshot, so the children (each reading its
own, later snapshot) check consecutive ranges of one log.

The parts are forked only when no other thread runs in the process (the signature-checking pool,
if started, is stopped first): a child of a multi-threaded process inherits whatever locks the
other threads held. Elsewhere, and where there is no ``fork``, ``verify`` checks in one process,
with the signatures on threads.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from datacore_msg.eventlog import sigbatch
from datacore_msg.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess
    from typing import Any

#: Below this many events, forking costs more than it saves.
FORK_MIN = 5000

#: One problem as a child sends it: (position, event id, reason).
Found = tuple[int, str, str]


class Part(NamedTuple):
    """A range of the ``(origin, seq)`` order: from ``lower`` (included; None: the start) to
    ``upper`` (excluded; None: the end), and the stored ``(origin, seq, id)`` of the row just
    before ``lower`` (None at the start)."""

    lower: tuple[Any, Any] | None
    upper: tuple[Any, Any] | None
    before: tuple[Any, Any, Any] | None

    def where(self) -> tuple[str, tuple[Any, ...]]:
        """The SQL condition (with its leading ``WHERE``, or empty) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.lower is not None:
            clauses.append("(origin, seq) >= (?, ?)")
            params.extend(self.lower)
        if self.upper is not None:
            clauses.append("(origin, seq) < (?, ?)")
            params.extend(self.upper)
        return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), tuple(params)


#: The whole log, checked in one pass.
WHOLE = Part(None, None, None)


def can_fork() -> bool:
    """Whether this process may fork checking children: it has ``fork`` and, once the signature
    pool is stopped, runs no other thread (:func:`~datacore_msg.eventlog.sigbatch.alone`)."""
    return hasattr(os, "fork") and sigbatch.alone()


def split(conn: sqlite3.Connection, parts: int, fork_min: int = FORK_MIN) -> list[Part] | None:
    """``parts`` consecutive parts of equal row counts covering the log, or None when the log has
    fewer than ``fork_min`` events, ``parts`` is below 2, or :func:`can_fork` says no."""
    if parts < 2:
        return None
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        total = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        if total < max(fork_min, 2 * parts) or not can_fork():
            return None
        cuts = [
            conn.execute(
                "SELECT origin, seq, id FROM events ORDER BY origin, seq LIMIT 2 OFFSET ?",
                (k * total // parts - 1,),
            ).fetchall()
            for k in range(1, parts)
        ]
    finally:
        if began:
            conn.execute("COMMIT")
    lowers: list[tuple[Any, Any] | None] = [None, *((first[0], first[1]) for _, first in cuts)]
    befores: list[tuple[Any, Any, Any] | None] = [None, *((b[0], b[1], b[2]) for b, _ in cuts)]
    uppers = [*lowers[1:], None]
    return [Part(*bounds) for bounds in zip(lowers, uppers, befores, strict=True)]


def open_read_only(path: Path, busy_timeout_s: float = 60.0) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    return conn


def run(
    parts: Sequence[Part],
    in_child: Callable[[Part], list[Found]],
    here: Callable[[Part], list[Found]],
) -> list[Found]:
    """The problems of every part, in order: ``here`` checks the first part in this process while
    a forked child runs ``in_child`` on each other one; a part whose child fails is checked again
    with ``here``."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    children: list[tuple[BaseProcess, Connection]] = []
    try:
        for part in parts[1:]:
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(in_child, part, writer), daemon=True)
            process.start()
            writer.close()
            children.append((process, reader))
        found = here(parts[0])
        for part, (child, reader) in zip(parts[1:], children, strict=True):
            try:
                answer: list[Found] | None = reader.recv()
            except EOFError:
                answer = None
            child.join()
            found.extend(here(part) if answer is None or child.exitcode != 0 else answer)
        return found
    finally:
        for child, reader in children:
            reader.close()
            if child.exitcode is None:
                child.kill()
                child.join()


def _child(work: Callable[[Part], list[Found]], part: Part, writer: Connection) -> None:
    """A child's work: its part's problems, or None if checking failed (the parent checks again)."""
    answer: list[Found] | None = None
    try:
        answer = work(part)
    except Exception:  # the parent checks this part again and raises what it meets
        answer = None
    writer.send(answer)
    writer.close()
