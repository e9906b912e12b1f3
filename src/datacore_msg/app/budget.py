"""The budget report (``budget``): today's token use of the agent per sender and in total, the
queues, and the limits the governor holds them to, read from the same derived rows its decisions
use (:mod:`datacore_msg.readmodels.taskcache`)."""

from __future__ import annotations

import attrs

from datacore_msg.app.governance import day_bounds
from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh


@attrs.frozen
class SenderBudget:
    sender: str
    tier: str
    tokens_today: int
    tier_limit: int
    sender_limit: int
    outstanding: int
    completed_today: int
    tasks_last_hour: int


@attrs.frozen
class KeyQueue:
    """Unpinned requests WAITING or QUEUED from one origin key."""

    key: str
    queued: int


@attrs.frozen
class Budget:
    agent: str
    senders: list[SenderBudget]
    total_today: int
    daily_budget: int
    queue_depth: int
    max_queue_depth: int
    working: int
    tasks_per_hour: int
    now_ms: int
    next_reset_ms: int
    timezone: str
    #: Requests not signed by a key pinned for their sender: not in ``queue_depth``, capped apart.
    unpinned_queue: int
    unpinned_queue_total: int
    unpinned_queue_per_key: int
    unpinned_keys: list[KeyQueue]


def budget_of(space: Space) -> Budget:
    """The report for the space's agent now (the views caught up first)."""
    refresh(space)
    now = space.clock()
    bounds = day_bounds(now, space.tz)
    policy = space.policy()
    default = policy.compute.default_task_tokens
    cache = space.tasks()
    everyone = cache.agent_figures(space.agent, bounds.start_ms, default)
    book = space.trust()
    senders = []
    for sender in cache.senders_today(space.agent, bounds.start_ms):
        figures = cache.sender_figures(space.agent, sender, bounds.start_ms, now, default)
        tier = book.account_tier(sender)
        senders.append(
            SenderBudget(
                sender=sender,
                tier=tier,
                tokens_today=figures.tokens_today,
                tier_limit=policy.tier(tier).daily_tokens,
                sender_limit=0 if tier == "owner" else policy.compute.per_sender_daily_max,
                outstanding=figures.outstanding_tokens,
                completed_today=figures.completed_tokens_today,
                tasks_last_hour=figures.let_through_last_hour,
            )
        )
    return Budget(
        agent=space.agent,
        senders=senders,
        total_today=everyone.tokens_today,
        daily_budget=policy.compute.daily_budget_tokens,
        queue_depth=everyone.queue_depth,
        max_queue_depth=policy.compute.max_queue_depth,
        working=everyone.working,
        tasks_per_hour=policy.compute.tasks_per_hour,
        now_ms=now,
        next_reset_ms=bounds.next_midnight_ms,
        timezone=str(space.tz),
        unpinned_queue=everyone.unpinned_queue,
        unpinned_queue_total=policy.compute.unpinned_queue_total,
        unpinned_queue_per_key=policy.compute.unpinned_queue_per_key,
        unpinned_keys=[KeyQueue(key, n) for key, n in cache.unpinned_queues(space.agent)],
    )
