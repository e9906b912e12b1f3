"""Benchmark setup (never timed): installations and synthetic, valid, signed event logs.

A synthetic log is what a year of use looks like on the user's own peer: messages to the user from a
few teammates (each teammate an origin with its own key) and from the user to them, spread over
twelve months of clock time; the user reads most incoming messages and archives ~90 % of all
messages some days later. Every event is sealed with the library's own ``envelope.seal`` (real ids,
hash chains and ed25519 signatures, HLC stamps that only grow) and inserted as the store's own rows
in large transactions. :func:`populate` returns what the log holds, so the report can say so.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from datacore_msg.app.setup import init
from datacore_msg.app.space import Space, open_space
from datacore_msg.eventlog import codec
from datacore_msg.eventlog.connection import write_transaction
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.hlc import next_stamp
from datacore_msg.eventlog.payloads import MessageMarked, MessageSent, Payload
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import row_of as store_row_of

USER = "gregor"
PEERS = ("tex", "ana", "mia", "ben")
TIMEZONE = "Europe/Ljubljana"
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS

#: The columns of the store's ``events`` table, in the order of :func:`row_of`.
INSERT_SQL = (
    "INSERT INTO events (id, origin, seq, prev, hlc, actor, type, v, data, sig, subject) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
Row = tuple[str, str, int, str | None, int, str, str, int, str, str, str | None]

_VOCABULARY = (
    "relay review the PR today please check deploy branch merge tests failing on CI build agent "
    "queue budget inbox outbox thread reply after lunch tomorrow morning meeting notes draft plan "
    "ship it looks good to me can you take a look at this when you have time thanks a lot sure "
    "will do done fixed the bug in sync protocol websocket frame size limit org file view render "
    "archive month header properties drawer timestamp clock zone ljubljana berlin"
)
_WORDS = tuple(_VOCABULARY.split())
_ODD_LINES = ("* not a heading", ":END:", "#+TITLE: not a keyword", "CLOCK: [2026-01-01 Thu]")


def row_of(event: Event) -> Row:
    """The row the store writes for ``event`` (the store's own mapping)."""
    return cast(Row, store_row_of(event))


def message_text(rng: random.Random) -> str:
    """A message body: a few words to a short paragraph, sometimes two lines or an org-like line."""
    words = rng.choices(_WORDS, k=rng.randint(4, 45))
    text = " ".join(words).capitalize() + "."
    roll = rng.random()
    if roll < 0.15:
        text += "\n" + " ".join(rng.choices(_WORDS, k=rng.randint(3, 20))) + "."
    elif roll < 0.17:
        text += "\n" + rng.choice(_ODD_LINES)
    return text


def message_id(wall_ms: int, rng: random.Random) -> str:
    moment = datetime.fromtimestamp(wall_ms / 1000, tz=timezone.utc)
    return f"msg-{moment:%Y%m%d-%H%M%S}-{rng.getrandbits(32):08x}"


@dataclass
class Installation:
    """One user's installation in a temporary folder (settings, key, SQLite log, views)."""

    root: Path
    state: Path
    user: str = USER

    def open(self) -> Space:
        return open_space(str(self.root))

    @property
    def views_dir(self) -> Path:
        return self.root / "0-personal" / "org" / "messaging"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DATACORE_ROOT"] = str(self.root)
        env.pop("DATACORE_MSG_STATE", None)
        return env


def make_installation(base: Path, user: str = USER, tz: str = TIMEZONE) -> Installation:
    inst = Installation(root=base / "root", state=base / "state", user=user)
    init(user, "0-personal", tz, str(inst.root), state_dir=str(inst.state))
    return inst


@dataclass
class LogStats:
    messages: int
    events: int
    incoming: int
    archived: int
    live_inbox: int
    live_outbox: int
    first_ms: int
    last_ms: int


@dataclass(frozen=True)
class _Message:
    id: str
    sender: str
    to: str
    text: str
    reply_to: str | None
    thread: str | None
    priority: str | None


_SENT, _READ, _ARCHIVE = 0, 1, 2


def _plan(
    n_messages: int, end_ms: int, rng: random.Random
) -> tuple[list[_Message], list[tuple[int, int, int, int]], LogStats]:
    """Messages and the timeline of their events: (ms, tiebreak, kind, message index)."""
    start_ms = end_ms - YEAR_MS
    step = YEAR_MS / n_messages
    messages: list[_Message] = []
    actions: list[tuple[int, int, int, int]] = []
    last_with: dict[str, tuple[str, str]] = {}
    seen_ids: set[str] = set()
    incoming = archived = live_in = live_out = 0
    for index in range(n_messages):
        sent_ms = int(start_ms + (index + rng.random()) * step)
        peer = rng.choice(PEERS)
        inbound = rng.random() < 0.7
        sender, to = (peer, USER) if inbound else (USER, peer)
        reply_to = thread = None
        if peer in last_with and rng.random() < 0.3:
            reply_to, thread = last_with[peer]
        mid = message_id(sent_ms, rng)
        while mid in seen_ids:
            mid = message_id(sent_ms, rng)
        seen_ids.add(mid)
        priority = rng.choice(("A", "B", "C")) if rng.random() < 0.1 else None
        messages.append(_Message(mid, sender, to, message_text(rng), reply_to, thread, priority))
        last_with[peer] = (mid, thread or mid)
        actions.append((sent_ms, len(actions), _SENT, index))
        fate = rng.random()
        mark_ms = sent_ms
        if inbound:
            incoming += 1
            if fate < 0.95:
                mark_ms += rng.randint(60_000, 8 * 3_600_000)
                if mark_ms < end_ms:
                    actions.append((mark_ms, len(actions), _READ, index))
        is_archived = False
        if fate < 0.90:
            mark_ms += rng.randint(3_600_000, 20 * DAY_MS)
            if mark_ms < end_ms:
                actions.append((mark_ms, len(actions), _ARCHIVE, index))
                is_archived = True
        if is_archived:
            archived += 1
        elif inbound:
            live_in += 1
        else:
            live_out += 1
    actions.sort()
    stats = LogStats(
        messages=n_messages,
        events=len(actions),
        incoming=incoming,
        archived=archived,
        live_inbox=live_in,
        live_outbox=live_out,
        first_ms=actions[0][0],
        last_ms=actions[-1][0],
    )
    return messages, actions, stats


def _payload(kind: int, msg: _Message) -> tuple[str, Payload]:
    if kind == _SENT:
        return msg.sender, MessageSent(
            id=msg.id,
            sender=msg.sender,
            to=msg.to,
            text=msg.text,
            reply_to=msg.reply_to,
            thread=msg.thread,
            priority=msg.priority,
        )
    return USER, MessageMarked(message=msg.id, mark="read" if kind == _READ else "archive")


def synthetic_events(
    user_key: SigningKey, n_messages: int, end_ms: int, seed: int = 1
) -> tuple[Iterator[Event], LogStats]:
    """A valid log of ``n_messages`` messages ending at ``end_ms``, sealed lazily in log order."""
    rng = random.Random(seed)
    keys = {USER: user_key}
    keys.update({peer: SigningKey.generate() for peer in PEERS})
    messages, actions, stats = _plan(n_messages, end_ms, rng)

    def events() -> Iterator[Event]:
        heads: dict[str, tuple[int, str | None]] = {}
        latest: int | None = None
        for ms, _, kind, index in actions:
            actor, payload = _payload(kind, messages[index])
            seq, prev = heads.get(actor, (0, None))
            latest = next_stamp(ms, latest)
            event = seal(
                keys[actor],
                seq=seq + 1,
                prev=prev,
                hlc=latest,
                actor=actor,
                type_name=payload.TYPE,
                version=payload.VERSION,
                data=codec.encode_payload(payload),
            )
            heads[actor] = (seq + 1, event.id)
            yield event

    return events(), stats


def insert_rows(conn: sqlite3.Connection, path: Path, events: Iterator[Event], batch: int) -> int:
    """Insert events as the store's rows, ``batch`` per transaction; return how many."""
    count = 0
    chunk: list[Row] = []
    for event in events:
        chunk.append(row_of(event))
        if len(chunk) >= batch:
            with write_transaction(conn, path):
                conn.executemany(INSERT_SQL, chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        with write_transaction(conn, path):
            conn.executemany(INSERT_SQL, chunk)
        count += len(chunk)
    return count


def populate(inst: Installation, n_messages: int, end_ms: int, seed: int = 1) -> LogStats:
    """Fill an installation's (empty) log with a year of synthetic history."""
    with inst.open() as space:
        events, stats = synthetic_events(space.signing_key(), n_messages, end_ms, seed)
        inserted = insert_rows(space.store.conn, space.store.path, events, batch=20_000)
    assert inserted == stats.events
    return stats
