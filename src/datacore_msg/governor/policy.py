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

from datacore_msg.records import Record, set_field

TIERS: tuple[str, ...] = ("owner", "team", "trusted", "unknown")


class TierLimits(Record):
    __slots__ = ("auto_accept", "daily_tokens", "max_effort", "priority_boost")
    priority_boost: float
    daily_tokens: int
    max_effort: int
    auto_accept: bool

    def __init__(self, priority_boost: float, daily_tokens: int, max_effort: int, auto_accept: bool) -> None:
        set_field(self, "priority_boost", priority_boost)
        set_field(self, "daily_tokens", daily_tokens)
        set_field(self, "max_effort", max_effort)
        set_field(self, "auto_accept", auto_accept)


DEFAULT_TIERS: Mapping[str, TierLimits] = {
    "owner": TierLimits(priority_boost=2.0, daily_tokens=0, max_effort=0, auto_accept=True),
    "team": TierLimits(priority_boost=1.5, daily_tokens=100_000, max_effort=8, auto_accept=True),
    "trusted": TierLimits(priority_boost=1.0, daily_tokens=50_000, max_effort=5, auto_accept=False),
    "unknown": TierLimits(priority_boost=0.5, daily_tokens=10_000, max_effort=3, auto_accept=False),
}


class ComputeLimits(Record):
    __slots__ = (
        "cooldown_between_tasks",
        "daily_budget_tokens",
        "default_task_tokens",
        "max_queue_depth",
        "max_retries",
        "per_sender_daily_max",
        "per_task_max_tokens",
        "per_task_timeout_minutes",
        "tasks_per_hour",
        "unpinned_queue_per_key",
        "unpinned_queue_total",
    )
    daily_budget_tokens: int
    per_sender_daily_max: int
    per_task_max_tokens: int
    per_task_timeout_minutes: int
    cooldown_between_tasks: int
    max_queue_depth: int
    tasks_per_hour: int
    max_retries: int
    default_task_tokens: int
    #: Requests not signed by a key pinned for their sender, WAITING or QUEUED: per origin key, and
    #: from all such keys together. They do not count in ``max_queue_depth``.
    unpinned_queue_per_key: int
    unpinned_queue_total: int

    def __init__(
        self,
        daily_budget_tokens: int = 500_000,
        per_sender_daily_max: int = 100_000,
        per_task_max_tokens: int = 50_000,
        per_task_timeout_minutes: int = 30,
        cooldown_between_tasks: int = 60,
        max_queue_depth: int = 20,
        tasks_per_hour: int = 5,
        max_retries: int = 2,
        default_task_tokens: int = 5_000,
        unpinned_queue_per_key: int = 2,
        unpinned_queue_total: int = 5,
    ) -> None:
        set_field(self, "daily_budget_tokens", daily_budget_tokens)
        set_field(self, "per_sender_daily_max", per_sender_daily_max)
        set_field(self, "per_task_max_tokens", per_task_max_tokens)
        set_field(self, "per_task_timeout_minutes", per_task_timeout_minutes)
        set_field(self, "cooldown_between_tasks", cooldown_between_tasks)
        set_field(self, "max_queue_depth", max_queue_depth)
        set_field(self, "tasks_per_hour", tasks_per_hour)
        set_field(self, "max_retries", max_retries)
        set_field(self, "default_task_tokens", default_task_tokens)
        set_field(self, "unpinned_queue_per_key", unpinned_queue_per_key)
        set_field(self, "unpinned_queue_total", unpinned_queue_total)


_DEFAULT_COMPUTE = ComputeLimits()


class Policy(Record):
    __slots__ = ("compute", "tiers")
    tiers: Mapping[str, TierLimits]
    compute: ComputeLimits

    def __init__(
        self, tiers: Mapping[str, TierLimits] = DEFAULT_TIERS, compute: ComputeLimits = _DEFAULT_COMPUTE
    ) -> None:
        set_field(self, "tiers", tiers)
        set_field(self, "compute", compute)

    def tier(self, name: str) -> TierLimits:
        return self.tiers.get(name, self.tiers["unknown"])
