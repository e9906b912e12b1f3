"""``decide``: accept, hold or refuse one task request. A pure function of its arguments.

Theory of operation
-------------------
The owner's installation calls :func:`decide` once per undecided request, with the sender's trust
tier, the :class:`Usage` derived from the log at that moment, the :class:`Policy` from the settings
and the time. The result becomes a ``task.decided`` event carrying the outcome, the rule that decided,
the reason text and the figures the checks used; replaying the log reads that event and never calls
``decide`` again.

Checks run in this order; the first that fails refuses the request (the order of REFERENCE.md, with
the checks it lacked placed next to their kin), except the two *window* checks, rate and cooldown,
which defer it:

1. ``effort`` — the request's effort against the tier's maximum;
2. ``per_task_tokens`` — the estimate against ``per_task_max_tokens``;
3. ``tier_daily_tokens`` — the sender's tokens today plus the estimate against the tier's daily limit;
4. ``sender_daily_max`` — the same sum against ``per_sender_daily_max``;
5. ``global_daily_tokens`` — everyone's tokens today plus the estimate against ``daily_budget_tokens``;
6. ``rate`` — the sender's requests let through in the last hour against ``tasks_per_hour``
   (defers);
7. ``cooldown`` — seconds since the sender's last request let through against
   ``cooldown_between_tasks`` (defers);
8. ``queue_depth`` — tasks WAITING or QUEUED for the agent against ``max_queue_depth`` (pinned
   requests only: unpinned ones have the two queues below);
9. ``unpinned_queue_per_key`` — for an *unpinned* request (its origin is not a key pinned for the
   name it is written under), the unpinned tasks WAITING or QUEUED from that origin key against
   ``unpinned_queue_per_key``;
10. ``unpinned_queue_total`` — the unpinned tasks WAITING or QUEUED from every origin key against
    ``unpinned_queue_total``.

A request over the rate or within the cooldown is not refused: once checks 8–10 have passed too
(deferred requests count in those queues, so they stay bounded), the outcome is ``deferred`` with
``retry_after_ms`` the moment the later of the two windows opens, and the rule and reason of that
window. The task stays ``REQUESTED``; the owner's timeout sweep decides it again once that moment
has passed (with the figures of then: it may be deferred again, refused or let through). Two tasks
sent close together, the normal case when events arrive in a batch, therefore both run.

A request that passes is accepted (``auto_accept``) when its tier auto-accepts, else held for the
owner's approval (``approval``). Limits of 0 are unlimited. The owner's own requests pass checks 2
and 4–10 (they still count towards everyone else's figures): the governor guards the owner's tokens
from others, not from the owner.
"""

from __future__ import annotations

from datacore_msg.governor.policy import Policy
from datacore_msg.records import Record, set_field
from datacore_msg.task_states import DECIDED_STATE

HOUR_MS = 3_600_000


class Request(Record):
    __slots__ = ("effort", "estimate", "sender", "task", "tier", "unpinned_key")
    task: str
    sender: str
    tier: str
    effort: int | None
    estimate: int
    #: The origin key of an unpinned request (not signed by a key pinned for ``sender``), else None.
    unpinned_key: str | None

    def __init__(
        self,
        task: str,
        sender: str,
        tier: str,
        effort: int | None,
        estimate: int,
        unpinned_key: str | None = None,
    ) -> None:
        set_field(self, "task", task)
        set_field(self, "sender", sender)
        set_field(self, "tier", tier)
        set_field(self, "effort", effort)
        set_field(self, "estimate", estimate)
        set_field(self, "unpinned_key", unpinned_key)


