"""The tasks reducer: the events of one task, in log order, fold into its state and history.

Theory of operation
-------------------
A task starts with ``task.requested`` (state ``REQUESTED``: not yet decided). Every later event names
an action; the one table of moves, :data:`datacore_msg.task_states.MOVES`, says from which states it
may move the task, to which state, and who may perform it. The fold walks the task's events in
``(hlc, origin, seq)`` order — the same on every peer
— and applies each action that is allowed *at that point*; an action that is not (the state moved on,
or the actor may not perform it) is kept as a *superseded* change with the reason, so a race between
two installations (the owner cancels on a laptop while the agent claims on a desktop) ends the same
everywhere: the first in that order wins, and the loser shows in the task's LOGBOOK.

Who is who comes from the :class:`~datacore_msg.eventlog.trust.TrustBook`: the owner and the agent
must act from a key pinned for the owner (or the agent); the sender from the key that made the
request (or one pinned for the sender). A name written by someone else's key acts as nobody. Two
installations with the same pinned keys therefore fold the same states from the same events.

The fold also yields what the governor's figures are made of: the estimate while the task is
outstanding, the time the request was let through, and each completion's reported tokens.

A ``task.imported`` (history from datacore-messaging's files), recorded by the agent's owner on a
pinned key, is a request that starts in the state it had (``WAITING`` for one still in play), with
no decision, no tier and no request origin; later moves apply to it as to any task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.hlc import COUNTER_BITS, physical_ms
from datacore_msg.eventlog.names import owner_of
from datacore_msg.eventlog.payloads import (
    Payload,
    TaskApproved,
    TaskArchived,
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskDecided,
    TaskImported,
    TaskRejected,
    TaskRequested,
    TaskRetried,
    TaskRevised,
)
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.records import TYPE_CHECKING, Record, set_field
from datacore_msg.task_states import (
    AGENT,
    CANCELLED,
    DECIDED_STATE,
    FINAL,
    MOVES,
    OWNER,
    REQUESTED,
    ROLE_NAMES,
    SENDER,
    STATES,
)

if TYPE_CHECKING:
    from typing import Any

ACTIONS: dict[type[object], str] = {
    TaskApproved: "approve",
    TaskRejected: "reject",
    TaskCancelled: "cancel",
    TaskClaimed: "claim",
    TaskCompleted: "complete",
    TaskRetried: "retry",
    TaskRevised: "revise",
    TaskArchived: "archive",
}


class Change(Record):
    """One line of the task's history (its LOGBOOK)."""

    __slots__ = ("action", "actor", "after", "before", "event_id", "hlc", "note", "superseded")

    hlc: int
    actor: str
    action: str
    before: str
    after: str | None
    note: str | None
    superseded: str | None
    event_id: str

    def __init__(
        self,
        hlc: int,
        actor: str,
        action: str,
        before: str,
        after: str | None,
        note: str | None,
        superseded: str | None,
        event_id: str,
    ) -> None:
        set_field(self, "hlc", hlc)
        set_field(self, "actor", actor)
        set_field(self, "action", action)
        set_field(self, "before", before)
        set_field(self, "after", after)
        set_field(self, "note", note)
        set_field(self, "superseded", superseded)
        set_field(self, "event_id", event_id)


class Completion(Record):
    __slots__ = ("at_ms", "tokens")
    at_ms: int
    tokens: int

    def __init__(
        self,
        at_ms: int,
        tokens: int,
    ) -> None:
        set_field(self, "at_ms", at_ms)
        set_field(self, "tokens", tokens)


