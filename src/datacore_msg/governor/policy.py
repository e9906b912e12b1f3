"""The limits the governor enforces: per trust tier, and for the agent's compute as a whole.

Defaults are those of the system we replace (REFERENCE.md); ``messaging.trust_tiers`` and
``messaging.compute`` in the settings override them (parsed in ``config/policy.py``). A limit of 0
means unlimited.

Requests not signed by a key pinned for their sender ("unpinned", always tier ``unknown``) have a
queue of their own: ``unpinned_queue_per_key`` per origin key and ``unpinned_queue_total`` for all
of them, so made-up names cannot fill ``max_queue_depth``, which counts pinned requests only.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

TIERS: tuple[str, ...] = ("owner", "team", "trusted", "unknown")


@attrs.frozen
class TierLimits:
    priority_boost: float
    daily_tokens: int
    max_effort: int
    auto_accept: bool


DEFAULT_TIERS: Mapping[str, TierLimits] = {
    "owner": TierLimits(priority_boost=2.0, daily_tokens=0, max_effort=0, auto_accept=True),
    "team": TierLimits(priority_boost=1.5, daily_tokens=100_000, max_effort=8, auto_accept=True),
    "trusted": TierLimits(priority_boost=1.0, daily_tokens=50_000, max_effort=5, auto_accept=False),
    "unknown": TierLimits(priority_boost=0.5, daily_tokens=10_000, max_effort=3, auto_accept=False),
}


@attrs.frozen
class ComputeLimits:
    daily_budget_tokens: int = 500_000
    per_sender_daily_max: int = 100_000
    per_task_max_tokens: int = 50_000
    per_task_timeout_minutes: int = 30
    cooldown_between_tasks: int = 60
    max_queue_depth: int = 20
    tasks_per_hour: int = 5
    max_retries: int = 2
    default_task_tokens: int = 5_000
    #: Requests not signed by a key pinned for their sender, WAITING or QUEUED: per origin key, and
    #: from all such keys together. They do not count in ``max_queue_depth``.
    unpinned_queue_per_key: int = 2
    unpinned_queue_total: int = 5


@attrs.frozen
class Policy:
    tiers: Mapping[str, TierLimits] = DEFAULT_TIERS
    compute: ComputeLimits = ComputeLimits()

    def tier(self, name: str) -> TierLimits:
        return self.tiers.get(name, self.tiers["unknown"])
