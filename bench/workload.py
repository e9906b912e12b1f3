"""Benchmark setup (never timed): installations and synthetic, valid, signed event logs.

A synthetic log is what a year of use looks like on the user's own peer: messages to the user from a
few teammates (each teammate an origin with its own key) and from the user to them, spread over
twelve months of clock time; the user reads most incoming messages and archives ~90 % of all
messages some days later. Every event is sealed with the library's own ``envelope.seal`` (real ids,
hash chains and ed25519 signatures, HLC stamps that only grow) and inserted as the store's own rows
in large transactions. :func:`populate` returns what the log holds, so the report can say so.

A synthetic task log (:func:`populate_tasks`, figures 5 and 6) is the owner's installation receiving
requests for the owner's agent from the owner and five teammates of every trust tier (their keys
pinned in contacts.yaml, but one), at a steady pace, each with its whole life cycle: decided
(accepted, held or refused with the agent's reply), approved or rejected, claimed, sometimes timed
out and retried, completed, sometimes revised, archived within days, or cancelled. Its events are
sealed and inserted the same way.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from bench import residents
from datacore_msg.app.governance import decision_event
from datacore_msg.app.setup import init
from datacore_msg.app.space import Space, open_space
from datacore_msg.eventlog import codec
from datacore_msg.eventlog.connection import write_transaction
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.hlc import next_stamp
from datacore_msg.eventlog.payloads import (
    MessageMarked,
    MessageSent,
    Payload,
    TaskApproved,
    TaskArchived,
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskDecided,
    TaskRejected,
    TaskRequested,
    TaskRetried,
    TaskRevised,
)
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import row_of as store_row_of
from datacore_msg.governor.decide import Request, Usage, decide
from datacore_msg.governor.policy import Policy

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
        """The environment of a ``datacore-msg`` process on this installation: the resident process
        as by default, its socket in the bench's own runtime folder (:mod:`bench.residents`)."""
        env = dict(os.environ)
        env["DATACORE_ROOT"] = str(self.root)
        env.pop("DATACORE_MSG_STATE", None)
        residents.apply(env)
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


#: Makes a message's text from the plan's random source (:func:`message_text` by default).
TextMaker = Callable[[random.Random], str]


def _plan(
    n_messages: int,
    end_ms: int,
    rng: random.Random,
    text: TextMaker = message_text,
    live: int | None = None,
) -> tuple[list[_Message], list[tuple[int, int, int, int]], LogStats]:
    """Messages and the timeline of their events: (ms, tiebreak, kind, message index). With
    ``live``, nothing is archived and every incoming message is read except those among the last
    ``live`` messages (so two logs of different sizes have the same unread ones at their end)."""
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
        messages.append(_Message(mid, sender, to, text(rng), reply_to, thread, priority))
        last_with[peer] = (mid, thread or mid)
        actions.append((sent_ms, len(actions), _SENT, index))
        fate = rng.random()
        mark_ms = sent_ms
        if inbound:
            incoming += 1
            if live is not None:
                if index < n_messages - live and mark_ms + 60_000 < end_ms:
                    actions.append((mark_ms + 60_000, len(actions), _READ, index))
            elif fate < 0.95:
                mark_ms += rng.randint(60_000, 8 * 3_600_000)
                if mark_ms < end_ms:
                    actions.append((mark_ms, len(actions), _READ, index))
        is_archived = False
        if live is None and fate < 0.90:
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
    user_key: SigningKey,
    n_messages: int,
    end_ms: int,
    seed: int = 1,
    text: TextMaker = message_text,
    live: int | None = None,
) -> tuple[Iterator[Event], LogStats]:
    """A valid log of ``n_messages`` messages ending at ``end_ms``, sealed lazily in log order;
    ``text`` makes each message's text (``live``: see :func:`_plan`)."""
    rng = random.Random(seed)
    keys = {USER: user_key}
    keys.update({peer: SigningKey.generate() for peer in PEERS})
    messages, actions, stats = _plan(n_messages, end_ms, rng, text, live)

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


def populate(
    inst: Installation,
    n_messages: int,
    end_ms: int,
    seed: int = 1,
    text: TextMaker = message_text,
    live: int | None = None,
) -> LogStats:
    """Fill an installation's (empty) log with a year of synthetic history (``text`` makes each
    message's text; ``live``: nothing archived, all read but the last ``live`` messages; see
    :func:`_plan`)."""
    with inst.open() as space:
        events, stats = synthetic_events(space.signing_key(), n_messages, end_ms, seed, text, live)
        inserted = insert_rows(space.store.conn, space.store.path, events, batch=20_000)
    assert inserted == stats.events
    return stats