class TaskState(Record):
    __slots__ = (
        "approval",
        "cancellation_reason",
        "changes",
        "clashes",
        "closed_hlc",
        "completed",
        "completed_hlc",
        "completions",
        "decided_hlc",
        "decision",
        "deferral",
        "imported",
        "rejection_reason",
        "request",
        "request_event",
        "request_order",
        "request_origin",
        "retry_count",
        "retry_reason",
        "revision_feedback",
        "started_at",
        "started_hlc",
        "state",
        "state_hlc",
    )
    request: TaskRequested
    request_order: tuple[int, str, int]
    request_origin: str
    state: str
    state_hlc: int
    decision: TaskDecided | None
    decided_hlc: int | None
    #: The latest deferral of a still undecided request (over the rate, within the cooldown): its
    #: ``retry_after`` is when the owner's governor looks at it again.
    deferral: TaskDecided | None
    approval: str | None
    started_hlc: int | None
    started_at: int | None
    completed_hlc: int | None
    closed_hlc: int | None
    completed: TaskCompleted | None
    retry_count: int
    retry_reason: str | None
    revision_feedback: str | None
    rejection_reason: str | None
    cancellation_reason: str | None
    completions: tuple[Completion, ...]
    changes: tuple[Change, ...]
    #: The id of the ``task.requested`` event that is this task.
    request_event: str
    #: Other ``task.requested`` events that reused this task's id (kept, never the task).
    clashes: tuple[str, ...]
    #: Set when the task is history imported from datacore-messaging (``task.imported``).
    imported: TaskImported | None

    def __init__(
        self,
        request: TaskRequested,
        request_order: tuple[int, str, int],
        request_origin: str,
        state: str,
        state_hlc: int,
        decision: TaskDecided | None = None,
        decided_hlc: int | None = None,
        deferral: TaskDecided | None = None,
        approval: str | None = None,
        started_hlc: int | None = None,
        started_at: int | None = None,
        completed_hlc: int | None = None,
        closed_hlc: int | None = None,
        completed: TaskCompleted | None = None,
        retry_count: int = 0,
        retry_reason: str | None = None,
        revision_feedback: str | None = None,
        rejection_reason: str | None = None,
        cancellation_reason: str | None = None,
        completions: tuple[Completion, ...] = (),
        changes: tuple[Change, ...] = (),
        request_event: str = "",
        clashes: tuple[str, ...] = (),
        imported: TaskImported | None = None,
    ) -> None:
        set_field(self, "request", request)
        set_field(self, "request_order", request_order)
        set_field(self, "request_origin", request_origin)
        set_field(self, "state", state)
        set_field(self, "state_hlc", state_hlc)
        set_field(self, "decision", decision)
        set_field(self, "decided_hlc", decided_hlc)
        set_field(self, "deferral", deferral)
        set_field(self, "approval", approval)
        set_field(self, "started_hlc", started_hlc)
        set_field(self, "started_at", started_at)
        set_field(self, "completed_hlc", completed_hlc)
        set_field(self, "closed_hlc", closed_hlc)
        set_field(self, "completed", completed)
        set_field(self, "retry_count", retry_count)
        set_field(self, "retry_reason", retry_reason)
        set_field(self, "revision_feedback", revision_feedback)
        set_field(self, "rejection_reason", rejection_reason)
        set_field(self, "cancellation_reason", cancellation_reason)
        set_field(self, "completions", completions)
        set_field(self, "changes", changes)
        set_field(self, "request_event", request_event)
        set_field(self, "clashes", clashes)
        set_field(self, "imported", imported)

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def agent(self) -> str:
        return self.request.to

    @property
    def owner(self) -> str:
        return owner_of(self.request.to)

    @property
    def sender(self) -> str:
        return self.request.sender

    @property
    def tier(self) -> str | None:
        return None if self.decision is None else self.decision.tier

    @property
    def deferred_until_ms(self) -> int | None:
        """When a deferred request is decided again (None: not deferred)."""
        if self.state != REQUESTED or self.deferral is None:
            return None
        return self.deferral.retry_after

    @property
    def requested_hlc(self) -> int:
        return self.request_order[0]

    @property
    def shown_requested_hlc(self) -> int:
        """The request's time as the views show it: the old entry's own time for imported history."""
        if self.imported is not None and self.imported.at is not None:
            return self.imported.at << COUNTER_BITS
        return self.requested_hlc

    @property
    def let_through_ms(self) -> int | None:
        """When the governor accepted or held the request (what rate and cooldown count), by the
        deciding installation's wall clock."""
        if self.decision is None or self.decision.outcome == "refused" or self.decided_hlc is None:
            return None
        if self.decision.at is not None:
            return self.decision.at
        return physical_ms(self.decided_hlc)

    def estimate(self, default_tokens: int) -> int:
        return self.request.tokens if self.request.tokens is not None else default_tokens


def roles_of(state: TaskState, actor: str, origin: str, book: TrustBook) -> frozenset[str]:
    roles: set[str] = set()
    if actor == state.owner and book.backs(actor, origin):
        roles.add(OWNER)
    if actor == state.agent and book.backs(actor, origin):
        roles.add(AGENT)
    if actor == state.sender and (origin == state.request_origin or book.backs(actor, origin)):
        roles.add(SENDER)
    return frozenset(roles)


def _expected(action: str) -> str:
    states = sorted({s for rule in MOVES if rule.action == action for s in rule.before}, key=STATES.index)
    return " or ".join(states)


def refusal(state: TaskState, action: str, actor: str, origin: str, book: TrustBook) -> str | None:
    """Why ``actor`` (writing from ``origin``) may not perform ``action`` now, or None if it may."""
    rules = [rule for rule in MOVES if rule.action == action]
    matching = [rule for rule in rules if state.state in rule.before]
    if not matching:
        return f"{action}: expected state {_expected(action)}, got {state.state}"
    roles = roles_of(state, actor, origin, book)
    if not any(roles & rule.roles for rule in matching):
        allowed = sorted({role for rule in matching for role in rule.roles})
        who = " or ".join(ROLE_NAMES[role] for role in allowed)
        return f"{action}: only {who} may {action} task {state.id} in state {state.state}"
    return None