class Usage(Record):
    """What the log says at decision time (the request being decided not included)."""

    __slots__ = (
        "queue_depth",
        "sender_last_task_ms",
        "sender_oldest_in_hour_ms",
        "sender_tasks_last_hour",
        "sender_tokens_today",
        "total_tokens_today",
        "unpinned_key_queue",
        "unpinned_queue",
    )
    sender_tokens_today: int
    total_tokens_today: int
    sender_tasks_last_hour: int
    sender_oldest_in_hour_ms: int | None
    sender_last_task_ms: int | None
    queue_depth: int
    """WAITING, QUEUED or deferred tasks of pinned requests (every sender's, the owner's included)."""
    unpinned_key_queue: int
    """WAITING, QUEUED or deferred tasks of unpinned requests from the request's origin key."""
    unpinned_queue: int
    """WAITING, QUEUED or deferred tasks of unpinned requests from any origin key."""

    def __init__(
        self,
        sender_tokens_today: int,
        total_tokens_today: int,
        sender_tasks_last_hour: int,
        sender_oldest_in_hour_ms: int | None,
        sender_last_task_ms: int | None,
        queue_depth: int,
        unpinned_key_queue: int = 0,
        unpinned_queue: int = 0,
    ) -> None:
        set_field(self, "sender_tokens_today", sender_tokens_today)
        set_field(self, "total_tokens_today", total_tokens_today)
        set_field(self, "sender_tasks_last_hour", sender_tasks_last_hour)
        set_field(self, "sender_oldest_in_hour_ms", sender_oldest_in_hour_ms)
        set_field(self, "sender_last_task_ms", sender_last_task_ms)
        set_field(self, "queue_depth", queue_depth)
        set_field(self, "unpinned_key_queue", unpinned_key_queue)
        set_field(self, "unpinned_queue", unpinned_queue)


class Decision(Record):
    __slots__ = ("figures", "outcome", "reason", "retry_after_ms", "rule", "tier")
    outcome: str
    rule: str
    reason: str
    tier: str
    figures: dict[str, int]
    retry_after_ms: int | None

    def __init__(
        self,
        outcome: str,
        rule: str,
        reason: str,
        tier: str,
        figures: dict[str, int],
        retry_after_ms: int | None = None,
    ) -> None:
        set_field(self, "outcome", outcome)
        set_field(self, "rule", rule)
        set_field(self, "reason", reason)
        set_field(self, "tier", tier)
        set_field(self, "figures", figures)
        set_field(self, "retry_after_ms", retry_after_ms)

    @property
    def state(self) -> str:
        return DECIDED_STATE[self.outcome]


class _Deferred(Exception):
    def __init__(self, rule: str, reason: str, retry_after_ms: int) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.retry_after_ms = retry_after_ms


class _Refused(Exception):
    def __init__(self, rule: str, reason: str, retry_after_ms: int | None = None) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.retry_after_ms = retry_after_ms


def _over(limit: int, value: int) -> bool:
    return limit > 0 and value > limit


def decide(request: Request, usage: Usage, policy: Policy, now_ms: int, next_midnight_ms: int) -> Decision:
    figures: dict[str, int] = {}
    try:
        _check(request, usage, policy, now_ms, next_midnight_ms, figures)
    except _Refused as refusal:
        return Decision(
            "refused", refusal.rule, refusal.reason, request.tier, figures, refusal.retry_after_ms
        )
    except _Deferred as deferral:
        return Decision(
            "deferred", deferral.rule, deferral.reason, request.tier, figures, deferral.retry_after_ms
        )
    tier = policy.tier(request.tier)
    if tier.auto_accept:
        return Decision(
            "accepted", "auto_accept", f"Auto-accepted (tier {request.tier})", request.tier, figures
        )
    return Decision(
        "held", "approval", f"Awaiting owner approval (tier {request.tier})", request.tier, figures
    )


