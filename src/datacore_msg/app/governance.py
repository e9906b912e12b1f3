"""Running the governor on the agent owner's installation, and the timeout sweep.

Every command that refreshes the views (:func:`datacore_msg.app.views.refresh`) runs
:func:`governor_step` inside catch-up, after the new events are applied and before the views are
written. One step handles, one at a time, each request to this user's agent that has no decision
yet or whose deferral has run out (its figures read from the derived task rows, which catch-up
updates after every decision) and each WORKING task past ``per_task_timeout_minutes``. Each outcome
is an appended event — a ``task.decided`` (a deferral is one too: the request stays REQUESTED until
its ``retry_after``, and is then decided again by this same sweep), a refusal's automatic reply, a
``task.retried`` or ``task.cancelled`` by timeout —
and the check that the task is still undecided (or still the same WORKING run) runs inside the
append's transaction, so two processes never decide one request twice. Replaying the log never
calls the governor again: its decisions are in the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

from datacore_msg.app.ids import new_message_id
from datacore_msg.app.lifecycle import load_task
from datacore_msg.app.space import Space
from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.eventlog.payloads import MessageSent, Payload, TaskCancelled, TaskDecided, TaskRetried
from datacore_msg.eventlog.store import EventStore
from datacore_msg.projections.drivers.catchup import Step
from datacore_msg.projections.tasks import TaskState, fold_task
from datacore_msg.records import TYPE_CHECKING, Record, set_field
from datacore_msg.task_states import REQUESTED, WORKING

if TYPE_CHECKING:  # imported when a request is decided: a refresh with none to decide does without
    from datacore_msg.governor.decide import Decision, Usage

#: Automatic refusal replies a day to the requests of one origin key that no pinned key backs
#: (every name it invents is an account of its own): a flood of refused requests must not make
#: the owner's installation sign and spread a reply to each.
UNPINNED_REPLIES_PER_DAY = 3


class _Stale(Exception):
    """The task moved on before the append; nothing to do."""


class DayBounds(Record):
    __slots__ = ("next_midnight_ms", "start_ms")
    start_ms: int
    next_midnight_ms: int

    def __init__(self, start_ms: int, next_midnight_ms: int) -> None:
        set_field(self, "start_ms", start_ms)
        set_field(self, "next_midnight_ms", next_midnight_ms)


def day_bounds(now_ms: int, tz: tzinfo) -> DayBounds:
    """The owner's day (midnight to midnight, in the owner's zone) around ``now_ms``."""
    local = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return DayBounds(int(start.timestamp() * 1000), int(end.timestamp() * 1000))


def usage_for(
    space: Space, sender: str, now_ms: int, unpinned_key: str | None = None
) -> tuple[Usage, DayBounds]:
    """The figures of account ``sender`` and of the whole agent; with ``unpinned_key`` (the origin
    of a request no key pinned for its sender signed), also that key's unpinned queue."""
    from datacore_msg.governor.decide import Usage

    bounds = day_bounds(now_ms, space.tz)
    default = space.policy().compute.default_task_tokens
    cache = space.tasks()
    mine = cache.sender_figures(space.agent, sender, bounds.start_ms, now_ms, default)
    everyone = cache.agent_figures(space.agent, bounds.start_ms, default)
    usage = Usage(
        sender_tokens_today=mine.tokens_today,
        total_tokens_today=everyone.tokens_today,
        sender_tasks_last_hour=mine.let_through_last_hour,
        sender_oldest_in_hour_ms=mine.oldest_in_hour_ms,
        sender_last_task_ms=mine.last_let_through_ms,
        queue_depth=everyone.queue_depth,
        unpinned_key_queue=0 if unpinned_key is None else cache.unpinned_key_queue(space.agent, unpinned_key),
        unpinned_queue=everyone.unpinned_queue,
    )
    return usage, bounds


def _append_if(space: Space, payload: Payload, actor: str, still: str, version: int | None) -> bool:
    """Append ``payload`` if the task is still in state ``still`` (and, with ``version``, has not
    changed state since that clock stamp), checked inside the append's transaction."""
    task_id = payload.subject

    def unchanged(store: EventStore) -> None:
        state = fold_task(store.events_for_subject(task_id), store.decode, space.trust())
        if state is None or state.state != still or (version is not None and state.state_hlc != version):
            raise _Stale
        if getattr(payload, "request", None) not in (None, state.request_event):
            raise _Stale

    try:
        space.store.append(space.signing_key(), actor, payload, space.clock(), unchanged)
    except _Stale:
        return False
    return True


