"""Appending one life-cycle move of a task, checked against the reducer's own rule.

The check runs inside the append's transaction on the task's events as stored at that moment, with
the same :func:`~datacore_msg.projections.tasks.refusal` the reducer folds with: a move that is
appended is a move the fold applies (unless an event from another installation that sorts earlier
arrives later; then it shows as superseded). Used by the task commands and by recognised hand edits
of the agent view; neither refreshes the views from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from datacore_msg.app.space import Space
from datacore_msg.errors import InvalidInput, TransitionError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.payloads import (
    TRANSITION_TYPES,
    Payload,
    TaskApproved,
    TaskArchived,
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskRejected,
    TaskRetried,
    TaskRevised,
    build,
)
from datacore_msg.eventlog.store import EventStore
from datacore_msg.projections.tasks import TaskState, fold_task, refusal
from datacore_msg.task_states import ACTIONS, AGENT, MOVES

#: The moves only the agent makes (claim, complete, retry): the CLI writes them as ``<user>-claude``.
AGENT_ACTIONS = frozenset(
    action for action in ACTIONS if all(move.roles == {AGENT} for move in MOVES if move.action == action)
)
#: The moves whose event carries no reason.
NO_REASON = frozenset({"claim", "archive"})


def load_task(space: Space, task_id: str) -> TaskState | None:
    return fold_task(space.store.events_for_subject(task_id), space.store.decode, space.trust())


def actor_for(space: Space, action: str) -> str:
    """The agent claims, completes and retries; everything else is the user (owner or sender)."""
    return space.agent if action in AGENT_ACTIONS else space.user


def payload_for(
    task: str,
    action: str,
    reason: str | None = None,
    tokens: int | None = None,
    cost: str | None = None,
    result: str | None = None,
    quality: str | None = None,
) -> Payload:
    """The event of ``action`` on ``task``; the payload's own validators check every field."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown task action {action!r} (use {', '.join(ACTIONS)})")
    if action != "complete" and (tokens is not None or cost or result or quality):
        raise InvalidInput("--tokens, --cost, --result and --quality go with 'complete' only")
    if action in NO_REASON and reason is not None:
        raise InvalidInput(f"{action}: --reason is not used")
    if action == "complete" and tokens is None:
        raise InvalidInput("complete: --tokens N (the tokens the task used) is required")
    payloads: dict[str, Callable[[], Payload]] = {
        "approve": lambda: build(TaskApproved, task=task, reason=reason),
        "reject": lambda: build(TaskRejected, task=task, reason=reason),
        "cancel": lambda: build(TaskCancelled, task=task, reason=reason),
        "claim": lambda: build(TaskClaimed, task=task),
        "complete": lambda: build(
            TaskCompleted,
            {"tokens": "--tokens", "cost": "--cost", "result": "--result", "quality": "--quality"},
            task=task,
            tokens=tokens,
            cost=cost,
            result=result,
            quality=quality,
        ),
        "retry": lambda: build(TaskRetried, task=task, reason=reason),
        "revise": lambda: build(TaskRevised, task=task, feedback=reason),
        "archive": lambda: build(TaskArchived, task=task),
    }
    return payloads[action]()


def append_move(
    space: Space,
    task_id: str,
    action: str,
    payload: Payload,
    *,
    preceded_by: Sequence[tuple[str, Payload]] = (),
    check: Callable[[EventStore], None] | None = None,
    request: str | None = None,
) -> list[Event]:
    """Append ``payload`` as ``action`` on ``task_id`` if the fold would apply it now; else raise
    :class:`TransitionError` with the reducer's reason (``<action>: expected state X, got Y``).

    ``preceded_by`` (actor, payload) pairs are appended just before the move in the same
    transaction, after ``check``: the agent's reply and the completion it reports land together or
    not at all. Returns the events appended, the move last.

    The move is bound to the ``task.requested`` event it is made for: ``request`` (the
    :attr:`TaskState.request_event` of the state the caller acted on), else the one the task's
    events name now; if the task is another request by the time the transaction runs, the move is
    refused."""
    actor = actor_for(space, action)
    if isinstance(payload, TaskClaimed):
        payload = payload.evolve(at=space.clock())
    space.preflight()
    book = space.trust()
    origin = space.signing_key().public_hex
    bound = request or getattr(payload, "request", None)
    if bound is None:
        current = fold_task(space.store.events_for_subject(task_id), space.store.decode, book)
        bound = None if current is None else current.request_event
    if bound is not None and isinstance(payload, TRANSITION_TYPES):
        payload = payload.evolve(request=bound)

    def allowed(store: EventStore) -> None:
        if check is not None:
            check(store)
        state = fold_task(store.events_for_subject(task_id), store.decode, book)
        if state is None:
            raise TransitionError(f"{action}: task {task_id} is not known here")
        if bound is not None and state.request_event != bound:
            raise TransitionError(f"{action}: task {task_id} is now another request with this id; try again")
        why = refusal(state, action, actor, origin, book)
        if why is not None:
            raise TransitionError(why)

    items = [*preceded_by, (actor, payload)]
    return space.store.append_all(space.signing_key(), items, space.clock(), allowed)
