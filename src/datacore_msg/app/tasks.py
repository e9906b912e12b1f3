"""Agent tasks: requesting work from an agent, moving tasks through their life cycle, listing them.

Who acts: on the agent owner's installation, ``approve``, ``reject``, ``revise`` and ``archive`` are
the owner's (the user); ``claim``, ``complete`` and ``retry`` are the agent's (``<user>-claude``,
run by Claude Code through this CLI); ``cancel`` is the owner's, or the sender's on the sender's own
installation. Whether the move is allowed is decided by the same rule the reducer folds with
(:func:`datacore_msg.projections.tasks.refusal`), checked inside the append's transaction, so a claim
is atomic: of two processes claiming one task, exactly one appends.
"""

from __future__ import annotations

from collections.abc import Sequence

from datacore_msg.app.governance import day_bounds
from datacore_msg.app.ids import new_task_id
from datacore_msg.app.lifecycle import append_move, load_task, payload_for
from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh, refresh_after_commit
from datacore_msg.errors import Ambiguous, InvalidInput, NotFound
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.eventlog.names import MAX_TAGS, PRIORITIES, check_id_ref, check_text, is_tag
from datacore_msg.eventlog.payloads import (
    MAX_EFFORT,
    MAX_TOKENS,
    TaskRequested,
    build,
)
from datacore_msg.eventlog.store import EventStore
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.projections.tasks import TaskState
from datacore_msg.records import Record, set_field
from datacore_msg.task_states import ACTIONS, CANCELLED, FINAL, STATES


class Requested(Record):
    __slots__ = ("event", "state", "task_id", "views")
    event: Event
    task_id: str
    state: TaskState | None
    views: WriteReport

    def __init__(
        self,
        event: Event,
        task_id: str,
        state: TaskState | None,
        views: WriteReport,
    ) -> None:
        set_field(self, "event", event)
        set_field(self, "task_id", task_id)
        set_field(self, "state", state)
        set_field(self, "views", views)


def _check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().strip(":")
        if not is_tag(tag):
            raise InvalidInput(f"--tag {tag!r}: use letters, digits, _ and @ (at most 32)")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"--tag: at most {MAX_TAGS} tags")
    return tuple(out)