# -- agent tasks (figures 5 and 6) -----------------------------------------------------------------

#: The owner's agent, to which every synthetic task is sent.
AGENT = f"{USER}-claude"
#: Who sends tasks to the agent: (name, trust tier pinned in contacts.yaml or None, share). The owner
#: needs no contact entry; ``zoe`` has none (her key is not pinned), so the governor treats her as
#: tier ``unknown``.
TASK_SENDERS: tuple[tuple[str, str | None, float], ...] = (
    (USER, None, 0.35),
    ("tex", "team", 0.20),
    ("ana", "team", 0.15),
    ("mia", "trusted", 0.15),
    ("ben", "trusted", 0.10),
    ("zoe", None, 0.05),
)
#: Requests a day to the agent in every synthetic task log, so a larger log is a longer history
#: with the same recent days (the same outstanding and not yet archived tasks), not a busier one.
TASKS_PER_DAY = 120
_TAGS = ("review", "deploy", "ci", "docs", "sync", "bug", "research", "ops")
_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000

# What happens to a task (kinds of planned events).
_T_REQUEST, _T_DECIDE, _T_REPLY, _T_APPROVE, _T_REJECT, _T_CANCEL_SENDER = range(6)
_T_CANCEL_OWNER, _T_CLAIM, _T_RETRY, _T_COMPLETE, _T_REVISE, _T_ARCHIVE = range(6, 12)


@dataclass(frozen=True)
class _Task:
    id: str
    sender: str
    tier: str
    text: str
    tags: tuple[str, ...]
    effort: int | None
    tokens: int | None
    priority: str | None


@dataclass
class TaskLogStats:
    """What a synthetic task log holds (states as planned; the figures read the derived rows)."""

    tasks: int
    events: int
    days: float
    refused: int
    first_ms: int
    last_ms: int
    senders: int


def _tier_of(sender: str, pinned: str | None) -> str:
    if sender == USER:
        return "owner"
    return pinned or "unknown"


def _task_id(wall_ms: int, rng: random.Random, seen: set[str]) -> str:
    moment = datetime.fromtimestamp(wall_ms / 1000, tz=timezone.utc)
    while True:
        tid = f"task-{moment:%Y%m%d-%H%M%S}-{rng.getrandbits(32):08x}"
        if tid not in seen:
            seen.add(tid)
            return tid


def _new_task(index_ms: int, rng: random.Random, seen: set[str]) -> _Task:
    names = [name for name, _, _ in TASK_SENDERS]
    weights = [share for _, _, share in TASK_SENDERS]
    sender = rng.choices(names, weights)[0]
    pinned = next(tier for name, tier, _ in TASK_SENDERS if name == sender)
    tier = _tier_of(sender, pinned)
    max_effort = {"owner": 10, "team": 8, "trusted": 5, "unknown": 3}[tier]
    return _Task(
        id=_task_id(index_ms, rng, seen),
        sender=sender,
        tier=tier,
        text=message_text(rng),
        tags=tuple(rng.sample(_TAGS, rng.randint(1, 2))) if rng.random() < 0.3 else (),
        effort=rng.randint(1, max_effort) if rng.random() < 0.4 else None,
        tokens=rng.randint(5, 80) * 100 if rng.random() < 0.5 else None,
        priority=rng.choice(("A", "B", "C")) if rng.random() < 0.1 else None,
    )