def refusal_reply(decision: Decision, state: TaskState, tz: tzinfo) -> str:
    if decision.retry_after_ms is not None:
        minute = -(-decision.retry_after_ms // 60_000) * 60
        moment = datetime.fromtimestamp(minute, tz=timezone.utc).astimezone(tz)
        when = f"You can send it again after {moment:%Y-%m-%d %H:%M} ({tz})."
    elif decision.rule in ("queue_depth", "unpinned_queue_per_key", "unpinned_queue_total"):
        when = "You can send it again when the queue has room."
    elif decision.rule == "effort":
        when = "You can send it again with a lower --effort."
    else:
        when = "You can send it again with a lower --tokens estimate."
    return f"Task {state.id} for {state.agent} was refused: {decision.reason}. {when}"


def decision_event(task_id: str, decision: Decision, at_ms: int, request: str | None = None) -> TaskDecided:
    """The ``task.decided`` event that records ``decision``, taken at ``at_ms`` (wall clock), bound
    to the ``task.requested`` event ``request`` it decides."""
    return TaskDecided(
        task=task_id,
        request=request,
        outcome=decision.outcome,
        rule=decision.rule,
        reason=decision.reason,
        tier=decision.tier,
        figures=decision.figures,
        retry_after=decision.retry_after_ms,
        at=at_ms,
    )


def decide_request(space: Space, state: TaskState) -> Decision | None:
    """Decide one undecided request to this user's agent and append the outcome."""
    from datacore_msg.governor.decide import Request, decide

    now = space.clock()
    book = space.trust()
    policy = space.policy()
    tier = book.tier_of(state.sender, state.request_origin)
    account = book.account_of(state.sender, state.request_origin)
    unpinned = None if book.backs(state.sender, state.request_origin) else state.request_origin
    usage, bounds = usage_for(space, account, now, unpinned)
    if state.deferred_until_ms is not None:
        usage = _without_itself(usage, unpinned)
    request = Request(
        task=state.id,
        sender=state.sender,
        tier=tier,
        effort=state.request.effort,
        estimate=state.estimate(policy.compute.default_task_tokens),
        unpinned_key=unpinned,
    )
    decision = decide(request, usage, policy, now, bounds.next_midnight_ms)
    payload = decision_event(state.id, decision, now, state.request_event)
    if not _append_if(space, payload, space.agent, REQUESTED, None):
        return None
    if decision.outcome == "refused" and account == state.sender and _may_reply(space, unpinned, bounds):
        reply = MessageSent(
            id=new_message_id(space.clock()),
            sender=space.agent,
            to=state.sender,
            text=refusal_reply(decision, state, space.tz),
        )
        space.store.append(space.signing_key(), space.agent, reply, space.clock())
    return decision


def _without_itself(usage: Usage, unpinned: str | None) -> Usage:
    """The figures of a deferred request's own decision: it no longer counts in its queue."""
    if unpinned is None:
        return usage.evolve(queue_depth=max(0, usage.queue_depth - 1))
    return usage.evolve(
        unpinned_key_queue=max(0, usage.unpinned_key_queue - 1),
        unpinned_queue=max(0, usage.unpinned_queue - 1),
    )


def _may_reply(space: Space, unpinned: str | None, bounds: DayBounds) -> bool:
    """Whether a refusal gets its automatic reply: always for a request a pinned key backs; for
    one from an unpinned ``origin``, only while that key has had fewer than
    :data:`UNPINNED_REPLIES_PER_DAY` refused requests today (the one being decided not counted)."""
    if unpinned is None:
        return True
    refused = space.tasks().unpinned_refused_since(space.agent, unpinned, bounds.start_ms)
    return refused < UNPINNED_REPLIES_PER_DAY


def sweep_task(space: Space, state: TaskState) -> bool:
    """Send a WORKING task past its timeout back to the queue, or cancel it after too many retries."""
    compute = space.policy().compute
    minutes = compute.per_task_timeout_minutes
    payload: Payload
    if state.retry_count < compute.max_retries:
        payload = TaskRetried(
            task=state.id,
            request=state.request_event,
            reason=f"timed out after {minutes} min",
            timeout=True,
        )
    else:
        payload = TaskCancelled(
            task=state.id,
            request=state.request_event,
            reason=f"timed out after {minutes} min; retried {state.retry_count} time(s) already",
        )
    return _append_if(space, payload, space.agent, WORKING, state.state_hlc)


def governor_step(space: Space) -> Step:
    """One unit of governor work per call (see :func:`catch_up`): True when it appended events."""
    tried: set[str] = set()

    def step() -> bool:
        cache = space.tasks()
        for task_id in cache.due_requests(space.agent, space.clock()):
            if task_id in tried:
                continue
            tried.add(task_id)
            state = load_task(space, task_id)
            if state is not None and state.state == REQUESTED and state.agent == space.agent:
                decide_request(space, state)
                return True
        minutes = space.policy().compute.per_task_timeout_minutes
        if minutes <= 0:
            return False
        for task_id in cache.stale_working(space.agent, space.clock() - minutes * 60_000):
            key = f"sweep:{task_id}"
            if key in tried:
                continue
            tried.add(key)
            state = load_task(space, task_id)
            if state is not None and state.state == WORKING:
                sweep_task(space, state)
                return True
        return False

    return step


def age_ms(state: TaskState, now_ms: int) -> int:
    return max(0, now_ms - physical_ms(state.requested_hlc))