def _check_range(value: int | None, option: str, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise InvalidInput(f"{option} {value}: must be from {low} to {high}")
    return value


def request(
    space: Space,
    agent: str,
    text: str,
    *,
    tags: Sequence[str] = (),
    effort: int | None = None,
    tokens: int | None = None,
    priority: str | None = None,
) -> Requested:
    check_text(text)
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(f"priority {priority!r} is not one of A, B, C")
    payload = build(
        TaskRequested,
        id=new_task_id(space.clock()),
        sender=space.user,
        to=agent,
        text=text,
        tags=_check_tags(tags),
        effort=_check_range(effort, "--effort", 1, MAX_EFFORT),
        tokens=_check_range(tokens, "--tokens", 1, MAX_TOKENS),
        priority=priority,
    )

    def no_duplicate_id(store: EventStore) -> None:
        if store.has_subject(payload.id):
            raise InvalidInput(f"task id {payload.id} already exists; send again")

    space.preflight()
    event = space.store.append(space.signing_key(), space.user, payload, space.clock(), no_duplicate_id)
    views = refresh_after_commit(space, "the task")
    return Requested(event, payload.id, load_task(space, payload.id), views)


def resolve(space: Space, ref: str, agent_only: bool = False) -> TaskState:
    """A task of this user's agent, or (unless ``agent_only``) one the user sent (from this user's
    own keys), by full id or unique prefix."""
    ref = check_id_ref(ref, "task id")
    sender = space.agent if agent_only else space.user
    candidates = space.tasks().matching(ref, space.agent, sender, limit=50)
    if ref in candidates:
        candidates = [ref]
    states = [s for s in (load_task(space, c) for c in candidates) if s is not None]
    if not states:
        raise NotFound(f"no task of yours matches {ref!r} (see 'datacore-msg tasks')")
    if len(states) > 1:
        ids = [s.id for s in states]
        raise Ambiguous(f"{ref!r} matches {len(ids)} tasks: {', '.join(ids)}", ids)
    return states[0]


def decimal_option(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation  # only `task complete --cost/--quality`

    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise InvalidInput(f"{option} {value!r} is not a number") from None
    if not number.is_finite() or number < 0 or number >= 10**9:
        raise InvalidInput(f"{option} {value!r} must be from 0 to 999999999.99")
    return str(number.quantize(Decimal("0.01"), ROUND_HALF_UP))


class Moved(Record):
    __slots__ = ("action", "state", "task_id", "views")
    task_id: str
    action: str
    state: TaskState
    views: WriteReport

    def __init__(
        self,
        task_id: str,
        action: str,
        state: TaskState,
        views: WriteReport,
    ) -> None:
        set_field(self, "task_id", task_id)
        set_field(self, "action", action)
        set_field(self, "state", state)
        set_field(self, "views", views)


def transition(
    space: Space,
    ref: str,
    action: str,
    *,
    reason: str | None = None,
    tokens: int | None = None,
    cost: str | None = None,
    result: str | None = None,
    quality: str | None = None,
) -> Moved:
    if action not in ACTIONS:
        raise InvalidInput(f"unknown task action {action!r} (use {', '.join(ACTIONS)})")
    if reason is not None:
        check_text(reason, "--reason")
    task = resolve(space, ref)
    payload = payload_for(
        task.id,
        action,
        reason,
        tokens,
        decimal_option(cost, "--cost"),
        result,
        decimal_option(quality, "--quality"),
    )
    append_move(space, task.id, action, payload, request=task.request_event)
    views = refresh_after_commit(space, f"the move ({action} {task.id})")
    state = load_task(space, task.id)
    assert state is not None
    return Moved(task.id, action, state, views)


class TaskList(Record):
    __slots__ = ("items", "views")
    items: list[TaskState]
    views: WriteReport

    def __init__(
        self,
        items: list[TaskState],
        views: WriteReport,
    ) -> None:
        set_field(self, "items", items)
        set_field(self, "views", views)


def list_tasks(
    space: Space,
    *,
    states: Sequence[str] = (),
    sender: str | None = None,
    sent: bool = False,
    include_closed: bool = False,
    closed_today: bool = False,
) -> TaskList:
    """The tasks of this user's agent (``sent``: the tasks this user sent), open ones unless
    ``states`` or ``include_closed`` say otherwise; with ``closed_today`` (and no ``states``), also
    those refused, rejected or cancelled since midnight in the user's zone, so a refusal does not
    vanish from the default list."""
    wanted = [s.upper() for s in states]
    for state in wanted:
        if state not in STATES:
            raise InvalidInput(f"--state {state!r} is not one of {', '.join(STATES)}")
    if sent and sender is not None:
        raise InvalidInput("--sent lists tasks you sent; it cannot be combined with --from")
    if not wanted and not include_closed:
        wanted = [s for s in STATES if s not in FINAL]
    views = refresh(space)
    cache = space.tasks()
    mine = {"sender": space.user} if sent else {"agent": space.agent, "sender": sender}
    ids = cache.find(**mine, states=wanted)
    if closed_today and not states and not include_closed:
        since = day_bounds(space.clock(), space.tz).start_ms
        ids = list(dict.fromkeys([*ids, *cache.find(**mine, states=[CANCELLED], changed_since_ms=since)]))
    items = [s for s in (load_task(space, i) for i in ids) if s is not None]
    items.sort(key=lambda state: state.request_order)
    return TaskList(items, views)


def sender_of(space: Space, state: TaskState) -> Sender:
    """What is known of a task's requester: whether a pinned key backs the name, and the pinned
    name it looks like."""
    return space.trust().sender(state.sender, state.request_origin, state.imported is not None)


def untrusted_owner(space: Space, state: TaskState) -> str | None:
    """The owner of ``state``'s agent when no key is pinned for that name on this installation (so
    their decisions and moves show as superseded here), else None; never for this user's own agent."""
    if state.owner == space.user or space.trust().keys_of(state.agent):
        return None
    return state.owner


def untrusted_note(owner: str) -> str:
    """What a sender is told about a task whose owner's key is not pinned."""
    return (
        f"decisions by {owner} are not trusted until you pin {owner}'s key: "
        f"`datacore-msg contacts add {owner} KEY` (KEY: what `datacore-msg whoami` prints on "
        f"{owner}'s installation)"
    )


def show(space: Space, ref: str) -> TaskState:
    refresh(space)
    return resolve(space, ref)
