"""The event store: append-only, hash-chained, signed events in one SQLite file per space.

Theory of operation
-------------------
* **Local append** (:meth:`EventStore.append`): inside one ``BEGIN IMMEDIATE`` transaction the store
  reads this origin's chain head and the largest clock stamp it holds, seals the new event (next
  ``seq``, ``prev`` = head id, HLC stamp after everything seen, signature) and inserts it. A caller may
  pass a ``check`` that runs inside the same transaction, so a decision such as "is this task still
  QUEUED?" cannot be overtaken by another process between the check and the append.
* **Ingest** (:meth:`EventStore.ingest`): events from other installations are verified one by one —
  shape, id, signature, chain (the predecessor must already be stored, or earlier in the same batch),
  payload, clock skew — inside one transaction. A known id is a no-op; a known ``(origin, seq)`` with
  another id is a fork, refused and reported. Every rejected event is reported with its reason; every
  valid one is kept; a crash stores the whole batch or nothing of it.
* **Reading**: ``position`` is this peer's arrival order (checkpoints use it); meaning comes from the
  ``(hlc, origin, seq)`` order, which :meth:`events_for_subject` and :meth:`iter_sorted` return.
  :meth:`heads` (per origin, the highest seq held with none missing below it) and
  :meth:`events_after` (an origin's events after a seq) are what two stores compare and send to
  catch each other up.
* Triggers refuse UPDATE and DELETE on ``events``; :meth:`verify` re-checks every id, signature, chain
  link and payload, so an edit made behind the triggers' back is caught.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from datacore_msg.errors import ForkError, IntegrityError
from datacore_msg.eventlog import codec
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.connection import write_transaction
from datacore_msg.eventlog.envelope import Event, check_id, check_seal, seal, subject_of
from datacore_msg.eventlog.hlc import next_stamp, physical_ms
from datacore_msg.eventlog.names import is_message_id, is_task_id
from datacore_msg.eventlog.payloads import Payload
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.sqlite_errors import translating

#: Upgrades a stored payload to the current version: (type, version, data) -> (version, data).
Upcaster = Callable[[str, int, dict[str, Any]], tuple[int, dict[str, Any]]]

#: Events stamped further than this into the future (by the receiver's clock) are refused.
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000

_COLUMNS = "position, id, origin, seq, prev, hlc, actor, type, v, data, sig"
_HEAD = (
    "SELECT (SELECT MAX(seq) FROM events WHERE origin = ?), "
    "(SELECT id FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1), "
    "(SELECT MAX(hlc) FROM events)"
)
#: Each origin and its largest seq: a skip scan of the (origin, seq) index (SQLite reads every index
#: entry for a plain GROUP BY; this seeks once per origin).
_HEADS = (
    "WITH RECURSIVE o(origin) AS (SELECT MIN(origin) FROM events UNION ALL "
    "SELECT (SELECT MIN(origin) FROM events WHERE origin > o.origin) FROM o WHERE o.origin IS NOT NULL) "
    "SELECT origin, (SELECT MAX(seq) FROM events WHERE events.origin = o.origin) FROM o "
    "WHERE origin IS NOT NULL"
)
#: The events that create a subject: a second one for the same id is a clash.
_CREATION_TYPES = "('message.sent', 'task.requested')"
_INSERT = (
    "INSERT INTO events (id, origin, seq, prev, hlc, actor, type, v, data, sig, subject) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING RETURNING position"
)


def _no_upcast(type_name: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return version, data


def row_of(event: Event) -> tuple[Any, ...]:
    """The values of the ``events`` columns (in ``_INSERT`` order) that store ``event``."""
    return (
        event.id,
        event.origin,
        event.seq,
        event.prev,
        event.hlc,
        event.actor,
        event.type,
        event.v,
        canonical_text(event.data),
        event.sig,
        subject_of(event.type, event.data),
    )


def _row_event(row: tuple[Any, ...]) -> Event:
    return Event(
        position=row[0],
        id=row[1],
        origin=row[2],
        seq=row[3],
        prev=row[4],
        hlc=row[5],
        actor=row[6],
        type=row[7],
        v=row[8],
        data=json.loads(row[9]),
        sig=row[10],
    )


@attrs.frozen
class IngestReport:
    accepted: list[Event]
    duplicates: int
    rejected: list[tuple[int, str]]


@attrs.frozen
class Problem:
    position: int
    event_id: str
    reason: str


class EventStore:
    def __init__(self, conn: sqlite3.Connection, path: Path, upcaster: Upcaster | None = None) -> None:
        self.conn = conn
        self.path = path
        self._upcast = upcaster or _no_upcast

    def close(self) -> None:
        self.conn.close()

    # -- writing ---------------------------------------------------------------------------------

    def append(
        self,
        key: SigningKey,
        actor: str,
        payload: Payload,
        wall_ms: int,
        check: Callable[[EventStore], None] | None = None,
    ) -> Event:
        return self.append_all(key, [(actor, payload)], wall_ms, check)[0]

    def append_all(
        self,
        key: SigningKey,
        items: Iterable[tuple[str, Payload]],
        wall_ms: int,
        check: Callable[[EventStore], None] | None = None,
    ) -> list[Event]:
        """Append (actor, payload) pairs as consecutive events of this origin, all or none."""
        encoded = [(actor, payload, codec.encode_payload(payload)) for actor, payload in items]
        appended: list[Event] = []
        with write_transaction(self.conn, self.path):
            if check is not None:
                check(self)
            seq, prev, latest = self.conn.execute(_HEAD, (key.public_hex, key.public_hex)).fetchone()
            seq = seq or 0
            for actor, payload, data in encoded:
                seq += 1
                event = seal(
                    key,
                    seq=seq,
                    prev=prev,
                    hlc=next_stamp(wall_ms, latest),
                    actor=actor,
                    type_name=payload.TYPE,
                    version=payload.VERSION,
                    data=data,
                )
                position = self._insert(event)
                appended.append(attrs.evolve(event, position=position))
                prev, latest = event.id, event.hlc
        return appended

    def _insert(self, event: Event) -> int | None:
        row = self.conn.execute(_INSERT, row_of(event)).fetchone()
        return None if row is None else int(row[0])

    def ingest(self, items: Iterable[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        """Verify and store events from elsewhere. ``items`` pairs a line number with a parsed event,
        or with the error that parsing it raised (so the report keeps every line's reason)."""
        accepted: list[Event] = []
        rejected: list[tuple[int, str]] = []
        duplicates = 0
        failed_origins: dict[str, int] = {}
        with write_transaction(self.conn, self.path):
            for lineno, item in items:
                if isinstance(item, IntegrityError):
                    rejected.append((lineno, str(item)))
                    continue
                try:
                    check_id(item)
                    if self._known(item):
                        duplicates += 1
                        continue
                    if item.origin in failed_origins and item.seq > failed_origins[item.origin]:
                        raise IntegrityError(
                            f"origin {item.origin[:12]} seq {item.seq}: an earlier event of this "
                            "origin in this batch was rejected"
                        )
                    self._check_incoming(item, now_ms)
                    position = self._insert(item)
                except IntegrityError as exc:
                    failed_origins.setdefault(item.origin, item.seq)
                    rejected.append((lineno, str(exc)))
                    continue
                if position is None:
                    duplicates += 1
                else:
                    accepted.append(attrs.evolve(item, position=position))
        return IngestReport(accepted=accepted, duplicates=duplicates, rejected=rejected)

    def _known(self, event: Event) -> bool:
        row = self.conn.execute(
            "SELECT id FROM events WHERE origin = ? AND seq = ?", (event.origin, event.seq)
        ).fetchone()
        if row is None:
            return False
        if row[0] == event.id:
            return True
        raise ForkError(
            f"fork: origin {event.origin[:12]} seq {event.seq} is already stored as event "
            f"{row[0][:12]}, not {event.id[:12]}"
        )

    def _check_incoming(self, event: Event, now_ms: int) -> None:
        check_seal(event)
        if event.seq > 1:
            prev = self.conn.execute(
                "SELECT id FROM events WHERE origin = ? AND seq = ?",
                (event.origin, event.seq - 1),
            ).fetchone()
            if prev is None:
                raise IntegrityError(
                    f"origin {event.origin[:12]} seq {event.seq}: its predecessor seq "
                    f"{event.seq - 1} is missing (out of order, or an earlier export was skipped)"
                )
            if prev[0] != event.prev:
                raise IntegrityError(
                    f"origin {event.origin[:12]} seq {event.seq}: prev does not match the stored "
                    f"event {prev[0][:12]} (broken chain)"
                )
        if physical_ms(event.hlc) > now_ms + MAX_CLOCK_SKEW_MS:
            raise IntegrityError(f"event {event.id[:12]}: clock stamp is more than a day ahead")
        if codec.known_type(event.type):
            payload = self.decode(event)
            assert payload is not None
            _check_actor_consistency(event, payload)

    # -- reading ---------------------------------------------------------------------------------

    def decode(self, event: Event) -> Payload | None:
        """The event's payload at the current version, or None for a type this version does not know."""
        if not codec.known_type(event.type):
            return None
        version, data = self._upcast(event.type, event.v, event.data)
        if version != codec.current_version(event.type):
            raise IntegrityError(
                f"event {event.id[:12]}: {event.type} v{event.v} cannot be read by this version"
            )
        return codec.decode_payload(event.type, data)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Event]:
        with translating(self.path):
            return [_row_event(row) for row in self.conn.execute(sql, params)]

    def max_position(self) -> int:
        with translating(self.path):
            value = self.conn.execute("SELECT MAX(position) FROM events").fetchone()[0]
        return int(value or 0)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when another connection commits (a watcher's
        cheap check for appends by other processes; this connection's own commits do not change it)."""
        with translating(self.path):
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def count(self) -> int:
        with translating(self.path):
            return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def read_since(self, position: int, limit: int = 1000) -> list[Event]:
        return self._rows(
            f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (position, limit),
        )

    def iter_since(self, position: int, batch: int = 2000) -> Iterator[Event]:
        while True:
            events = self.read_since(position, batch)
            if not events:
                return
            yield from events
            last = events[-1].position
            assert last is not None
            position = last

    def iter_sorted(self, batch: int = 5000) -> Iterator[Event]:
        """Every event in the deterministic ``(hlc, origin, seq)`` order."""
        after: tuple[int, str, int] | None = None
        while True:
            if after is None:
                events = self._rows(
                    f"SELECT {_COLUMNS} FROM events ORDER BY hlc, origin, seq LIMIT ?", (batch,)
                )
            else:
                events = self._rows(
                    f"SELECT {_COLUMNS} FROM events WHERE (hlc, origin, seq) > (?, ?, ?) "
                    "ORDER BY hlc, origin, seq LIMIT ?",
                    (*after, batch),
                )
            if not events:
                return
            yield from events
            after = events[-1].order_key()

    def events_for_subject(self, subject: str) -> list[Event]:
        return self._rows(
            f"SELECT {_COLUMNS} FROM events WHERE subject = ? ORDER BY hlc, origin, seq",
            (subject,),
        )

    def events_for_subjects(self, subjects: Sequence[str], chunk: int = 500) -> dict[str, list[Event]]:
        """Each subject's events in ``(hlc, origin, seq)`` order (as :meth:`events_for_subject`), read
        with one query per ``chunk`` subjects instead of one each."""
        out: dict[str, list[Event]] = {subject: [] for subject in subjects}
        unique = list(out)
        for start in range(0, len(unique), chunk):
            part = unique[start : start + chunk]
            marks = ", ".join("?" for _ in part)
            events = self._rows(
                f"SELECT {_COLUMNS} FROM events WHERE subject IN ({marks}) "
                "ORDER BY subject, hlc, origin, seq",
                tuple(part),
            )
            for event in events:
                subject = event.subject
                if subject is not None and subject in out:
                    out[subject].append(event)
        return out

    def subjects_matching(
        self, type_name: str, prefix: str, limit: int = 20, participants: Sequence[str] = ()
    ) -> list[str]:
        """Subjects of ``type_name`` events whose id starts with ``prefix``, or whose random part
        (after ``msg-YYYYMMDD-HHMMSS-``) does; with ``participants``, only messages from or to one
        of them."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql = (
            "SELECT DISTINCT subject FROM events WHERE type = ? AND (subject LIKE ? ESCAPE '\\' "
            "OR subject LIKE ? ESCAPE '\\')"
        )
        params: list[Any] = [type_name, escaped + "%", "msg-________-______-" + escaped + "%"]
        if is_message_id(prefix) or is_task_id(prefix):
            # a whole id (fixed length) is the prefix of no other id: one indexed lookup
            sql = "SELECT DISTINCT subject FROM events WHERE type = ? AND subject = ?"
            params = [type_name, prefix]
        if participants:
            marks = ", ".join("?" * len(participants))
            sql += (
                f" AND (json_extract(data, '$.from') IN ({marks}) OR json_extract(data, '$.to') IN ({marks}))"
            )
            params += [*participants, *participants]
        with translating(self.path):
            rows = self.conn.execute(sql + " ORDER BY subject LIMIT ?", (*params, limit))
            return [row[0] for row in rows]

    def has_subject(self, subject: str) -> bool:
        with translating(self.path):
            row = self.conn.execute("SELECT 1 FROM events WHERE subject = ? LIMIT 1", (subject,)).fetchone()
        return row is not None

    def mentions(self, names: Sequence[str]) -> bool:
        """Whether any of ``names`` wrote an event, or was sent a message or a task, in this log:
        the actor index first, then the recipients of ``message.sent`` and ``task.requested``."""
        if not names:
            return False
        marks = ", ".join("?" for _ in names)
        with translating(self.path):
            row = self.conn.execute(f"SELECT 1 FROM events WHERE actor IN ({marks}) LIMIT 1", tuple(names))
            if row.fetchone() is not None:
                return True
            row = self.conn.execute(
                "SELECT 1 FROM events WHERE type IN ('message.sent', 'task.requested') "
                f"AND json_extract(data, '$.to') IN ({marks}) LIMIT 1",
                tuple(names),
            )
            return row.fetchone() is not None

    def thread_subjects(self, root: str) -> list[str]:
        """Candidates for a thread: the root and messages naming it as thread or parent (older
        payload versions may only name the parent); callers filter on the decoded payload."""
        with translating(self.path):
            rows = self.conn.execute(
                "SELECT subject FROM events WHERE type IN ('message.sent', 'message.imported') "
                "AND (subject = ? OR "
                "json_extract(data, '$.thread') = ? OR json_extract(data, '$.reply_to') = ?) "
                "ORDER BY hlc, origin, seq",
                (root, root, root),
            ).fetchall()
        return [row[0] for row in rows]

    def query(
        self,
        *,
        actor: str | None = None,
        type_name: str | None = None,
        since_hlc: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        clauses: list[str] = []
        params: list[Any] = []
        if actor is not None:
            clauses.append("actor = ?")
            params.append(actor)
        if type_name is not None:
            clauses.append("type = ?")
            params.append(type_name)
        if since_hlc is not None:
            clauses.append("hlc >= ?")
            params.append(since_hlc)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        if limit is None:
            sql = f"SELECT {_COLUMNS} FROM events {where} ORDER BY hlc, origin, seq"
            return self._rows(sql, tuple(params))
        sql = (
            f"SELECT * FROM (SELECT {_COLUMNS} FROM events {where} "
            "ORDER BY hlc DESC, origin DESC, seq DESC LIMIT ?) ORDER BY hlc, origin, seq"
        )
        return self._rows(sql, (*params, limit))

    def heads(self) -> dict[str, int]:
        """Per origin, the highest ``seq`` held with every seq from 1 to it held too.

        That is ``MAX(seq)``: the store never holds a gap. Ingest refuses an event whose predecessor
        is not stored (nor earlier in the same batch, all of which commits or none), an append takes
        ``MAX(seq) + 1``, ``seq >= 1`` and ``(origin, seq)`` is unique, and the triggers refuse
        deletes; a file edited behind the triggers' back is :meth:`verify`'s to report (a gap). The
        origins are walked on the ``UNIQUE (origin, seq)`` index, one seek per origin, so the cost
        grows with the number of origins, not of events."""
        with translating(self.path):
            rows = self.conn.execute(_HEADS).fetchall()
        return {origin: int(seq) for origin, seq in rows}

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]:
        """``origin``'s stored events with a seq above ``seq``, in seq order, at most ``limit`` of them
        (what a peer whose head for ``origin`` is ``seq`` lacks; call again from the last one's seq
        for the next batch). A range scan of the ``UNIQUE (origin, seq)`` index."""
        if limit <= 0:
            return []
        return self._rows(
            f"SELECT {_COLUMNS} FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?",
            (origin, seq, limit),
        )

    def origins(self) -> list[str]:
        with translating(self.path):
            rows = self.conn.execute("SELECT DISTINCT origin FROM events ORDER BY origin")
            return [row[0] for row in rows]

    # -- checking --------------------------------------------------------------------------------

    def verify(self) -> list[Problem]:
        """Re-check every stored event: id, signature, chain continuity and payload."""
        problems: list[Problem] = []
        for origin in self.origins():
            expected_seq, expected_prev = 1, None
            for event in self._rows(
                f"SELECT {_COLUMNS} FROM events WHERE origin = ? ORDER BY seq", (origin,)
            ):
                assert event.position is not None
                reasons: list[str] = []
                if event.seq != expected_seq:
                    reasons.append(f"seq {event.seq} where {expected_seq} was expected (gap)")
                if event.prev != expected_prev:
                    reasons.append("prev does not match the previous event (broken chain)")
                try:
                    check_seal(event)
                except IntegrityError as exc:
                    reasons.append(str(exc))
                try:
                    payload = self.decode(event)
                    if payload is not None:
                        _check_actor_consistency(event, payload)
                except IntegrityError as exc:
                    reasons.append(str(exc))
                if subject_of(event.type, event.data) != self._stored_subject(event.position):
                    reasons.append("subject index does not match the payload")
                for reason in reasons:
                    problems.append(Problem(event.position, event.id, reason))
                expected_seq, expected_prev = event.seq + 1, event.id
        return problems

    def created_twice(self, subjects: Iterable[str]) -> set[str]:
        """Of ``subjects``, the message ids sent (or task ids requested) by more than one event: one
        query per 500 subjects on the subject index, whatever the size of the log."""
        wanted = sorted(set(subjects))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            with translating(self.path):
                rows = self.conn.execute(
                    f"SELECT subject FROM events WHERE subject IN ({marks}) "
                    f"AND type IN {_CREATION_TYPES} GROUP BY subject, type HAVING COUNT(*) > 1",
                    chunk,
                ).fetchall()
            found.update(row[0] for row in rows)
        return found

    def clashes(self) -> list[Problem]:
        """Events sending one message id (or requesting one task id) more than once. Not damage to
        the log — each is validly signed, and the folds decide which one is the message or task
        (:func:`datacore_msg.projections.tasks.the_request`) — but written on purpose by someone, so
        ``verify`` lists them, apart from its problems, and they are never silent."""
        problems: list[Problem] = []
        for type_name, what, verb in (
            ("message.sent", "message", "sent"),
            ("task.requested", "task", "requested"),
        ):
            with translating(self.path):
                rows = self.conn.execute(
                    "SELECT position, id, subject FROM events WHERE type = ? AND subject IN "
                    "(SELECT subject FROM events WHERE type = ? GROUP BY subject "
                    "HAVING COUNT(*) > 1) ORDER BY subject, hlc, origin, seq",
                    (type_name, type_name),
                ).fetchall()
            problems.extend(
                Problem(row[0], row[1], f"{what} id {row[2]} is {verb} by more than one event")
                for row in rows
            )
        return problems

    def _stored_subject(self, position: int) -> str | None:
        row = self.conn.execute("SELECT subject FROM events WHERE position = ?", (position,)).fetchone()
        return None if row is None else row[0]


def _check_actor_consistency(event: Event, payload: Payload) -> None:
    sender = getattr(payload, "sender", None)
    if sender is not None and sender != event.actor:
        raise IntegrityError(
            f"event {event.id[:12]}: {event.type} says it is from {sender!r} but its actor is {event.actor!r}"
        )