def _target(state: TaskState, action: str) -> str:
    return next(rule.after for rule in MOVES if rule.action == action and state.state in rule.before)


Decoder = Callable[[Event], Payload | None]


def fold_task(events: Iterable[Event], decode: Decoder, book: TrustBook) -> TaskState | None:
    """Fold one task's events (already in ``(hlc, origin, seq)`` order) into its state.

    A task is one ``task.requested`` event: :func:`the_request` picks it when several claim the same
    task id. Every other request for the id is a *clash*: kept in the log, listed in
    :attr:`TaskState.clashes`, shown as superseded, never the task. A move that names the request
    it was made for (v2 ``request``) applies only to that request."""
    decoded = [(event, payload) for event in events if (payload := decode(event)) is not None]
    imported = {
        event.id: payload
        for event, payload in decoded
        if isinstance(payload, TaskImported) and _imported_by_owner(event, payload, book)
    }
    decoded = [
        (event, imported[event.id].as_request() if event.id in imported else payload)
        for event, payload in decoded
        if not isinstance(payload, TaskImported) or event.id in imported
    ]
    requests = [(event, payload) for event, payload in decoded if isinstance(payload, TaskRequested)]
    if not requests:
        return None
    chosen_event, chosen = the_request(requests, decoded, book)
    state = TaskState(
        request=chosen,
        request_order=chosen_event.order_key(),
        request_origin=chosen_event.origin,
        state=REQUESTED,
        state_hlc=chosen_event.hlc,
        request_event=chosen_event.id,
        clashes=tuple(event.id for event, _ in requests if event.id != chosen_event.id),
    )
    if chosen_event.id in imported:
        state = _imported_state(state, chosen_event, imported[chosen_event.id])
    pending: list[tuple[Event, Payload]] = []
    seen_request = False
    for event, payload in decoded:
        if event.id == chosen_event.id:
            seen_request = True
        elif not seen_request:
            pending.append((event, payload))
        else:
            state = _step(state, event, payload, book)
    for event, payload in pending:
        if isinstance(payload, TaskRequested):
            state = _supersede(state, event, "request", f"task id {state.id} was already requested")
        else:
            # A transition that sorts before its request (a clock far behind): kept, shown.
            state = _supersede(state, event, _action_of(payload), "it is ordered before the request")
    return state


def _imported_by_owner(event: Event, payload: TaskImported, book: TrustBook) -> bool:
    """Imported history counts when the agent's owner recorded it (from their own old agent file)
    on a key pinned for them."""
    return event.actor == owner_of(payload.to) and book.backs(event.actor, event.origin)


def _imported_state(state: TaskState, event: Event, payload: TaskImported) -> TaskState:
    """An imported task starts in the state it had (one still in play waits for the owner's
    approval). It has no request origin: the sender it names acts only from a key pinned for them,
    and no decision: it has no tier and never counted against today's figures."""
    closed = None
    if payload.state in FINAL:
        closed = payload.closed_at << COUNTER_BITS if payload.closed_at is not None else event.hlc
    note = f"imported from datacore-messaging ({payload.original})"
    change = Change(event.hlc, event.actor, "import", "IMPORTED", payload.state, note, None, event.id)
    return state.evolve(
        request_origin="",
        state=payload.state,
        approval="imported",
        closed_hlc=closed,
        changes=(change,),
        imported=payload,
    )


def the_request(
    requests: Sequence[tuple[Event, TaskRequested]],
    decoded: Sequence[tuple[Event, Payload]],
    book: TrustBook,
) -> tuple[Event, TaskRequested]:
    """Which of the requests for one task id is the task.

    0. The request this reader's own side wrote (its sender is the reader, on a key pinned for
       them): nobody else's request, however decided, replaces a task you sent.
    1. The request a valid governor decision names (``request``). A decision is valid when the
       agent's owner made it from a key pinned for them, so nobody else can bind a task. Among
       several: one this reader's own side decided, then one whose sender is backed by a pinned
       key (a request written under a name by a key pinned nowhere loses to the real sender's,
       so the owner's installations that each decided a different one agree on the real one),
       then the first such decision in log order.
    2. Otherwise the request that arrived here first (lowest log position): a later request for an
       id that already exists never replaces it, whatever its clock stamp. Events folded outside a
       store (no position) fall back to log order.
    """
    if len(requests) == 1:
        return requests[0]
    written = [item for item in requests if _written_by(item, book.owner, book)]
    if written:
        return min(written, key=_arrival)
    by_id = {event.id: (event, request) for event, request in requests}
    bound: list[tuple[tuple[bool, bool, int], Event, TaskRequested]] = []
    for index, (event, payload) in enumerate(decoded):
        if isinstance(payload, TaskDecided) and payload.request in by_id:
            request_event, request = by_id[payload.request]
            if book.is_owner_side(event.actor, event.origin, request.to):
                own = owner_of(request.to) == book.owner
                verified = book.backs(request.sender, request_event.origin)
                bound.append(((not own, not verified, index), request_event, request))
    if bound:
        _, event, request = min(bound, key=lambda item: item[0])
        return event, request
    return min(requests, key=_arrival)


