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

:func:`split` cuts a log of at least :data:`FORK_MIN` events into :data:`PARTS_PER_PROCESS` parts
per core, of equal row counts, read in one transaction on the ``UNIQUE (origin, seq)`` index (a skip
by ``OFFSET`` per cut: it reads index entries, not rows). :func:`run` forks a child per core but
one; the children and the parent take the parts one at a time, the next one nobody has taken (a
shared counter), so a core slowed down by other programs takes fewer parts. Each child opens its
own read-only connection, checks each part it takes completely — signatures, ids, chain links
from the row before the part, payloads, subject index — in one thread, and sends the part's
problems back through a pipe. The parent puts the parts' problems in part order, so the report is
the one-pass report, in the same order. A part whose child failed (killed, out of memory, a
storage error) is checked again in the parent, which then raises what the child met, if anything.

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
    from multiprocessing.sharedctypes import Synchronized
    from typing import Any

#: Below this many events, forking costs more than it saves.
FORK_MIN = 5000
#: Parts per process: whichever process is done first takes the next part, so a core that other
#: programs slow down does less of the work instead of holding up the end.
PARTS_PER_PROCESS = 8

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
    fewer than ``fork_min`` events or than ``parts``, ``parts`` is below 2, or :func:`can_fork`
    says no. Each cut is found by skipping from the one before, so the index is read once."""
    if parts < 2:
        return None
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        total = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        if total < max(fork_min, parts) or not can_fork():
            return None
        cuts: list[list[Any]] = []
        params: tuple[Any, ...]
        at = 0  # the index, in (origin, seq) order, of the last cut's first row
        for k in range(1, parts):
            index = k * total // parts
            where, params = "", ()
            if cuts:
                where, params = " WHERE (origin, seq) >= (?, ?)", (cuts[-1][1][0], cuts[-1][1][1])
            cuts.append(
                conn.execute(
                    f"SELECT origin, seq, id FROM events{where} ORDER BY origin, seq LIMIT 2 OFFSET ?",
                    (*params, index - 1 - at),
                ).fetchall()
            )
            at = index
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
    processes: int,
) -> list[Found]:
    """The problems of every part, in order. ``processes - 1`` forked children running
    ``in_child`` and this process running ``here`` take the parts one at a time, the next one not
    yet taken, until none is left; a part whose child failed is checked again with ``here``."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    try:
        taken = context.Value("i", 0)
    except (ImportError, OSError):  # no working semaphores (sem_open) here: check in this process
        return [problem for part in parts for problem in here(part)]
    children: list[tuple[BaseProcess, Connection]] = []
    answers: dict[int, list[Found] | None] = {}
    try:
        for _ in range(min(processes, len(parts)) - 1):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(in_child, parts, taken, writer), daemon=True)
            process.start()
            writer.close()
            children.append((process, reader))
        while (index := _take(taken, len(parts))) is not None:
            answers[index] = here(parts[index])
        for child, reader in children:
            while True:
                try:
                    index, answer = reader.recv()
                except EOFError:
                    break
                answers[index] = answer
            child.join()
        found: list[Found] = []
        for index, part in enumerate(parts):
            answer = answers.get(index)
            found.extend(here(part) if answer is None else answer)
        return found
    finally:
        for child, reader in children:
            reader.close()
            if child.exitcode is None:
                child.kill()
                child.join()


def _take(taken: Synchronized[int], total: int) -> int | None:
    """The index of the next part no process has taken yet (now taken), or None."""
    with taken.get_lock():
        index = int(taken.value)
        if index >= total:
            return None
        taken.value = index + 1
    return index


def _child(
    work: Callable[[Part], list[Found]], parts: Sequence[Part], taken: Synchronized[int], writer: Connection
) -> None:
    """A child's work: each part it takes, with the part's problems, or None if checking failed
    (the parent checks that part again, and raises what it meets)."""
    while (index := _take(taken, len(parts))) is not None:
        answer: list[Found] | None = None
        try:
            answer = work(parts[index])
        except Exception:
            answer = None
        writer.send((index, answer))
    writer.close()