def _lifecycle(task: _Task, rng: random.Random) -> list[tuple[int, int, int]]:
    """The task's events after its request: (delay from the request in ms, kind, argument)."""
    steps: list[tuple[int, int, int]] = []
    at = rng.randint(500, 5_000)  # the governor runs on the next refresh
    if task.sender != USER and rng.random() < 0.04:
        steps.append((at, _T_DECIDE, 2))  # refused, with the automatic reply
        steps.append((at + 1, _T_REPLY, 0))
        return steps
    held = task.tier in ("trusted", "unknown")
    steps.append((at, _T_DECIDE, 1 if held else 0))
    if held:
        at += rng.randint(5 * _MINUTE_MS, 6 * _HOUR_MS)
        if rng.random() < 0.15:
            steps.append((at, _T_REJECT, 0))
            return steps
        steps.append((at, _T_APPROVE, 0))
    if rng.random() < 0.03:
        at += rng.randint(_MINUTE_MS, 30 * _MINUTE_MS)
        kind = _T_CANCEL_SENDER if task.sender != USER and rng.random() < 0.5 else _T_CANCEL_OWNER
        steps.append((at, kind, 0))
        return steps
    rounds = 2 if rng.random() < 0.03 else 1  # a revision sends it back to the queue once
    for round_no in range(rounds):
        at += rng.randint(_MINUTE_MS, 90 * _MINUTE_MS)
        steps.append((at, _T_CLAIM, 0))
        if rng.random() < 0.06:  # timed out once, back to the queue, claimed again
            at += rng.randint(31 * _MINUTE_MS, 35 * _MINUTE_MS)
            steps.append((at, _T_RETRY, 0))
            at += rng.randint(_MINUTE_MS, 20 * _MINUTE_MS)
            steps.append((at, _T_CLAIM, 0))
        at += rng.randint(3 * _MINUTE_MS, 25 * _MINUTE_MS)
        steps.append((at, _T_COMPLETE, rng.randint(3, 60) * 100))
        if round_no + 1 < rounds:
            at += rng.randint(10 * _MINUTE_MS, 4 * _HOUR_MS)
            steps.append((at, _T_REVISE, 0))
    at += rng.randint(2 * _HOUR_MS, 3 * DAY_MS)  # the owner archives what is done within days
    steps.append((at, _T_ARCHIVE, 0))
    return steps


def _decided(task: _Task, outcome: int, ms: int, rng: random.Random) -> TaskDecided:
    if outcome == 2:
        rule, reason, retry = rng.choice(
            (
                ("rate", "Rate limit: 5/5 tasks this hour", ms + 20 * _MINUTE_MS),
                ("cooldown", "Cooldown: 12s since the last task, 60s required", ms + 48_000),
                ("queue_depth", "Queue full: 20/20", None),
            )
        )
        return TaskDecided(
            task=task.id,
            outcome="refused",
            rule=rule,
            reason=reason,
            tier=task.tier,
            retry_after=retry,
        )
    request = Request(task.id, task.sender, task.tier, task.effort, task.tokens or 5_000)
    usage = Usage(
        sender_tokens_today=rng.randint(0, 30) * 1_000,
        total_tokens_today=rng.randint(0, 200) * 1_000,
        sender_tasks_last_hour=rng.randint(0, 2),
        sender_oldest_in_hour_ms=None,
        sender_last_task_ms=ms - rng.randint(10, 300) * _MINUTE_MS,
        queue_depth=rng.randint(0, 8),
    )
    decision = decide(request, usage, Policy(), ms, ms + DAY_MS)
    return decision_event(task.id, decision, ms)


def _task_payload(
    task: _Task, kind: int, arg: int, ms: int, rng: random.Random, seen: set[str]
) -> tuple[str, Payload]:
    """(actor, payload) of one planned event."""
    if kind == _T_REQUEST:
        return task.sender, TaskRequested(
            id=task.id,
            sender=task.sender,
            to=AGENT,
            text=task.text,
            tags=task.tags,
            effort=task.effort,
            tokens=task.tokens,
            priority=task.priority,
        )
    if kind == _T_DECIDE:
        return AGENT, _decided(task, arg, ms, rng)
    if kind == _T_REPLY:
        mid = message_id(ms, rng)
        while mid in seen:
            mid = message_id(ms, rng)
        seen.add(mid)
        text = f"Task {task.id} for {AGENT} was refused. You can send it again later."
        return AGENT, MessageSent(id=mid, sender=AGENT, to=task.sender, text=text)
    owner: dict[int, Payload] = {
        _T_APPROVE: TaskApproved(task=task.id),
        _T_REJECT: TaskRejected(task=task.id, reason="not now, sorry"),
        _T_CANCEL_OWNER: TaskCancelled(task=task.id, reason="no longer needed"),
        _T_REVISE: TaskRevised(task=task.id, feedback="please also cover the edge cases"),
        _T_ARCHIVE: TaskArchived(task=task.id),
    }
    if kind in owner:
        return USER, owner[kind]
    if kind == _T_CANCEL_SENDER:
        return task.sender, TaskCancelled(task=task.id, reason="sorted it out myself")
    agent: dict[int, Payload] = {
        _T_CLAIM: TaskClaimed(task=task.id),
        _T_RETRY: TaskRetried(task=task.id, reason="timed out after 30 min", timeout=True),
        _T_COMPLETE: TaskCompleted(task=task.id, tokens=arg),
    }
    return AGENT, agent[kind]


