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
  valid one is kept; a crash stores the whole batch or nothing of it. The checks themselves are
  :func:`check_batch`, which touches no storage, so that another store (a relay's) decides exactly
  as this one does.
* **Reading**: ``position`` is this peer's arrival order (checkpoints use it); meaning comes from the
  ``(hlc, origin, seq)`` order, which :meth:`events_for_subject` and :meth:`iter_sorted` return.
  :meth:`heads` (per origin, the highest seq held with none missing below it) and
  :meth:`events_after` (an origin's events after a seq) are what two stores compare and send to
  catch each other up.
* Triggers refuse UPDATE and DELETE on ``events``; :meth:`verify` re-checks every id, signature, chain
  link and payload, so an edit made behind the triggers' back is caught.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from datacore_msg.errors import ForkError, IntegrityError
from datacore_msg.eventlog import codec, verifyparts
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.connection import write_transaction
from datacore_msg.eventlog.envelope import Event, body_encoding, seal_parts, subject_of
from datacore_msg.eventlog.hlc import next_stamp, physical_ms
from datacore_msg.eventlog.names import is_message_id, is_task_id
from datacore_msg.eventlog.payloads import MARKS, Payload
from datacore_msg.eventlog.sigbatch import Signatures, prompt_handover, workers
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.sqlite_errors import translating
from datacore_msg.eventlog.verifyparts import FORK_MIN, PARTS_PER_PROCESS
from datacore_msg.jsontext import loads
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from typing import Any, TypeVar

    _Bound = TypeVar("_Bound", str, int)

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
#: An append: the next seq of our own origin, read in the same transaction, so no row can clash (a
#: clash would be a bug, and raises); the position is the cursor's ``lastrowid``.
_INSERT = (
    "INSERT INTO events (id, origin, seq, prev, hlc, actor, type, v, data, sig, subject) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: An ingest: an event already held (by id) is left as it is.
_INSERT_MANY = _INSERT + " ON CONFLICT(id) DO NOTHING"


def _no_upcast(type_name: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return version, data


def row_of(event: Event) -> tuple[Any, ...]:
    """The values of the ``events`` columns (in ``_INSERT`` order) that store ``event``."""
    return _stored_row(event, canonical_text(event.data))


def _stored_row(event: Event, data: str) -> tuple[Any, ...]:
    return (
        event.id,
        event.origin,
        event.seq,
        event.prev,
        event.hlc,
        event.actor,
        event.type,
        event.v,
        data,
        event.sig,
        subject_of(event.type, event.data),
    )


#: The stored text of each ``message.marked`` payload, ``{"mark":"read","message":"<id>"}``.
_MARK_TEXT = '{{"mark":"{}","message":"{}"}}'


def _mark_texts(subject: object) -> dict[str, str]:
    """Per stored text of a mark of ``subject`` (canonical JSON), the mark: what ``json.loads``
    would make of that text, read without parsing it. Empty for a subject that JSON would write
    with escapes (a quote, a backslash, a control character...): its marks are parsed."""
    if not (isinstance(subject, str) and subject.isascii() and subject.isprintable()):
        return {}
    if '"' in subject or "\\" in subject:
        return {}
    return {_MARK_TEXT.format(mark, subject): mark for mark in MARKS}


def _row_event(row: tuple[Any, ...], data: dict[str, Any] | None = None) -> Event:
    """The event of a stored row (``data``: its payload, when already known from the text)."""
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
        data=_stored_data(row) if data is None else data,
        sig=row[10],
    )


def _chunks(items: Sequence[_Bound], size: int = 500) -> Iterator[tuple[list[_Bound], str]]:
    """``items`` in lists of at most ``size`` (under SQLite's limit on bound values), each with the
    ``?, ?, …`` of its ``IN (…)``."""
    for start in range(0, len(items), size):
        chunk = list(items[start : start + size])
        yield chunk, ", ".join("?" * len(chunk))


def _stored_data(row: tuple[Any, ...]) -> Any:
    """A stored row's payload; a text no writer of the log makes (the file was edited) is an
    :class:`IntegrityError` naming the event, not a traceback."""
    try:
        return loads(row[9])
    except (ValueError, RecursionError, TypeError):
        raise IntegrityError(
            f"event {str(row[1])[:12]} (position {row[0]}): its stored data is not valid JSON "
            "(the log was edited; `datacore-msg verify` lists what is wrong)"
        ) from None


class IngestReport(Record):
    """What an ingest stored (in order), how many it already held, and each line it refused, why."""

    __slots__ = ("accepted", "duplicates", "rejected")

    accepted: list[Event]
    duplicates: int
    rejected: list[tuple[int, str]]

    def __init__(self, accepted: list[Event], duplicates: int, rejected: list[tuple[int, str]]) -> None:
        set_field(self, "accepted", accepted)
        set_field(self, "duplicates", duplicates)
        set_field(self, "rejected", rejected)


class Problem(Record):
    """One event ``verify`` found wrong: where the log holds it, its id, and what is wrong."""

    __slots__ = ("event_id", "position", "reason")

    position: int
    event_id: str
    reason: str

    def __init__(self, position: int, event_id: str, reason: str) -> None:
        set_field(self, "position", position)
        set_field(self, "event_id", event_id)
        set_field(self, "reason", reason)


class _Incoming:
    """One item of an ingest batch: its line number, and the event with its body's canonical bytes
    and data text, or why it is refused before anything is looked up (parse error, bad id)."""

    __slots__ = ("data", "error", "event", "lineno", "raw")

    def __init__(
        self, lineno: int, event: Event | None, error: IntegrityError | None, raw: bytes = b"", data: str = ""
    ) -> None:
        self.lineno = lineno
        self.event = event
        self.error = error
        self.raw = raw
        self.data = data

    @classmethod
    def of(cls, lineno: int, item: Event | IntegrityError) -> _Incoming:
        if isinstance(item, IntegrityError):
            return cls(lineno, None, item)
        import hashlib  # bulk checks: OpenSSL's digest (see datacore_msg.digests)

        try:
            raw, data = body_encoding(item)
        except IntegrityError as exc:
            return cls(lineno, item, exc)
        if hashlib.sha256(raw).hexdigest() != item.id:
            return cls(lineno, item, IntegrityError(f"event {item.id[:12]}: id does not match its content"))
        return cls(lineno, item, None, raw, data)

    def unheld(self, held: Mapping[tuple[str, int], str]) -> bool:
        """Its signature is to be checked: its id is right and its ``(origin, seq)`` is not held."""
        return (
            self.event is not None and self.error is None and (self.event.origin, self.event.seq) not in held
        )

    def signed(self) -> tuple[str, bytes, str]:
        assert self.event is not None
        return self.event.origin, self.raw, self.event.sig


class CheckedBatch(Record):
    """What :func:`check_batch` made of a batch: the events to store, in order, each with the
    canonical text of its data (the stored ``data`` column); how many were already held; and the
    line number and reason of each one refused."""

    __slots__ = ("accepted", "duplicates", "rejected")

    accepted: list[tuple[Event, str]]
    duplicates: int
    rejected: list[tuple[int, str]]

    def __init__(
        self, accepted: list[tuple[Event, str]], duplicates: int, rejected: list[tuple[int, str]]
    ) -> None:
        set_field(self, "accepted", accepted)
        set_field(self, "duplicates", duplicates)
        set_field(self, "rejected", rejected)


#: Events whose signatures are handed to the threads at once, while the rest of a batch is hashed.
SIGNATURE_GROUP = 512
#: :func:`check_batch` hands the events it accepted to its ``keep`` every this many events.
KEEP_EVERY = 128


def lookup_keys(items: Iterable[tuple[int, Event | IntegrityError]]) -> set[tuple[str, int]]:
    """The ``(origin, seq)`` whose stored ids :func:`check_batch` needs for ``items``: each event's
    own and its predecessor's."""
    keys: set[tuple[str, int]] = set()
    for _, item in items:
        if isinstance(item, Event):
            keys.add((item.origin, item.seq))
            if item.seq > 1:
                keys.add((item.origin, item.seq - 1))
    return keys


def _groups(total: int) -> Iterator[tuple[int, int]]:
    """``[start, stop)`` ranges of :data:`SIGNATURE_GROUP` items covering ``total``, the last one
    taking a short tail (so that every group of a large batch is large enough for threads)."""
    start = 0
    while start < total:
        stop = total if total - start < 2 * SIGNATURE_GROUP else start + SIGNATURE_GROUP
        yield start, stop
        start = stop


def check_batch(
    items: Sequence[tuple[int, Event | IntegrityError]],
    held: dict[tuple[str, int], str],
    now_ms: int,
    decode: Callable[[Event], Payload | None],
    keep: Callable[[list[tuple[Event, str]]], None] | None = None,
) -> CheckedBatch:
    """Verify a batch of events from elsewhere against what a store holds, storing nothing: the
    checks of :meth:`EventStore.ingest`, for any store (SQLite here, a relay's store elsewhere).

    ``items`` pairs a line number with a parsed event or the error parsing it raised. ``held`` maps
    those of the :func:`lookup_keys` of ``items`` that the store holds to their stored event ids;
    each accepted event is added to it as the batch goes (a later event's predecessor may be an
    earlier one of the batch). ``decode`` gives an event's payload at the current version (raising
    :class:`IntegrityError`), or None for a type this version does not know.

    Each event is checked in order, as if alone: its id, whether its ``(origin, seq)`` is held
    (the same id: a duplicate; another: a fork), whether an earlier event of its origin in this
    batch was rejected, its signature, its chain link, its clock stamp, its payload and actor. The
    signatures of the events not held are checked on every core
    (:mod:`~datacore_msg.eventlog.sigbatch`), a group at a time as soon as the group is hashed,
    while the rest is checked. ``keep``, if given, is handed the accepted events (all of them, in
    order, a few at a time) as the walk goes, so that a store writes them while the threads are
    still checking the signatures of the events after them."""
    batch: list[_Incoming] = []
    groups: list[Signatures] = []
    slot: dict[int, tuple[Signatures, int]] = {}
    rejected: list[tuple[int, str]] = []
    duplicates = 0
    accepted: list[tuple[Event, str]] = []
    with prompt_handover():
        try:
            for start, stop in _groups(len(items)):
                batch.extend(_Incoming.of(lineno, item) for lineno, item in items[start:stop])
                to_check = [n for n in range(start, stop) if batch[n].unheld(held)]
                signatures = Signatures([batch[n].signed() for n in to_check])
                groups.append(signatures)
                for k, n in enumerate(to_check):
                    slot[n] = (signatures, k)
            failed_origins: dict[str, int] = {}
            kept = 0
            for n, incoming in enumerate(batch):
                if keep is not None and n % KEEP_EVERY == 0 and len(accepted) > kept:
                    keep(accepted[kept:])
                    kept = len(accepted)
                event = incoming.event
                try:
                    if incoming.error is not None:
                        raise incoming.error
                    assert event is not None
                    stored = held.get((event.origin, event.seq))
                    if stored == event.id:
                        duplicates += 1
                        continue
                    _check_unheld(event, stored, failed_origins)
                    signatures, k = slot[n]
                    if not signatures.ok(k):
                        raise IntegrityError(
                            f"event {event.id[:12]}: bad signature for origin {event.origin[:12]}"
                        )
                    _check_incoming(event, now_ms, held, decode)
                except IntegrityError as exc:
                    if event is not None:
                        failed_origins.setdefault(event.origin, event.seq)
                    rejected.append((incoming.lineno, str(exc)))
                    continue
                held[(event.origin, event.seq)] = event.id
                accepted.append((event, incoming.data))
            if keep is not None and len(accepted) > kept:
                keep(accepted[kept:])
        finally:
            for signatures in groups:
                signatures.cancel()
    return CheckedBatch(accepted, duplicates, rejected)


def _check_unheld(event: Event, stored: str | None, failed_origins: dict[str, int]) -> None:
    if stored is not None:
        raise ForkError(
            f"fork: origin {event.origin[:12]} seq {event.seq} is already stored as event "
            f"{stored[:12]}, not {event.id[:12]}"
        )
    if event.origin in failed_origins and event.seq > failed_origins[event.origin]:
        raise IntegrityError(
            f"origin {event.origin[:12]} seq {event.seq}: an earlier event of this "
            "origin in this batch was rejected"
        )


def _check_incoming(
    event: Event,
    now_ms: int,
    held: Mapping[tuple[str, int], str],
    decode: Callable[[Event], Payload | None],
) -> None:
    """The checks after the id and the signature: chain link, clock stamp, payload, actor."""
    if event.seq > 1:
        prev = held.get((event.origin, event.seq - 1))
        if prev is None:
            raise IntegrityError(
                f"origin {event.origin[:12]} seq {event.seq}: its predecessor seq "
                f"{event.seq - 1} is missing (out of order, or an earlier export was skipped)"
            )
        if prev != event.prev:
            raise IntegrityError(
                f"origin {event.origin[:12]} seq {event.seq}: prev does not match the stored "
                f"event {prev[:12]} (broken chain)"
            )
    if physical_ms(event.hlc) > now_ms + MAX_CLOCK_SKEW_MS:
        raise IntegrityError(f"event {event.id[:12]}: clock stamp is more than a day ahead")
    if codec.known_type(event.type):
        payload = decode(event)
        assert payload is not None
        _check_actor_consistency(event, payload)


def decode_with(upcaster: Upcaster, event: Event) -> Payload | None:
    """``event``'s payload upgraded by ``upcaster`` to the current version, or None for a type this
    version does not know (:meth:`EventStore.decode`, for stores that are not an SQLite log)."""
    if not codec.known_type(event.type):
        return None
    version, data = upcaster(event.type, event.v, event.data)
    if version != codec.current_version(event.type):
        raise IntegrityError(f"event {event.id[:12]}: {event.type} v{event.v} cannot be read by this version")
    return codec.decode_payload(event.type, data)


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
            origin = key.public_hex
            for actor, payload, data in encoded:
                seq += 1
                hlc = next_stamp(wall_ms, latest)
                type_name, version = payload.TYPE, payload.VERSION
                event_id, sig, text = seal_parts(
                    key,
                    seq=seq,
                    prev=prev,
                    hlc=hlc,
                    actor=actor,
                    type_name=type_name,
                    version=version,
                    data=data,
                )
                cursor = self.conn.execute(
                    _INSERT,
                    (
                        event_id,
                        origin,
                        seq,
                        prev,
                        hlc,
                        actor,
                        type_name,
                        version,
                        text,
                        sig,
                        subject_of(type_name, data),
                    ),
                )
                position = cursor.lastrowid
                appended.append(
                    Event(event_id, origin, seq, prev, hlc, actor, type_name, version, data, sig, position)
                )
                prev, latest = event_id, hlc
        return appended

    def ingest(self, items: Iterable[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        """Verify and store events from elsewhere. ``items`` pairs a line number with a parsed event,
        or with the error that parsing it raised (so the report keeps every line's reason).

        The checks are :func:`check_batch`'s, in one transaction: the ids held for the batch's
        ``(origin, seq)`` and predecessors are read in a few queries up front, and the accepted
        events inserted a few at a time as they are accepted (while the signatures of the next
        ones are checked on other threads); a crash stores the whole batch or nothing of it."""
        listed = list(items)
        with write_transaction(self.conn, self.path):
            held = self._held(lookup_keys(listed))
            before = self.conn.execute("SELECT MAX(position) FROM events").fetchone()[0] or 0
            checked = check_batch(listed, held, now_ms, self.decode, self._insert_rows)
            positions = self._positions_after(before) if checked.accepted else {}
        duplicates = checked.duplicates
        accepted: list[Event] = []
        for event, _ in checked.accepted:
            position = positions.get(event.id)
            if position is None:
                duplicates += 1
            else:
                accepted.append(event.at(position))
        return IngestReport(accepted=accepted, duplicates=duplicates, rejected=checked.rejected)

    def _held(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The stored event ids of those ``(origin, seq)`` that are stored: one query per origin
        and 500 seqs, on the ``UNIQUE (origin, seq)`` index."""
        wanted: dict[str, set[int]] = {}
        for origin, seq in keys:
            if seq >= 1:
                wanted.setdefault(origin, set()).add(seq)
        held: dict[tuple[str, int], str] = {}
        for origin, seqs in wanted.items():
            for chunk, marks in _chunks(sorted(seqs)):
                for seq, event_id in self.conn.execute(
                    f"SELECT seq, id FROM events WHERE origin = ? AND seq IN ({marks})", (origin, *chunk)
                ):
                    held[(origin, seq)] = event_id
        return held

    def _insert_rows(self, accepted: list[tuple[Event, str]]) -> None:
        """Insert the rows of ``accepted`` (events with their data's text), in order; a row whose
        id is already stored, which an intact log never has, is left out."""
        self.conn.executemany(_INSERT_MANY, [_stored_row(event, data) for event, data in accepted])

    def _positions_after(self, position: int) -> dict[str, int]:
        """The position of each event stored after ``position``, by event id."""
        return {
            event_id: int(stored)
            for stored, event_id in self.conn.execute(
                "SELECT position, id FROM events WHERE position > ? ORDER BY position", (position,)
            )
        }

    # -- reading ---------------------------------------------------------------------------------

    def decode(self, event: Event) -> Payload | None:
        """The event's payload at the current version, or None for a type this version does not know."""
        return decode_with(self._upcast, event)

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

    def iter_subjects(self, batch: int = 2000) -> Iterator[tuple[str, list[Event]]]:
        """Every subject with its events in ``(hlc, origin, seq)`` order, one subject at a time (by
        the stored ``subject`` column, in subject order): a walk of the subject index that sorts
        only within each subject, so the whole log is never held at once."""
        with translating(self.path):
            cursor = self.conn.execute(
                f"SELECT {_COLUMNS}, subject FROM events WHERE subject IS NOT NULL "
                "ORDER BY subject, hlc, origin, seq"
            )
            subject: str | None = None
            group: list[Event] = []
            marks: dict[str, str] | None = None
            while rows := cursor.fetchmany(batch):
                for row in rows:
                    if row[11] != subject:
                        if group:
                            yield subject, group  # type: ignore[misc]
                        subject, group, marks = row[11], [], None
                    mark = None
                    if row[7] == "message.marked":
                        if marks is None:
                            marks = _mark_texts(subject)
                        mark = marks.get(row[9])
                    if mark is None:
                        group.append(_row_event(row))
                    else:
                        group.append(_row_event(row, {"mark": mark, "message": subject}))
            if group:
                yield subject, group  # type: ignore[misc]

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

    def verify(
        self,
        batch: int = 2048,
        parts: int | None = None,
        fork_min: int = FORK_MIN,
        processes: int | None = None,
    ) -> list[Problem]:
        """Re-check every stored event: id, signature, chain continuity, payload and subject index.

        One pass over the ``(origin, seq)`` index, ``batch`` rows at a time. A log of at least
        ``fork_min`` events is cut into ``parts`` ranges (default: :data:`PARTS_PER_PROCESS` per
        process), checked by ``processes`` processes (default: one per core), this one and forked
        children (:mod:`~datacore_msg.eventlog.verifyparts`); else each batch's signatures are
        checked on every core (:mod:`~datacore_msg.eventlog.sigbatch`) while the previous batch's
        other checks run. The problems are the same, in the same order, either way."""
        processes = workers() if processes is None else processes
        if parts is None:
            parts = processes * PARTS_PER_PROCESS
        cut = None
        if processes > 1:
            with translating(self.path):
                cut = verifyparts.split(self.conn, parts, fork_min)
        if cut is None:
            with prompt_handover():
                found = self._verify_part(self.conn, verifyparts.WHOLE, batch, threads=True)
        else:
            opened: list[sqlite3.Connection] = []  # a child's own connection, opened once

            def in_child(part: verifyparts.Part) -> list[verifyparts.Found]:
                if not opened:
                    opened.append(verifyparts.open_read_only(self.path))
                return self._verify_part(opened[0], part, batch)

            found = verifyparts.run(
                cut, in_child, lambda part: self._verify_part(self.conn, part, batch), processes
            )
        return [Problem(position, event_id, reason) for position, event_id, reason in found]

    def _verify_part(
        self, conn: sqlite3.Connection, part: verifyparts.Part, batch: int, threads: bool = False
    ) -> list[verifyparts.Found]:
        """The problems of the events of ``part``, read through ``conn``; the signatures checked on
        threads or in this one."""
        found: list[verifyparts.Found] = []
        where, params = part.where()
        with translating(self.path):
            cursor = conn.execute(
                f"SELECT {_COLUMNS}, subject FROM events{where} ORDER BY origin, seq", params
            )
            chain: tuple[str | None, int, str | None] = (None, 1, None)
            if part.before is not None:
                origin, seq, event_id = part.before
                chain = (origin, _next_seq(seq), event_id)
            ahead = self._verify_batch(cursor.fetchmany(batch), threads)
            while ahead is not None:
                current = ahead
                ahead = self._verify_batch(cursor.fetchmany(batch), threads)
                chain = self._verify_checks(current, chain, found)
        return found

    def _verify_batch(
        self, rows: list[tuple[Any, ...]], threads: bool
    ) -> tuple[list[tuple[Event, str | None, str | None]], Signatures] | None:
        """The events of ``rows`` with their stored subjects and what is wrong with their seal
        before the signature (or None), and their signature checks, started."""
        if not rows:
            return None
        import hashlib  # bulk checks: OpenSSL's digest (see datacore_msg.digests)

        events: list[tuple[Event, str | None, str | None]] = []
        items: list[tuple[str, bytes, str]] = []
        for row in rows:
            seal_error: str | None = None
            try:
                event = _row_event(row)
            except IntegrityError:  # a stored text no writer of the log makes
                event = _row_event(row, _UNREADABLE)
                seal_error = f"event {str(row[1])[:12]}: data is not valid JSON"
            raw = b""
            if seal_error is None:
                try:
                    raw = body_encoding(event)[0]
                    if hashlib.sha256(raw).hexdigest() != event.id:
                        seal_error = f"event {event.id[:12]}: id does not match its content"
                except IntegrityError as exc:
                    seal_error = str(exc)
            events.append((event, row[11], seal_error))
            items.append((event.origin, raw, event.sig))
        return events, Signatures(items, None if threads else len(items) + 1)

    def _verify_checks(
        self,
        batch: tuple[list[tuple[Event, str | None, str | None]], Signatures],
        chain: tuple[str | None, int, str | None],
        found: list[verifyparts.Found],
    ) -> tuple[str | None, int, str | None]:
        events, signatures = batch
        origin, expected_seq, expected_prev = chain
        for index, (event, stored_subject, seal_error) in enumerate(events):
            assert event.position is not None
            if event.origin != origin:
                origin, expected_seq, expected_prev = event.origin, 1, None
            reasons: list[str] = []
            if event.seq != expected_seq:
                reasons.append(f"seq {event.seq} where {expected_seq} was expected (gap)")
            if event.prev != expected_prev:
                reasons.append("prev does not match the previous event (broken chain)")
            if seal_error is not None:
                reasons.append(seal_error)
            elif not signatures.ok(index):
                reasons.append(f"event {event.id[:12]}: bad signature for origin {event.origin[:12]}")
            if event.data is _UNREADABLE:
                pass  # said above, as the seal's problem
            elif type(event.data) is not dict or type(event.type) is not str:
                reasons.append(f"event {str(event.id)[:12]}: data is not a JSON object of a named type")
            else:
                try:
                    payload = self.decode(event)
                    if payload is not None:
                        _check_actor_consistency(event, payload)
                except IntegrityError as exc:
                    reasons.append(str(exc))
                if subject_of(event.type, event.data) != stored_subject:
                    reasons.append("subject index does not match the payload")
            found.extend((event.position, event.id, reason) for reason in reasons)
            expected_seq, expected_prev = _next_seq(event.seq), event.id
        return origin, expected_seq, expected_prev

    def created_twice(self, subjects: Iterable[str]) -> set[str]:
        """Of ``subjects``, the message ids sent (or task ids requested) by more than one event: one
        query per 500 subjects on the subject index, whatever the size of the log."""
        found: set[str] = set()
        for chunk, marks in _chunks(sorted(set(subjects))):
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
        ``verify`` lists them, apart from its problems, and they are never silent. One scan finds
        the ids created twice; their events are then read on the subject index."""
        with translating(self.path):
            twice = self.conn.execute(
                f"SELECT type, subject FROM events WHERE type IN {_CREATION_TYPES} "
                "AND subject IS NOT NULL GROUP BY type, subject HAVING COUNT(*) > 1 ORDER BY type, subject"
            ).fetchall()
        problems: list[Problem] = []
        for type_name, what, verb in (
            ("message.sent", "message", "sent"),
            ("task.requested", "task", "requested"),
        ):
            subjects = [subject for kind, subject in twice if kind == type_name]
            for chunk, marks in _chunks(subjects):
                with translating(self.path):
                    rows = self.conn.execute(
                        f"SELECT position, id, subject FROM events WHERE type = ? AND subject IN ({marks}) "
                        "ORDER BY subject, hlc, origin, seq",
                        (type_name, *chunk),
                    ).fetchall()
                problems.extend(
                    Problem(row[0], row[1], f"{what} id {row[2]} is {verb} by more than one event")
                    for row in rows
                )
        return problems


#: The data of a row whose stored text is not JSON (:meth:`EventStore.verify` reports it).
_UNREADABLE: dict[str, Any] = {}


def _next_seq(seq: Any) -> Any:
    """The seq expected after a stored ``seq``: the next number, or (after a value a file edited
    behind the log's back holds, which sorts after every number of its origin) that value again,
    so the rows after it are reported as gaps instead of stopping the check."""
    return seq + 1 if type(seq) in (int, float) else seq


def _check_actor_consistency(event: Event, payload: Payload) -> None:
    sender = getattr(payload, "sender", None)
    if sender is not None and sender != event.actor:
        raise IntegrityError(
            f"event {event.id[:12]}: {event.type} says it is from {sender!r} but its actor is {event.actor!r}"
        )