def _check(
    request: Request,
    usage: Usage,
    policy: Policy,
    now_ms: int,
    next_midnight_ms: int,
    figures: dict[str, int],
) -> None:
    tier = policy.tier(request.tier)
    compute = policy.compute
    exempt = request.tier == "owner"
    estimate = request.estimate

    if request.effort is not None:
        figures.update(effort=request.effort, max_effort=tier.max_effort)
        if _over(tier.max_effort, request.effort):
            raise _Refused("effort", f"Effort {request.effort} exceeds tier limit {tier.max_effort}")

    figures["estimate"] = estimate
    if not exempt:
        figures["per_task_max_tokens"] = compute.per_task_max_tokens
        if _over(compute.per_task_max_tokens, estimate):
            raise _Refused(
                "per_task_tokens",
                f"Estimate {estimate} exceeds the per-task limit of {compute.per_task_max_tokens} tokens",
            )

    sender_total = usage.sender_tokens_today + estimate
    figures.update(sender_tokens_today=usage.sender_tokens_today, tier_daily_tokens=tier.daily_tokens)
    if _over(tier.daily_tokens, sender_total):
        raise _Refused(
            "tier_daily_tokens",
            f"Budget exceeded: {sender_total}/{tier.daily_tokens} tokens today",
            next_midnight_ms,
        )
    if exempt:
        return

    figures["per_sender_daily_max"] = compute.per_sender_daily_max
    if _over(compute.per_sender_daily_max, sender_total):
        raise _Refused(
            "sender_daily_max",
            f"Sender budget exceeded: {sender_total}/{compute.per_sender_daily_max} tokens today",
            next_midnight_ms,
        )

    global_total = usage.total_tokens_today + estimate
    figures.update(
        total_tokens_today=usage.total_tokens_today, daily_budget_tokens=compute.daily_budget_tokens
    )
    if _over(compute.daily_budget_tokens, global_total):
        raise _Refused(
            "global_daily_tokens",
            f"Global budget exceeded: {global_total}/{compute.daily_budget_tokens} tokens today",
            next_midnight_ms,
        )

    windows: list[_Deferred] = []
    figures.update(tasks_last_hour=usage.sender_tasks_last_hour, tasks_per_hour=compute.tasks_per_hour)
    if compute.tasks_per_hour > 0 and usage.sender_tasks_last_hour >= compute.tasks_per_hour:
        oldest = usage.sender_oldest_in_hour_ms
        windows.append(
            _Deferred(
                "rate",
                f"Rate limit: {usage.sender_tasks_last_hour}/{compute.tasks_per_hour} tasks this hour",
                (now_ms if oldest is None else oldest) + HOUR_MS,
            )
        )

    if usage.sender_last_task_ms is not None and compute.cooldown_between_tasks > 0:
        since_ms = max(0, now_ms - usage.sender_last_task_ms)
        figures.update(since_last_task_s=since_ms // 1000, cooldown_s=compute.cooldown_between_tasks)
        if since_ms < compute.cooldown_between_tasks * 1000:
            windows.append(
                _Deferred(
                    "cooldown",
                    f"Cooldown: {since_ms // 1000}s since the last task, "
                    f"{compute.cooldown_between_tasks}s required",
                    usage.sender_last_task_ms + compute.cooldown_between_tasks * 1000,
                )
            )

    figures.update(queue_depth=usage.queue_depth, max_queue_depth=compute.max_queue_depth)
    if compute.max_queue_depth > 0 and usage.queue_depth >= compute.max_queue_depth:
        raise _Refused("queue_depth", f"Queue full: {usage.queue_depth}/{compute.max_queue_depth}")

    if request.unpinned_key is not None:
        _check_unpinned(request, usage, compute.unpinned_queue_per_key, compute.unpinned_queue_total, figures)
    if windows:
        # The window that opens last decides when the request is looked at again.
        raise max(windows, key=lambda window: window.retry_after_ms)


def _check_unpinned(
    request: Request, usage: Usage, per_key: int, total: int, figures: dict[str, int]
) -> None:
    key = request.unpinned_key or ""
    figures.update(unpinned_key_queue=usage.unpinned_key_queue, unpinned_queue_per_key=per_key)
    if per_key > 0 and usage.unpinned_key_queue >= per_key:
        raise _Refused(
            "unpinned_queue_per_key",
            f"Queue full for unpinned senders on key {key[:12]}: {usage.unpinned_key_queue}/{per_key}",
        )
    figures.update(unpinned_queue=usage.unpinned_queue, unpinned_queue_total=total)
    if total > 0 and usage.unpinned_queue >= total:
        raise _Refused(
            "unpinned_queue_total", f"Queue full for unpinned senders: {usage.unpinned_queue}/{total}"
        )