def _plan_tasks(
    n_tasks: int, end_ms: int, rng: random.Random
) -> tuple[list[_Task], list[tuple[int, int, int, int, int]], TaskLogStats]:
    """Tasks and the timeline of their events: (ms, tiebreak, kind, task index, argument)."""
    step = DAY_MS / TASKS_PER_DAY
    start_ms = int(end_ms - n_tasks * step)
    tasks: list[_Task] = []
    actions: list[tuple[int, int, int, int, int]] = []
    seen: set[str] = set()
    refused = 0
    for index in range(n_tasks):
        asked_ms = int(start_ms + (index + rng.random()) * step)
        if asked_ms >= end_ms:
            asked_ms = end_ms - 1
        task = _new_task(asked_ms, rng, seen)
        tasks.append(task)
        actions.append((asked_ms, len(actions), _T_REQUEST, index, 0))
        for delay, kind, arg in _lifecycle(task, rng):
            if asked_ms + delay < end_ms:
                actions.append((asked_ms + delay, len(actions), kind, index, arg))
                refused += kind == _T_REPLY
    actions.sort()
    stats = TaskLogStats(
        tasks=n_tasks,
        events=len(actions),
        days=(end_ms - start_ms) / DAY_MS,
        refused=refused,
        first_ms=actions[0][0],
        last_ms=actions[-1][0],
        senders=len(TASK_SENDERS),
    )
    return tasks, actions, stats


def synthetic_task_events(
    keys: dict[str, SigningKey], n_tasks: int, end_ms: int, seed: int = 1
) -> tuple[Iterator[Event], TaskLogStats]:
    """A valid log of ``n_tasks`` requests to the owner's agent (and their whole life cycles) ending at
    ``end_ms``, sealed lazily in log order. ``keys`` holds every sender's key; the agent's events are
    signed with the owner's, as on the owner's installation."""
    rng = random.Random(seed)
    tasks, actions, stats = _plan_tasks(n_tasks, end_ms, rng)
    seen = {task.id for task in tasks}

    def events() -> Iterator[Event]:
        heads: dict[str, tuple[int, str | None]] = {}
        latest: int | None = None
        for ms, _, kind, index, arg in actions:
            actor, payload = _task_payload(tasks[index], kind, arg, ms, rng, seen)
            key = keys[USER if actor == AGENT else actor]
            seq, prev = heads.get(key.public_hex, (0, None))
            latest = next_stamp(ms, latest)
            event = seal(
                key,
                seq=seq + 1,
                prev=prev,
                hlc=latest,
                actor=actor,
                type_name=payload.TYPE,
                version=payload.VERSION,
                data=codec.encode_payload(payload),
            )
            heads[key.public_hex] = (seq + 1, event.id)
            yield event

    return events(), stats


def pin_task_senders(inst: Installation, keys: dict[str, SigningKey]) -> None:
    """Pin the keys of the senders that have a tier in the installation's contacts.yaml."""
    from datacore_msg.config.contacts_edit import add_contact

    with inst.open() as space:
        path = space.paths.contacts_file
    today = datetime.now(timezone.utc).date().isoformat()
    for name, tier, _ in TASK_SENDERS:
        if tier is not None:
            add_contact(path, name, keys[name].public_hex, tier, today)


def populate_tasks(
    inst: Installation, n_tasks: int, end_ms: int, seed: int = 1
) -> tuple[TaskLogStats, dict[str, SigningKey]]:
    """Fill an installation's (empty) log with ``n_tasks`` synthetic tasks to the owner's agent, pin
    the senders' keys, and return what the log holds and every sender's signing key. The views are
    not caught up (the caller runs ``refresh`` once, with the clock it measures with)."""
    with inst.open() as space:
        keys = {USER: space.signing_key()}
        keys.update({name: SigningKey.generate() for name, _, _ in TASK_SENDERS if name != USER})
        events, stats = synthetic_task_events(keys, n_tasks, end_ms, seed)
        inserted = insert_rows(space.store.conn, space.store.path, events, batch=20_000)
    assert inserted == stats.events
    pin_task_senders(inst, keys)
    return stats, keys


def task_state_counts(space: Space) -> dict[str, int]:
    """Tasks per state, from the derived task rows (what the governor's figures are read from)."""
    rows = space.store.conn.execute("SELECT state, COUNT(*) FROM task_state GROUP BY state")
    return {str(state): int(count) for state, count in rows}
