"""The reducers as pure functions: events built in memory, folded with no database, no file, no clock.

Each row of a table is a story (who wrote what, from which key, in which order) and the state the
fold must end in. The same stories run through the whole system elsewhere; here a failure points at
the reducer alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from datacore_msg.eventlog.codec import decode_payload, encode_payload
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.payloads import (
    MessageMarked,
    MessageSent,
    Payload,
    TaskApproved,
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskDecided,
    TaskRequested,
    TaskRetried,
)
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.projections.messages import fold_message
from datacore_msg.projections.tasks import fold_task
from datacore_msg.task_states import CANCELLED, DONE, QUEUED, REQUESTED, WAITING, WORKING, move_between

KEYS = {name: SigningKey.generate() for name in ("gregor", "tex", "mallory")}
BOOK = TrustBook(
    owner="gregor",
    keys={"gregor": {KEYS["gregor"].public_hex}, "tex": {KEYS["tex"].public_hex}},
    tiers={"tex": "team"},
)
MSG = "msg-20261207-100000-0000abcd"
TASK = "task-20261207-100000-0000abcd"


def decode(event: Event) -> Payload | None:
    return decode_payload(event.type, event.data)


def story(*steps: tuple[str, str, Payload]) -> list[Event]:
    """Events for ``(key owner, actor, payload)`` steps, one second apart, in fold order."""
    seqs: dict[str, int] = {}
    events = []
    for n, (key_name, actor, payload) in enumerate(steps):
        key = KEYS[key_name]
        seqs[key_name] = seqs.get(key_name, 0) + 1
        events.append(
            seal(
                key,
                seq=seqs[key_name],
                prev=None,
                hlc=(1_800_000_000_000 + n * 1000) << 16,
                actor=actor,
                type_name=payload.TYPE,
                version=payload.VERSION,
                data=encode_payload(payload),
            )
        )
    return sorted(events, key=Event.order_key)


def sent(sender: str = "tex", to: str = "gregor") -> MessageSent:
    return MessageSent(id=MSG, sender=sender, to=to, text="hello")


def mark(value: str) -> MessageMarked:
    return MessageMarked(message=MSG, mark=value)


MESSAGE_TABLE: list[tuple[str, list[tuple[str, str, Payload]], dict[str, Any] | None]] = [
    ("sent only: unread for both", [("tex", "tex", sent())], {"gregor": None, "tex": None, "superseded": 0}),
    (
        "the recipient reads it",
        [("tex", "tex", sent()), ("gregor", "gregor", mark("read"))],
        {"gregor": "read", "tex": None, "superseded": 0},
    ),
    (
        "marks are personal",
        [("tex", "tex", sent()), ("tex", "tex", mark("done")), ("gregor", "gregor", mark("todo"))],
        {"gregor": "todo", "tex": "done", "superseded": 0},
    ),
    (
        "a mark by someone who is not a participant does not count",
        [("tex", "tex", sent()), ("mallory", "mallory", mark("read"))],
        {"gregor": None, "tex": None, "superseded": 1},
    ),
    (
        "a participant's name from an unpinned key does not count",
        [("tex", "tex", sent()), ("mallory", "gregor", mark("archive"))],
        {"gregor": None, "tex": None, "superseded": 1},
    ),
    (
        "archive is final",
        [("tex", "tex", sent()), ("gregor", "gregor", mark("archive")), ("gregor", "gregor", mark("read"))],
        {"gregor": "archive", "tex": None, "superseded": 1},
    ),
    ("a pinned name written by another key is not shown", [("mallory", "tex", sent())], None),
    ("marks without the message fold to nothing", [("gregor", "gregor", mark("read"))], None),
    (
        "an unpinned name is shown (it cannot be checked)",
        [("mallory", "bob", sent(sender="bob"))],
        {"gregor": None, "bob": None, "superseded": 0},
    ),
]


@pytest.mark.parametrize(("title", "steps", "expected"), MESSAGE_TABLE, ids=[row[0] for row in MESSAGE_TABLE])
def test_fold_message(
    title: str, steps: list[tuple[str, str, Payload]], expected: dict[str, Any] | None
) -> None:
    state = fold_message(story(*steps), decode, BOOK)
    if expected is None:
        assert state is None
        return
    assert state is not None
    assert len(state.superseded) == expected.pop("superseded")
    assert {user: state.mark_of(user) for user in expected} == expected


def request(sender: str = "tex") -> TaskRequested:
    return TaskRequested(id=TASK, sender=sender, to="gregor-claude", text="research pricing", tokens=1000)


def decided(outcome: str) -> TaskDecided:
    return TaskDecided(task=TASK, outcome=outcome, rule="auto", reason="ok", tier="team")


ACCEPT = ("gregor", "gregor-claude", decided("accepted"))
HOLD = ("gregor", "gregor-claude", decided("held"))
CLAIM = ("gregor", "gregor-claude", TaskClaimed(task=TASK))
COMPLETE = ("gregor", "gregor-claude", TaskCompleted(task=TASK, tokens=900))
TASK_TABLE: list[tuple[str, list[tuple[str, str, Payload]], str, int]] = [
    ("a request waits for the governor", [("tex", "tex", request())], REQUESTED, 0),
    ("accepted: queued", [("tex", "tex", request()), ACCEPT], QUEUED, 0),
    ("held: waiting for the owner", [("tex", "tex", request()), HOLD], WAITING, 0),
    (
        "the owner approves a held task",
        [("tex", "tex", request()), HOLD, ("gregor", "gregor", TaskApproved(task=TASK))],
        QUEUED,
        0,
    ),
    (
        "only the owner approves",
        [("tex", "tex", request()), HOLD, ("tex", "tex", TaskApproved(task=TASK))],
        WAITING,
        1,
    ),
    (
        "a decision from a key the owner did not pin is superseded",
        [("tex", "tex", request()), ("mallory", "gregor-claude", decided("accepted"))],
        REQUESTED,
        1,
    ),
    ("the agent claims and completes", [("tex", "tex", request()), ACCEPT, CLAIM, COMPLETE], DONE, 0),
    ("a second claim loses", [("tex", "tex", request()), ACCEPT, CLAIM, CLAIM], WORKING, 1),
    (
        "the sender withdraws a queued task",
        [("tex", "tex", request()), ACCEPT, ("tex", "tex", TaskCancelled(task=TASK))],
        CANCELLED,
        0,
    ),
    (
        "the sender cannot cancel started work",
        [("tex", "tex", request()), ACCEPT, CLAIM, ("tex", "tex", TaskCancelled(task=TASK))],
        WORKING,
        1,
    ),
    (
        "a retry sends the task back to the queue",
        [("tex", "tex", request()), ACCEPT, CLAIM, ("gregor", "gregor-claude", TaskRetried(task=TASK))],
        QUEUED,
        0,
    ),
    ("nothing moves before the decision", [("tex", "tex", request()), CLAIM], REQUESTED, 1),
]


@pytest.mark.parametrize(
    ("title", "steps", "state", "superseded"), TASK_TABLE, ids=[r[0] for r in TASK_TABLE]
)
def test_fold_task(title: str, steps: list[tuple[str, str, Payload]], state: str, superseded: int) -> None:
    folded = fold_task(story(*steps), decode, BOOK)
    assert folded is not None
    assert folded.state == state
    assert sum(1 for change in folded.changes if change.superseded) == superseded


def test_a_move_ordered_before_its_request_is_kept_as_superseded() -> None:
    events = story(("gregor", "gregor-claude", decided("accepted")), ("tex", "tex", request()))
    folded = fold_task(events, decode, BOOK)
    assert folded is not None
    assert folded.state == REQUESTED
    assert [change.superseded for change in folded.changes] == ["it is ordered before the request"]


def test_a_task_without_its_request_folds_to_nothing() -> None:
    assert fold_task(story(CLAIM), decode, BOOK) is None


#: The keyword edits of the agent view, as users know them (docs/tasks.md): derived from the one
#: table of moves, never restated; this table is the check that the derivation says what it did.
KEYWORD_EDITS = {
    (WAITING, QUEUED): "approve",
    (WAITING, CANCELLED): "reject",
    (QUEUED, CANCELLED): "cancel",
    (WORKING, CANCELLED): "cancel",
    ("DONE", "ARCHIVED"): "archive",
    ("DONE", QUEUED): "revise",
    (QUEUED, WORKING): "claim",
    (WORKING, QUEUED): "retry",
}


def test_keyword_edits_are_exactly_the_moves_a_keyword_can_name() -> None:
    states = (REQUESTED, WAITING, QUEUED, WORKING, DONE, CANCELLED, "ARCHIVED")
    derived = {(a, b): move_between(a, b) for a in states for b in states if move_between(a, b)}
    assert derived == KEYWORD_EDITS