def _written_by(item: tuple[Event, TaskRequested], user: str, book: TrustBook) -> bool:
    event, request = item
    return request.sender == user and book.backs(user, event.origin)


def _arrival(item: tuple[Event, TaskRequested]) -> tuple[int, int, tuple[int, str, int]]:
    return item[0].arrival_key()


def _action_of(payload: Payload) -> str:
    if isinstance(payload, TaskDecided):
        return "decide"
    if isinstance(payload, TaskRequested):
        return "request"
    return ACTIONS.get(type(payload), "unknown")


def _supersede(state: TaskState, event: Event, action: str, why: str) -> TaskState:
    change = Change(event.hlc, event.actor, action, state.state, None, None, why, event.id)
    return state.evolve(changes=(*state.changes, change))


def _note_of(payload: Payload) -> str | None:
    if isinstance(payload, TaskDecided):
        return payload.reason
    if isinstance(payload, TaskRevised):
        return payload.feedback
    return getattr(payload, "reason", None)


def _step(state: TaskState, event: Event, payload: Payload, book: TrustBook) -> TaskState:
    action = _action_of(payload)
    if isinstance(payload, TaskRequested):
        return _supersede(state, event, action, f"task id {state.id} was already requested")
    bound_to = getattr(payload, "request", None)
    if bound_to is not None and bound_to != state.request_event:
        return _supersede(state, event, action, "it was made for another request with this task id")
    if isinstance(payload, TaskDecided):
        if state.state != REQUESTED:
            why = "already decided" if state.decision is not None else f"the task is {state.state}"
            return _supersede(state, event, action, why)
        if not book.is_owner_side(event.actor, event.origin, state.agent):
            return _supersede(state, event, action, "only the agent's owner decides its requests")
        after = DECIDED_STATE[payload.outcome]
        if payload.outcome == "deferred":
            change = Change(
                event.hlc, event.actor, "defer", state.state, after, payload.reason, None, event.id
            )
            return state.evolve(deferral=payload, changes=(*state.changes, change))
        approval = {"accepted": "auto_accepted", "held": None, "refused": "refused"}[payload.outcome]
        if state.deferral is not None:
            state = state.evolve(deferral=None)
        change = Change(event.hlc, event.actor, action, state.state, after, payload.reason, None, event.id)
        return state.evolve(
            state=after,
            state_hlc=event.hlc,
            decision=payload,
            decided_hlc=event.hlc,
            approval=approval,
            closed_hlc=event.hlc if after == CANCELLED else None,
            cancellation_reason=payload.reason if after == CANCELLED else state.cancellation_reason,
            changes=(*state.changes, change),
        )
    refused = refusal(state, action, event.actor, event.origin, book)
    if refused is not None:
        return _supersede(state, event, action, refused)
    after = _target(state, action)
    note = _note_of(payload)
    change = Change(event.hlc, event.actor, action, state.state, after, note, None, event.id)
    updates: dict[str, Any] = {"state": after, "state_hlc": event.hlc, "changes": (*state.changes, change)}
    if after in FINAL:
        updates["closed_hlc"] = event.hlc
    if isinstance(payload, TaskApproved):
        updates["approval"] = "approved"
    elif isinstance(payload, TaskRejected):
        updates["approval"] = "rejected"
        updates["rejection_reason"] = payload.reason
    elif isinstance(payload, TaskCancelled):
        updates["cancellation_reason"] = payload.reason
    elif isinstance(payload, TaskClaimed):
        updates["started_hlc"] = event.hlc
        updates["started_at"] = payload.at if payload.at is not None else physical_ms(event.hlc)
    elif isinstance(payload, TaskCompleted):
        updates["completed_hlc"] = event.hlc
        updates["completed"] = payload
        updates["completions"] = (*state.completions, Completion(physical_ms(event.hlc), payload.tokens))
    elif isinstance(payload, TaskRetried):
        updates["retry_count"] = state.retry_count + 1
        updates["retry_reason"] = payload.reason
    elif isinstance(payload, TaskRevised):
        updates["revision_feedback"] = payload.feedback
    return state.evolve(**updates)
