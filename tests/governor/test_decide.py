"""``decide``: one table per rule, the check order, the tier defaults, the owner's exemptions, and
properties (determinism, the exact acceptance condition, monotonicity in usage).

The unpinned queue caps apply only to a request with an ``unpinned_key`` (not signed by a key pinned
for its sender); the check-order scenario uses such a request so that every rule can be reached.

Each rule's table runs against a policy where every *other* limit is 0 (unlimited), so only the rule
under test can refuse. Rows: well under the limit, exactly at it, one over, and a limit of 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.governor.decide import HOUR_MS, Decision, Request, Usage, decide
from datacore_msg.governor.policy import DEFAULT_TIERS, TIERS, ComputeLimits, Policy, TierLimits

NOW = 1_800_000_000_000
MIDNIGHT = NOW + 5 * HOUR_MS

RULES: tuple[str, ...] = (
    "effort",
    "per_task_tokens",
    "tier_daily_tokens",
    "sender_daily_max",
    "global_daily_tokens",
    "rate",
    "cooldown",
    "queue_depth",
    "unpinned_queue_per_key",
    "unpinned_queue_total",
)
UNPINNED_RULES = ("unpinned_queue_per_key", "unpinned_queue_total")
#: An origin key pinned for no one (a throwaway key).
STRANGER = "5e" * 32

#: The figures each check records, in check order (effort and cooldown only when they apply).
RULE_FIGURES: dict[str, tuple[str, ...]] = {
    "effort": ("effort", "max_effort"),
    "per_task_tokens": ("estimate", "per_task_max_tokens"),
    "tier_daily_tokens": ("sender_tokens_today", "tier_daily_tokens"),
    "sender_daily_max": ("per_sender_daily_max",),
    "global_daily_tokens": ("total_tokens_today", "daily_budget_tokens"),
    "rate": ("tasks_last_hour", "tasks_per_hour"),
    "cooldown": ("since_last_task_s", "cooldown_s"),
    "queue_depth": ("queue_depth", "max_queue_depth"),
    "unpinned_queue_per_key": ("unpinned_key_queue", "unpinned_queue_per_key"),
    "unpinned_queue_total": ("unpinned_queue", "unpinned_queue_total"),
}

#: Every compute limit off: only the limit a test sets can refuse.
UNLIMITED = ComputeLimits(
    daily_budget_tokens=0,
    per_sender_daily_max=0,
    per_task_max_tokens=0,
    cooldown_between_tasks=0,
    max_queue_depth=0,
    tasks_per_hour=0,
    unpinned_queue_per_key=0,
    unpinned_queue_total=0,
)
OPEN_TEAM = TierLimits(priority_boost=1.5, daily_tokens=0, max_effort=0, auto_accept=True)


def req(
    tier: str = "team",
    effort: int | None = None,
    estimate: int = 1_000,
    sender: str = "bob",
    unpinned_key: str | None = None,
) -> Request:
    return Request(
        task="task-20261201-120000-0123abcd",
        sender=sender,
        tier=tier,
        effort=effort,
        estimate=estimate,
        unpinned_key=unpinned_key,
    )


def use(
    sender_tokens: int = 0,
    total_tokens: int = 0,
    tasks_last_hour: int = 0,
    oldest_in_hour_ms: int | None = None,
    last_task_ms: int | None = None,
    queue: int = 0,
    key_queue: int = 0,
    unpinned_queue: int = 0,
) -> Usage:
    return Usage(
        sender_tokens_today=sender_tokens,
        total_tokens_today=total_tokens,
        sender_tasks_last_hour=tasks_last_hour,
        sender_oldest_in_hour_ms=oldest_in_hour_ms,
        sender_last_task_ms=last_task_ms,
        queue_depth=queue,
        unpinned_key_queue=key_queue,
        unpinned_queue=unpinned_queue,
    )


def pol(tier: TierLimits = OPEN_TEAM, tier_name: str = "team", **compute: int) -> Policy:
    tiers = {**DEFAULT_TIERS, tier_name: tier}
    return Policy(tiers=tiers, compute=UNLIMITED.evolve(**compute))


def run(request: Request, usage: Usage, policy: Policy) -> Decision:
    return decide(request, usage, policy, NOW, MIDNIGHT)


def expected_keys(
    reached: str, *, effort: bool, cooldown: bool, owner: bool = False, unpinned: bool = False
) -> set[str]:
    """The figure names recorded by the checks up to and including ``reached``."""
    keys: set[str] = set()
    for rule in RULES[: RULES.index(reached) + 1]:
        if rule == "effort" and not effort:
            continue
        if rule == "cooldown" and not cooldown:
            continue
        if rule in UNPINNED_RULES and not unpinned:
            continue
        if owner and rule not in ("effort", "tier_daily_tokens"):
            if rule == "per_task_tokens":
                keys.add("estimate")
            continue
        keys.update(RULE_FIGURES[rule])
    return keys


def assert_decision(
    decision: Decision,
    *,
    outcome: str,
    rule: str,
    reason: str,
    retry: int | None,
    figures: dict[str, int],
) -> None:
    assert (decision.outcome, decision.rule, decision.reason) == (outcome, rule, reason)
    assert decision.retry_after_ms == retry
    assert {key: decision.figures.get(key) for key in figures} == figures


def assert_expected(
    decision: Decision, expected: tuple[str, str, str, int | None], figures: dict[str, int]
) -> None:
    """:func:`assert_decision` of a table row's (outcome, rule, reason, retry)."""
    outcome, rule, reason, retry = expected
    assert_decision(decision, outcome=outcome, rule=rule, reason=reason, retry=retry, figures=figures)


ACCEPT = ("accepted", "auto_accept", "Auto-accepted (tier team)", None)


def refuse(rule: str, reason: str, retry: int | None = None) -> tuple[str, str, str, int | None]:
    return ("refused", rule, reason, retry)


def defer(rule: str, reason: str, retry: int) -> tuple[str, str, str, int | None]:
    """The rate and the cooldown defer a request until their window opens; they never refuse."""
    return ("deferred", rule, reason, retry)


#: The rules that defer instead of refusing.
WINDOW_RULES = ("rate", "cooldown")


# -- one table per rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "max_effort", "expected"),
    [
        pytest.param(2, 5, ACCEPT, id="under"),
        pytest.param(5, 5, ACCEPT, id="at"),
        pytest.param(6, 5, refuse("effort", "Effort 6 exceeds tier limit 5"), id="one-over"),
        pytest.param(5, 3, refuse("effort", "Effort 5 exceeds tier limit 3"), id="reference-example"),
        pytest.param(1_000, 0, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_effort(effort: int, max_effort: int, expected: tuple[str, str, str, int | None]) -> None:
    policy = pol(OPEN_TEAM.evolve(max_effort=max_effort))
    decision = run(req(effort=effort), use(), policy)
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"effort": effort, "max_effort": max_effort})
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=True, cooldown=False)


def test_effort_not_given_is_not_checked() -> None:
    decision = run(req(effort=None), use(), pol(OPEN_TEAM.evolve(max_effort=1)))
    assert decision.outcome == "accepted"
    assert "effort" not in decision.figures
    assert "max_effort" not in decision.figures


@pytest.mark.parametrize(
    ("estimate", "limit", "expected"),
    [
        pytest.param(100, 1_000, ACCEPT, id="under"),
        pytest.param(1_000, 1_000, ACCEPT, id="at"),
        pytest.param(
            1_001,
            1_000,
            refuse("per_task_tokens", "Estimate 1001 exceeds the per-task limit of 1000 tokens"),
            id="one-over",
        ),
        pytest.param(10**9, 0, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_per_task_tokens(estimate: int, limit: int, expected: tuple[str, str, str, int | None]) -> None:
    decision = run(req(estimate=estimate), use(), pol(per_task_max_tokens=limit))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"estimate": estimate, "per_task_max_tokens": limit})
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False)


@pytest.mark.parametrize(
    ("sender_tokens", "estimate", "limit", "expected"),
    [
        pytest.param(1_000, 1_000, 10_000, ACCEPT, id="under"),
        pytest.param(9_000, 1_000, 10_000, ACCEPT, id="at"),
        pytest.param(
            9_001,
            1_000,
            10_000,
            refuse("tier_daily_tokens", "Budget exceeded: 10001/10000 tokens today", MIDNIGHT),
            id="one-over",
        ),
        pytest.param(
            11_000,
            1_000,
            10_000,
            refuse("tier_daily_tokens", "Budget exceeded: 12000/10000 tokens today", MIDNIGHT),
            id="reference-example",
        ),
        pytest.param(
            0,
            10_001,
            10_000,
            refuse("tier_daily_tokens", "Budget exceeded: 10001/10000 tokens today", MIDNIGHT),
            id="estimate-alone-over",
        ),
        pytest.param(10**9, 10**6, 0, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_tier_daily_tokens(
    sender_tokens: int, estimate: int, limit: int, expected: tuple[str, str, str, int | None]
) -> None:
    policy = pol(OPEN_TEAM.evolve(daily_tokens=limit))
    decision = run(req(estimate=estimate), use(sender_tokens=sender_tokens), policy)
    outcome, rule, _, _ = expected
    assert_expected(
        decision,
        expected,
        {"sender_tokens_today": sender_tokens, "tier_daily_tokens": limit, "estimate": estimate},
    )
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False)


@pytest.mark.parametrize(
    ("sender_tokens", "estimate", "limit", "expected"),
    [
        pytest.param(1_000, 1_000, 10_000, ACCEPT, id="under"),
        pytest.param(9_000, 1_000, 10_000, ACCEPT, id="at"),
        pytest.param(
            9_001,
            1_000,
            10_000,
            refuse("sender_daily_max", "Sender budget exceeded: 10001/10000 tokens today", MIDNIGHT),
            id="one-over",
        ),
        pytest.param(10**9, 10**6, 0, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_sender_daily_max(
    sender_tokens: int, estimate: int, limit: int, expected: tuple[str, str, str, int | None]
) -> None:
    decision = run(req(estimate=estimate), use(sender_tokens=sender_tokens), pol(per_sender_daily_max=limit))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"sender_tokens_today": sender_tokens, "per_sender_daily_max": limit})
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False)


@pytest.mark.parametrize(
    ("total_tokens", "estimate", "limit", "expected"),
    [
        pytest.param(100_000, 1_000, 500_000, ACCEPT, id="under"),
        pytest.param(499_000, 1_000, 500_000, ACCEPT, id="at"),
        pytest.param(
            499_001,
            1_000,
            500_000,
            refuse("global_daily_tokens", "Global budget exceeded: 500001/500000 tokens today", MIDNIGHT),
            id="one-over",
        ),
        pytest.param(10**11, 10**6, 0, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_global_daily_tokens(
    total_tokens: int, estimate: int, limit: int, expected: tuple[str, str, str, int | None]
) -> None:
    decision = run(req(estimate=estimate), use(total_tokens=total_tokens), pol(daily_budget_tokens=limit))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"total_tokens_today": total_tokens, "daily_budget_tokens": limit})
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False)


OLDEST = NOW - 40 * 60_000  # 40 minutes ago


@pytest.mark.parametrize(
    ("tasks", "limit", "oldest", "expected"),
    [
        pytest.param(1, 5, OLDEST, ACCEPT, id="under"),
        # 4 let through in the last hour: this request would be the 5th of 5 — still allowed.
        pytest.param(4, 5, OLDEST, ACCEPT, id="at-limit-after-this-one"),
        # The count already equals the limit: ">= limit defers" until the oldest leaves the hour.
        pytest.param(
            5, 5, OLDEST, defer("rate", "Rate limit: 5/5 tasks this hour", OLDEST + HOUR_MS), id="at-defers"
        ),
        pytest.param(
            6, 5, OLDEST, defer("rate", "Rate limit: 6/5 tasks this hour", OLDEST + HOUR_MS), id="one-over"
        ),
        # No oldest known (inconsistent figures): a whole hour from now.
        pytest.param(
            5, 5, None, defer("rate", "Rate limit: 5/5 tasks this hour", NOW + HOUR_MS), id="no-oldest"
        ),
        pytest.param(1_000, 0, OLDEST, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_rate(tasks: int, limit: int, oldest: int | None, expected: tuple[str, str, str, int | None]) -> None:
    usage = use(tasks_last_hour=tasks, oldest_in_hour_ms=oldest)
    decision = run(req(), usage, pol(tasks_per_hour=limit))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"tasks_last_hour": tasks, "tasks_per_hour": limit})
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False)


@pytest.mark.parametrize(
    ("since_ms", "cooldown", "expected", "since_s"),
    [
        pytest.param(600_000, 60, ACCEPT, 600, id="well-past"),
        pytest.param(60_000, 60, ACCEPT, 60, id="at"),
        pytest.param(
            59_999,
            60,
            defer("cooldown", "Cooldown: 59s since the last task, 60s required", NOW - 59_999 + 60_000),
            59,
            id="one-ms-short",
        ),
        pytest.param(
            59_000,
            60,
            defer("cooldown", "Cooldown: 59s since the last task, 60s required", NOW - 59_000 + 60_000),
            59,
            id="one-s-short",
        ),
        pytest.param(
            0,
            60,
            defer("cooldown", "Cooldown: 0s since the last task, 60s required", NOW + 60_000),
            0,
            id="now",
        ),
        # A last task in the future (clock skew) counts as 0 s ago.
        pytest.param(
            -5_000,
            60,
            defer("cooldown", "Cooldown: 0s since the last task, 60s required", NOW + 5_000 + 60_000),
            0,
            id="future-last-task",
        ),
    ],
)
def test_cooldown(
    since_ms: int, cooldown: int, expected: tuple[str, str, str, int | None], since_s: int
) -> None:
    decision = run(req(), use(last_task_ms=NOW - since_ms), pol(cooldown_between_tasks=cooldown))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"since_last_task_s": since_s, "cooldown_s": cooldown})
    reached = rule if outcome == "refused" else "queue_depth"
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=True)


# -- deferral: the window rules and what still refuses ---------------------------------------------

#: (usage changes, compute limits, expected): the two windows against each other and against the
#: checks that still refuse (budgets before them; the queues after them, which a deferral must pass).
DEFERRAL_TABLE = [
    pytest.param(
        {
            "sender_tasks_last_hour": 5,
            "sender_oldest_in_hour_ms": OLDEST,
            "sender_last_task_ms": NOW - 10_000,
        },
        {"tasks_per_hour": 5, "cooldown_between_tasks": 60},
        defer("rate", "Rate limit: 5/5 tasks this hour", OLDEST + HOUR_MS),
        id="rate-opens-last",
    ),
    pytest.param(
        {
            "sender_tasks_last_hour": 5,
            "sender_oldest_in_hour_ms": NOW - HOUR_MS + 5_000,
            "sender_last_task_ms": NOW,
        },
        {"tasks_per_hour": 5, "cooldown_between_tasks": 60},
        defer("cooldown", "Cooldown: 0s since the last task, 60s required", NOW + 60_000),
        id="cooldown-opens-last",
    ),
    pytest.param(
        {"sender_last_task_ms": NOW, "queue_depth": 20},
        {"cooldown_between_tasks": 60, "max_queue_depth": 20},
        refuse("queue_depth", "Queue full: 20/20"),
        id="full-queue-refuses-a-deferral",
    ),
    pytest.param(
        {"sender_tasks_last_hour": 5, "sender_oldest_in_hour_ms": OLDEST, "total_tokens_today": 500},
        {"tasks_per_hour": 5, "daily_budget_tokens": 1_000},
        refuse("global_daily_tokens", "Global budget exceeded: 1500/1000 tokens today", MIDNIGHT),
        id="budget-refuses-before-the-window",
    ),
    pytest.param(
        {"sender_last_task_ms": NOW - 60_000, "queue_depth": 19},
        {"cooldown_between_tasks": 60, "max_queue_depth": 20},
        ACCEPT,
        id="window-open-queue-room",
    ),
]


@pytest.mark.parametrize(("changes", "compute", "expected"), DEFERRAL_TABLE)
def test_deferral_table(
    changes: dict[str, Any], compute: dict[str, int], expected: tuple[str, str, str, int | None]
) -> None:
    decision = run(req(), use().evolve(**changes), pol(**compute))
    outcome = expected[0]
    assert (decision.outcome, decision.rule, decision.reason, decision.retry_after_ms) == expected
    assert decision.state == {"deferred": "REQUESTED", "refused": "CANCELLED", "accepted": "QUEUED"}[outcome]


def test_the_owner_is_never_deferred() -> None:
    usage = use(tasks_last_hour=50, oldest_in_hour_ms=OLDEST, last_task_ms=NOW)
    decision = run(req(tier="owner"), usage, pol(tasks_per_hour=5, cooldown_between_tasks=60))
    assert decision.outcome == "accepted"


@pytest.mark.parametrize(
    ("last_task_ms", "cooldown"),
    [
        pytest.param(NOW, 0, id="limit-0-unlimited"),
        pytest.param(None, 60, id="no-last-task"),
        pytest.param(None, 0, id="neither"),
    ],
)
def test_cooldown_not_applied(last_task_ms: int | None, cooldown: int) -> None:
    decision = run(req(), use(last_task_ms=last_task_ms), pol(cooldown_between_tasks=cooldown))
    assert decision.outcome == "accepted"
    assert "since_last_task_s" not in decision.figures
    assert "cooldown_s" not in decision.figures


@pytest.mark.parametrize(
    ("queue", "limit", "expected"),
    [
        pytest.param(5, 20, ACCEPT, id="under"),
        pytest.param(19, 20, ACCEPT, id="at-limit-after-this-one"),
        pytest.param(20, 20, refuse("queue_depth", "Queue full: 20/20"), id="at-refuses"),
        pytest.param(21, 20, refuse("queue_depth", "Queue full: 21/20"), id="one-over"),
        pytest.param(10_000, 0, ACCEPT, id="limit-0-unlimited"),
    ],
)
def test_queue_depth(queue: int, limit: int, expected: tuple[str, str, str, int | None]) -> None:
    decision = run(req(), use(queue=queue), pol(max_queue_depth=limit))
    assert_expected(decision, expected, {"queue_depth": queue, "max_queue_depth": limit})
    assert set(decision.figures) == expected_keys("queue_depth", effort=False, cooldown=False)


HELD_UNKNOWN = ("held", "approval", "Awaiting owner approval (tier unknown)", None)


@pytest.mark.parametrize(
    ("key_queue", "limit", "expected"),
    [
        pytest.param(0, 2, HELD_UNKNOWN, id="under"),
        pytest.param(1, 2, HELD_UNKNOWN, id="at-limit-after-this-one"),
        pytest.param(
            2,
            2,
            refuse("unpinned_queue_per_key", "Queue full for unpinned senders on key 5e5e5e5e5e5e: 2/2"),
            id="at-refuses",
        ),
        pytest.param(
            3,
            2,
            refuse("unpinned_queue_per_key", "Queue full for unpinned senders on key 5e5e5e5e5e5e: 3/2"),
            id="one-over",
        ),
        pytest.param(10_000, 0, HELD_UNKNOWN, id="limit-0-unlimited"),
    ],
)
def test_unpinned_queue_per_key(
    key_queue: int, limit: int, expected: tuple[str, str, str, int | None]
) -> None:
    request = req(tier="unknown", unpinned_key=STRANGER)
    decision = run(request, use(key_queue=key_queue), pol(unpinned_queue_per_key=limit))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"unpinned_key_queue": key_queue, "unpinned_queue_per_key": limit})
    reached = rule if outcome == "refused" else RULES[-1]
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False, unpinned=True)


@pytest.mark.parametrize(
    ("unpinned", "limit", "expected"),
    [
        pytest.param(1, 5, HELD_UNKNOWN, id="under"),
        pytest.param(4, 5, HELD_UNKNOWN, id="at-limit-after-this-one"),
        pytest.param(
            5, 5, refuse("unpinned_queue_total", "Queue full for unpinned senders: 5/5"), id="at-refuses"
        ),
        pytest.param(
            6, 5, refuse("unpinned_queue_total", "Queue full for unpinned senders: 6/5"), id="one-over"
        ),
        pytest.param(10_000, 0, HELD_UNKNOWN, id="limit-0-unlimited"),
    ],
)
def test_unpinned_queue_total(unpinned: int, limit: int, expected: tuple[str, str, str, int | None]) -> None:
    request = req(tier="unknown", unpinned_key=STRANGER)
    decision = run(request, use(unpinned_queue=unpinned), pol(unpinned_queue_total=limit))
    outcome, rule, _, _ = expected
    assert_expected(decision, expected, {"unpinned_queue": unpinned, "unpinned_queue_total": limit})
    reached = rule if outcome == "refused" else RULES[-1]
    assert set(decision.figures) == expected_keys(reached, effort=False, cooldown=False, unpinned=True)


@pytest.mark.parametrize("tier", ["team", "trusted", "unknown"])
def test_a_pinned_request_is_not_held_to_the_unpinned_caps(tier: str) -> None:
    """However full the unpinned queues, a request on a key pinned for its sender (any tier: a
    contact may be pinned as ``unknown``) is checked against ``max_queue_depth`` only."""
    policy = pol(
        OPEN_TEAM.evolve(auto_accept=True),
        tier,
        unpinned_queue_per_key=2,
        unpinned_queue_total=5,
        max_queue_depth=20,
    )
    full = use(queue=19, key_queue=50, unpinned_queue=50)
    decision = run(req(tier=tier), full, policy)
    assert (decision.outcome, decision.rule) == ("accepted", "auto_accept")
    assert not set(decision.figures) & {
        "unpinned_key_queue",
        "unpinned_queue_per_key",
        "unpinned_queue",
        "unpinned_queue_total",
    }
    # the same request from an unpinned key is refused by its own cap
    unpinned = run(req(tier=tier, unpinned_key=STRANGER), full, policy)
    assert (unpinned.outcome, unpinned.rule) == ("refused", "unpinned_queue_per_key")


def test_an_unpinned_request_is_also_held_to_a_full_queue() -> None:
    """The unpinned caps come on top of ``max_queue_depth``: a queue full of pinned work refuses it."""
    policy = pol(max_queue_depth=20, unpinned_queue_per_key=2, unpinned_queue_total=5)
    decision = run(req(tier="unknown", unpinned_key=STRANGER), use(queue=20), policy)
    assert (decision.outcome, decision.rule, decision.reason) == (
        "refused",
        "queue_depth",
        "Queue full: 20/20",
    )
    assert set(decision.figures) == expected_keys("queue_depth", effort=False, cooldown=False, unpinned=True)


@pytest.mark.parametrize(
    ("tier", "auto_accept", "outcome", "rule", "reason", "state"),
    [
        pytest.param(
            "owner", True, "accepted", "auto_accept", "Auto-accepted (tier owner)", "QUEUED", id="owner"
        ),
        pytest.param(
            "team", True, "accepted", "auto_accept", "Auto-accepted (tier team)", "QUEUED", id="team"
        ),
        pytest.param(
            "trusted", True, "accepted", "auto_accept", "Auto-accepted (tier trusted)", "QUEUED", id="trusted"
        ),
        pytest.param(
            "unknown", True, "accepted", "auto_accept", "Auto-accepted (tier unknown)", "QUEUED", id="unknown"
        ),
        pytest.param(
            "owner",
            False,
            "held",
            "approval",
            "Awaiting owner approval (tier owner)",
            "WAITING",
            id="owner-held",
        ),
        pytest.param(
            "team",
            False,
            "held",
            "approval",
            "Awaiting owner approval (tier team)",
            "WAITING",
            id="team-held",
        ),
        pytest.param(
            "trusted",
            False,
            "held",
            "approval",
            "Awaiting owner approval (tier trusted)",
            "WAITING",
            id="trusted-held",
        ),
        pytest.param(
            "unknown",
            False,
            "held",
            "approval",
            "Awaiting owner approval (tier unknown)",
            "WAITING",
            id="unknown-held",
        ),
    ],
)
def test_auto_accept_or_approval(
    tier: str, auto_accept: bool, outcome: str, rule: str, reason: str, state: str
) -> None:
    limits = TierLimits(priority_boost=1.0, daily_tokens=0, max_effort=0, auto_accept=auto_accept)
    decision = run(req(tier=tier), use(), pol(limits, tier_name=tier))
    assert (decision.outcome, decision.rule, decision.reason, decision.state) == (
        outcome,
        rule,
        reason,
        state,
    )
    assert decision.retry_after_ms is None
    assert decision.tier == tier


def test_full_figures_of_an_accepted_non_owner_request() -> None:
    policy = Policy()
    usage = use(
        sender_tokens=1_000,
        total_tokens=7_000,
        tasks_last_hour=2,
        oldest_in_hour_ms=OLDEST,
        last_task_ms=NOW - 90_500,
        queue=3,
    )
    decision = run(req(tier="team", effort=4, estimate=2_000), usage, policy)
    assert decision == Decision(
        outcome="accepted",
        rule="auto_accept",
        reason="Auto-accepted (tier team)",
        tier="team",
        figures={
            "effort": 4,
            "max_effort": 8,
            "estimate": 2_000,
            "per_task_max_tokens": 50_000,
            "sender_tokens_today": 1_000,
            "tier_daily_tokens": 100_000,
            "per_sender_daily_max": 100_000,
            "total_tokens_today": 7_000,
            "daily_budget_tokens": 500_000,
            "tasks_last_hour": 2,
            "tasks_per_hour": 5,
            "since_last_task_s": 90,
            "cooldown_s": 60,
            "queue_depth": 3,
            "max_queue_depth": 20,
        },
        retry_after_ms=None,
    )


def test_full_figures_of_a_held_unpinned_request() -> None:
    usage = use(tasks_last_hour=0, queue=3, key_queue=1, unpinned_queue=4)
    decision = run(req(tier="unknown", effort=2, estimate=2_000, unpinned_key=STRANGER), usage, Policy())
    assert decision == Decision(
        outcome="held",
        rule="approval",
        reason="Awaiting owner approval (tier unknown)",
        tier="unknown",
        figures={
            "effort": 2,
            "max_effort": 3,
            "estimate": 2_000,
            "per_task_max_tokens": 50_000,
            "sender_tokens_today": 0,
            "tier_daily_tokens": 10_000,
            "per_sender_daily_max": 100_000,
            "total_tokens_today": 0,
            "daily_budget_tokens": 500_000,
            "tasks_last_hour": 0,
            "tasks_per_hour": 5,
            "queue_depth": 3,
            "max_queue_depth": 20,
            "unpinned_key_queue": 1,
            "unpinned_queue_per_key": 2,
            "unpinned_queue": 4,
            "unpinned_queue_total": 5,
        },
        retry_after_ms=None,
    )


# -- check order -----------------------------------------------------------------------------------

#: A policy where every rule has a limit, and a request/usage that passes them all.
ORDER_TIER = TierLimits(priority_boost=1.5, daily_tokens=100_000, max_effort=5, auto_accept=True)
ORDER_COMPUTE = ComputeLimits(
    daily_budget_tokens=1_000_000,
    per_sender_daily_max=100_000,
    per_task_max_tokens=2_000,
    cooldown_between_tasks=60,
    max_queue_depth=20,
    tasks_per_hour=5,
    unpinned_queue_per_key=2,
    unpinned_queue_total=5,
)

#: How to make one rule fail, independently of the others.
BREAKERS: dict[str, dict[str, Any]] = {
    "effort": {"effort": 9},
    "per_task_tokens": {"estimate": 3_000},
    "tier_daily_tokens": {"tier": {"daily_tokens": 500}},
    "sender_daily_max": {"compute": {"per_sender_daily_max": 500}},
    "global_daily_tokens": {"compute": {"daily_budget_tokens": 500}},
    "rate": {"usage": {"sender_tasks_last_hour": 5}},
    "cooldown": {"usage": {"sender_last_task_ms": NOW - 10_000}},
    "queue_depth": {"usage": {"queue_depth": 20}},
    "unpinned_queue_per_key": {"usage": {"unpinned_key_queue": 2}},
    "unpinned_queue_total": {"usage": {"unpinned_queue": 5}},
}


def scenario(failing: tuple[str, ...], tier: str = "team") -> tuple[Request, Usage, Policy]:
    request = req(tier=tier, effort=1, estimate=1_000, unpinned_key=STRANGER)
    usage = Usage(
        sender_tokens_today=0,
        total_tokens_today=0,
        sender_tasks_last_hour=1,
        sender_oldest_in_hour_ms=OLDEST,
        sender_last_task_ms=NOW - 30 * 60_000,
        queue_depth=0,
        unpinned_key_queue=1,
        unpinned_queue=4,
    )
    tier_limits, compute = ORDER_TIER, ORDER_COMPUTE
    for rule in failing:
        breaker = BREAKERS[rule]
        if "effort" in breaker:
            request = request.evolve(effort=breaker["effort"])
        if "estimate" in breaker:
            request = request.evolve(estimate=breaker["estimate"])
        tier_limits = tier_limits.evolve(**breaker.get("tier", {}))
        compute = compute.evolve(**breaker.get("compute", {}))
        usage = usage.evolve(**breaker.get("usage", {}))
    return request, usage, Policy(tiers={**DEFAULT_TIERS, tier: tier_limits}, compute=compute)


def test_the_order_scenario_passes_when_nothing_is_broken() -> None:
    assert run(*scenario(())).outcome == "accepted"


@pytest.mark.parametrize("rule", RULES)
def test_each_breaker_breaks_only_its_rule(rule: str) -> None:
    decision = run(*scenario((rule,)))
    outcome = "deferred" if rule in WINDOW_RULES else "refused"
    assert (decision.outcome, decision.rule) == (outcome, rule)


def winner_of(failing: tuple[str, ...]) -> str:
    """The first failing rule that refuses; when only windows fail, the one that opens last (in the
    scenario the rate's window, 20 minutes away, opens after the cooldown's 50 seconds)."""
    refusing = [rule for rule in failing if rule not in WINDOW_RULES]
    if refusing:
        return refusing[0]
    return "rate" if "rate" in failing else "cooldown"


@pytest.mark.parametrize(
    "failing",
    [pytest.param(pair, id=f"{pair[0]}+{pair[1]}") for pair in itertools.combinations(RULES, 2)]
    + [pytest.param(RULES, id="all-ten")]
    + [pytest.param(RULES[i:], id=f"from-{RULES[i]}") for i in range(1, len(RULES))],
)
def test_first_failing_rule_wins(failing: tuple[str, ...]) -> None:
    winner = winner_of(failing)
    decision = run(*scenario(failing))
    outcome = "deferred" if winner in WINDOW_RULES else "refused"
    assert (decision.outcome, decision.rule) == (outcome, winner)
    # No figures from checks after a refusing winner; a deferral has passed every check.
    reached = RULES[-1] if outcome == "deferred" else winner
    cooldown_ran = RULES.index(reached) >= RULES.index("cooldown")
    assert set(decision.figures) == expected_keys(reached, effort=True, cooldown=cooldown_ran, unpinned=True)


def test_adjacent_pairs_are_all_covered() -> None:
    pairs = set(itertools.combinations(RULES, 2))
    assert all((a, b) in pairs for a, b in itertools.pairwise(RULES))


# -- tier defaults ---------------------------------------------------------------------------------


def test_default_tier_table_is_the_reference_table() -> None:
    assert tuple(DEFAULT_TIERS) == TIERS == ("owner", "team", "trusted", "unknown")
    assert DEFAULT_TIERS["owner"] == TierLimits(2.0, 0, 0, True)
    assert DEFAULT_TIERS["team"] == TierLimits(1.5, 100_000, 8, True)
    assert DEFAULT_TIERS["trusted"] == TierLimits(1.0, 50_000, 5, False)
    assert DEFAULT_TIERS["unknown"] == TierLimits(0.5, 10_000, 3, False)


def test_default_compute_limits_are_the_reference_ones() -> None:
    assert ComputeLimits() == ComputeLimits(
        daily_budget_tokens=500_000,
        per_sender_daily_max=100_000,
        per_task_max_tokens=50_000,
        per_task_timeout_minutes=30,
        cooldown_between_tasks=60,
        max_queue_depth=20,
        tasks_per_hour=5,
    )
    assert (ComputeLimits().unpinned_queue_per_key, ComputeLimits().unpinned_queue_total) == (2, 5)
    assert Policy().tiers == DEFAULT_TIERS


@pytest.mark.parametrize(
    ("tier", "outcome", "state"),
    [
        pytest.param("owner", "accepted", "QUEUED", id="owner"),
        pytest.param("team", "accepted", "QUEUED", id="team"),
        pytest.param("trusted", "held", "WAITING", id="trusted"),
        pytest.param("unknown", "held", "WAITING", id="unknown"),
    ],
)
def test_default_acceptance_per_tier(tier: str, outcome: str, state: str) -> None:
    decision = run(req(tier=tier, effort=1, estimate=1_000), use(), Policy())
    assert (decision.outcome, decision.state) == (outcome, state)


@pytest.mark.parametrize(
    ("tier", "effort", "refused_reason"),
    [
        pytest.param("unknown", 3, None, id="unknown-at-3"),
        pytest.param("unknown", 4, "Effort 4 exceeds tier limit 3", id="unknown-over"),
        pytest.param("trusted", 5, None, id="trusted-at-5"),
        pytest.param("trusted", 6, "Effort 6 exceeds tier limit 5", id="trusted-over"),
        pytest.param("team", 8, None, id="team-at-8"),
        pytest.param("team", 9, "Effort 9 exceeds tier limit 8", id="team-over"),
        pytest.param("owner", 10**6, None, id="owner-unlimited"),
    ],
)
def test_default_max_effort_per_tier(tier: str, effort: int, refused_reason: str | None) -> None:
    decision = run(req(tier=tier, effort=effort), use(), Policy())
    if refused_reason is None:
        assert decision.outcome != "refused"
    else:
        assert (decision.outcome, decision.rule, decision.reason) == ("refused", "effort", refused_reason)
        assert decision.retry_after_ms is None


@pytest.mark.parametrize(
    ("tier", "limit"),
    [
        pytest.param("unknown", 10_000, id="unknown"),
        pytest.param("trusted", 50_000, id="trusted"),
        pytest.param("team", 100_000, id="team"),
    ],
)
def test_default_daily_tokens_per_tier(tier: str, limit: int) -> None:
    at = run(req(tier=tier, estimate=1_000), use(sender_tokens=limit - 1_000), Policy())
    assert at.outcome != "refused"
    over = run(req(tier=tier, estimate=1_000), use(sender_tokens=limit - 999), Policy())
    assert (over.outcome, over.rule) == ("refused", "tier_daily_tokens")
    assert over.reason == f"Budget exceeded: {limit + 1}/{limit} tokens today"
    assert over.retry_after_ms == MIDNIGHT


def test_default_owner_daily_tokens_unlimited() -> None:
    decision = run(req(tier="owner", estimate=10**6), use(sender_tokens=10**9, total_tokens=10**10), Policy())
    assert decision.outcome == "accepted"


# -- the owner -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "estimate", "non_owner_rule"),
    [
        pytest.param(use(), 60_000, "per_task_tokens", id="per_task_tokens"),
        pytest.param(use(sender_tokens=200_000), 1_000, "sender_daily_max", id="sender_daily_max"),
        pytest.param(use(total_tokens=600_000), 1_000, "global_daily_tokens", id="global_daily_tokens"),
        pytest.param(use(tasks_last_hour=50, oldest_in_hour_ms=OLDEST), 1_000, "rate", id="rate"),
        pytest.param(use(last_task_ms=NOW), 1_000, "cooldown", id="cooldown"),
        pytest.param(use(queue=500), 1_000, "queue_depth", id="queue_depth"),
    ],
)
def test_owner_is_exempt(usage: Usage, estimate: int, non_owner_rule: str) -> None:
    # Give team the owner's (unlimited) tier limits, so only the compute check tells them apart.
    policy = Policy(tiers={**DEFAULT_TIERS, "team": DEFAULT_TIERS["owner"].evolve(priority_boost=1.5)})
    other = run(req(tier="team", estimate=estimate), usage, policy)
    limited = "deferred" if non_owner_rule in WINDOW_RULES else "refused"
    assert (other.outcome, other.rule) == (limited, non_owner_rule)
    owner = run(req(tier="owner", estimate=estimate, sender="gregor"), usage, policy)
    assert (owner.outcome, owner.rule, owner.state) == ("accepted", "auto_accept", "QUEUED")
    assert set(owner.figures) == {"estimate", "sender_tokens_today", "tier_daily_tokens"}


def test_owner_is_exempt_from_all_compute_limits_at_once() -> None:
    usage = use(
        sender_tokens=10**9,
        total_tokens=10**10,
        tasks_last_hour=10**3,
        oldest_in_hour_ms=OLDEST,
        last_task_ms=NOW,
        queue=10**4,
    )
    decision = run(req(tier="owner", effort=99, estimate=10**8), usage, Policy())
    assert decision.outcome == "accepted"


@pytest.mark.parametrize(
    ("owner_limits", "request_", "usage", "rule", "reason", "retry"),
    [
        pytest.param(
            {"daily_tokens": 100},
            req(tier="owner", estimate=101),
            use(),
            "tier_daily_tokens",
            "Budget exceeded: 101/100 tokens today",
            MIDNIGHT,
            id="daily_tokens-one-over",
        ),
        pytest.param(
            {"daily_tokens": 100},
            req(tier="owner", estimate=1),
            use(sender_tokens=100),
            "tier_daily_tokens",
            "Budget exceeded: 101/100 tokens today",
            MIDNIGHT,
            id="daily_tokens-usage-over",
        ),
        pytest.param(
            {"max_effort": 3},
            req(tier="owner", effort=4),
            use(),
            "effort",
            "Effort 4 exceeds tier limit 3",
            None,
            id="max_effort-one-over",
        ),
    ],
)
def test_owner_is_not_exempt_from_a_configured_owner_tier_limit(
    owner_limits: dict[str, Any], request_: Request, usage: Usage, rule: str, reason: str, retry: int | None
) -> None:
    policy = Policy(tiers={**DEFAULT_TIERS, "owner": DEFAULT_TIERS["owner"].evolve(**owner_limits)})
    decision = run(request_, usage, policy)
    assert (decision.outcome, decision.rule, decision.reason, decision.retry_after_ms) == (
        "refused",
        rule,
        reason,
        retry,
    )
    assert decision.state == "CANCELLED"


def test_owner_at_a_configured_owner_tier_limit_passes() -> None:
    policy = Policy(tiers={**DEFAULT_TIERS, "owner": DEFAULT_TIERS["owner"].evolve(daily_tokens=100)})
    decision = run(req(tier="owner", estimate=40), use(sender_tokens=60), policy)
    assert decision.outcome == "accepted"


# -- tiers not in the table ------------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["stranger", "Owner", "OWNER", "", "team "])
def test_a_tier_not_in_the_table_is_treated_as_unknown(tier: str) -> None:
    policy = Policy()
    assert policy.tier(tier) == DEFAULT_TIERS["unknown"]
    refused = run(req(tier=tier, effort=4), use(), policy)
    assert (refused.outcome, refused.reason) == ("refused", "Effort 4 exceeds tier limit 3")
    over_budget = run(req(tier=tier, estimate=1_000), use(sender_tokens=9_001), policy)
    assert (over_budget.rule, over_budget.reason) == (
        "tier_daily_tokens",
        "Budget exceeded: 10001/10000 tokens today",
    )
    held = run(req(tier=tier, effort=3), use(), policy)
    assert (held.outcome, held.rule, held.state) == ("held", "approval", "WAITING")
    # Not the owner: compute limits apply.
    rate = run(req(tier=tier), use(tasks_last_hour=5), policy)
    assert rate.rule == "rate"


# -- Decision.state --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        pytest.param("accepted", "QUEUED", id="accepted"),
        pytest.param("held", "WAITING", id="held"),
        pytest.param("refused", "CANCELLED", id="refused"),
        pytest.param("deferred", "REQUESTED", id="deferred"),
    ],
)
def test_decision_state(outcome: str, state: str) -> None:
    assert Decision(outcome, "r", "why", "team", {}).state == state


# -- properties ------------------------------------------------------------------------------------

limits = st.one_of(st.just(0), st.integers(1, 300))
counts = st.integers(0, 120)


@st.composite
def tier_limits(draw: st.DrawFn) -> TierLimits:
    return TierLimits(
        priority_boost=1.0,
        daily_tokens=draw(limits),
        max_effort=draw(st.integers(0, 10)),
        auto_accept=draw(st.booleans()),
    )


@st.composite
def compute_limits(draw: st.DrawFn) -> ComputeLimits:
    return ComputeLimits(
        daily_budget_tokens=draw(limits),
        per_sender_daily_max=draw(limits),
        per_task_max_tokens=draw(limits),
        cooldown_between_tasks=draw(st.integers(0, 120)),
        max_queue_depth=draw(st.integers(0, 25)),
        tasks_per_hour=draw(st.integers(0, 8)),
        unpinned_queue_per_key=draw(st.integers(0, 4)),
        unpinned_queue_total=draw(st.integers(0, 8)),
    )


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    return Usage(
        sender_tokens_today=draw(counts),
        total_tokens_today=draw(counts),
        sender_tasks_last_hour=draw(st.integers(0, 7)),
        # the task cache counts let-throughs strictly after an hour ago (taskcache.sender_figures)
        sender_oldest_in_hour_ms=draw(st.none() | st.integers(NOW - HOUR_MS + 1, NOW)),
        sender_last_task_ms=draw(st.none() | st.integers(NOW - 200_000, NOW + 5_000)),
        queue_depth=draw(st.integers(0, 24)),
        unpinned_key_queue=draw(st.integers(0, 5)),
        unpinned_queue=draw(st.integers(0, 10)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Request, Usage, Policy]:
    tier = draw(st.sampled_from(TIERS))
    policy = Policy(tiers={name: draw(tier_limits()) for name in TIERS}, compute=draw(compute_limits()))
    request = Request(
        task="t",
        sender="s",
        tier=tier,
        effort=draw(st.none() | st.integers(0, 9)),
        estimate=draw(counts),
        unpinned_key=draw(st.none() | st.just(STRANGER)),
    )
    return request, draw(usages()), policy


def within(limit: int, value: int) -> bool:
    return limit == 0 or value <= limit


def expected_outcome(request: Request, usage: Usage, policy: Policy) -> str:
    """The acceptance condition, written independently of ``decide``."""
    tier = policy.tier(request.tier)
    c = policy.compute
    est = request.estimate
    sender_total = usage.sender_tokens_today + est
    ok = (request.effort is None or within(tier.max_effort, request.effort)) and within(
        tier.daily_tokens, sender_total
    )
    window_open = True
    if request.tier != "owner":
        window_open = (c.tasks_per_hour == 0 or usage.sender_tasks_last_hour < c.tasks_per_hour) and (
            usage.sender_last_task_ms is None
            or c.cooldown_between_tasks == 0
            or NOW - usage.sender_last_task_ms >= c.cooldown_between_tasks * 1000
        )
        ok = (
            ok
            and within(c.per_task_max_tokens, est)
            and within(c.per_sender_daily_max, sender_total)
            and within(c.daily_budget_tokens, usage.total_tokens_today + est)
            and (c.max_queue_depth == 0 or usage.queue_depth < c.max_queue_depth)
            and (
                request.unpinned_key is None
                or (
                    (c.unpinned_queue_per_key == 0 or usage.unpinned_key_queue < c.unpinned_queue_per_key)
                    and (c.unpinned_queue_total == 0 or usage.unpinned_queue < c.unpinned_queue_total)
                )
            )
        )
    if not ok:
        return "refused"
    if not window_open:
        return "deferred"
    return "accepted" if tier.auto_accept else "held"


@settings(max_examples=200, deadline=None)
@given(cases())
def test_decide_is_deterministic_and_refuses_iff_a_limit_is_exceeded(
    case: tuple[Request, Usage, Policy],
) -> None:
    request, usage, policy = case
    first = run(request, usage, policy)
    again = decide(request.evolve(), usage.evolve(), policy.evolve(), NOW, MIDNIGHT)
    assert first == again
    assert first.outcome == expected_outcome(request, usage, policy)
    assert first.tier == request.tier
    assert (first.rule in RULES) == (first.outcome in ("refused", "deferred"))
    assert (first.rule in WINDOW_RULES) == (first.outcome == "deferred")
    if first.outcome == "deferred":
        assert first.retry_after_ms is not None and first.retry_after_ms > NOW
    if first.rule in ("tier_daily_tokens", "sender_daily_max", "global_daily_tokens"):
        assert first.retry_after_ms == MIDNIGHT
    if first.rule in ("effort", "per_task_tokens", "queue_depth", *UNPINNED_RULES, "auto_accept", "approval"):
        assert first.retry_after_ms is None


@settings(max_examples=200, deadline=None)
@given(
    cases().filter(lambda case: case[0].tier != "owner"),
    st.sampled_from(TIERS[1:]),
)
def test_auto_accepting_non_owner_tiers_accept_exactly_when_all_limits_hold(
    case: tuple[Request, Usage, Policy], tier: str
) -> None:
    request, usage, policy = case
    tiers = {**policy.tiers, tier: policy.tiers[tier].evolve(auto_accept=True)}
    policy = policy.evolve(tiers=tiers)
    request = request.evolve(tier=tier)
    t, c, est = policy.tier(tier), policy.compute, request.estimate
    all_hold = (
        (request.effort is None or t.max_effort == 0 or request.effort <= t.max_effort)
        and (c.per_task_max_tokens == 0 or est <= c.per_task_max_tokens)
        and (t.daily_tokens == 0 or usage.sender_tokens_today + est <= t.daily_tokens)
        and (c.per_sender_daily_max == 0 or usage.sender_tokens_today + est <= c.per_sender_daily_max)
        and (c.daily_budget_tokens == 0 or usage.total_tokens_today + est <= c.daily_budget_tokens)
        and (c.tasks_per_hour == 0 or usage.sender_tasks_last_hour < c.tasks_per_hour)
        and (
            usage.sender_last_task_ms is None
            or c.cooldown_between_tasks == 0
            or NOW - usage.sender_last_task_ms >= c.cooldown_between_tasks * 1000
        )
        and (c.max_queue_depth == 0 or usage.queue_depth < c.max_queue_depth)
        and (
            request.unpinned_key is None
            or (
                (c.unpinned_queue_per_key == 0 or usage.unpinned_key_queue < c.unpinned_queue_per_key)
                and (c.unpinned_queue_total == 0 or usage.unpinned_queue < c.unpinned_queue_total)
            )
        )
    )
    decision = run(request, usage, policy)
    assert (decision.outcome == "accepted") == all_hold
    assert decision.outcome in ("accepted", "refused", "deferred")


RAISERS: dict[str, Callable[[Usage, int], Usage]] = {
    "sender_tokens_today": lambda u, d: u.evolve(sender_tokens_today=u.sender_tokens_today + d),
    "total_tokens_today": lambda u, d: u.evolve(total_tokens_today=u.total_tokens_today + d),
    "sender_tasks_last_hour": lambda u, d: u.evolve(sender_tasks_last_hour=u.sender_tasks_last_hour + d),
    "queue_depth": lambda u, d: u.evolve(queue_depth=u.queue_depth + d),
    "unpinned_key_queue": lambda u, d: u.evolve(unpinned_key_queue=u.unpinned_key_queue + d),
    "unpinned_queue": lambda u, d: u.evolve(unpinned_queue=u.unpinned_queue + d),
    # A more recent last task (or a first one appearing) is "more usage" for the cooldown.
    "sender_last_task_ms": lambda u, d: u.evolve(
        sender_last_task_ms=(NOW - 200_000 if u.sender_last_task_ms is None else u.sender_last_task_ms) + d
    ),
    "sender_oldest_in_hour_ms": lambda u, d: u.evolve(
        sender_oldest_in_hour_ms=(
            NOW - HOUR_MS + 1 if u.sender_oldest_in_hour_ms is None else u.sender_oldest_in_hour_ms
        )
        + d,
    ),
}


@settings(max_examples=200, deadline=None)
@given(
    cases(),
    st.lists(st.tuples(st.sampled_from(sorted(RAISERS)), st.integers(0, 300)), min_size=1, max_size=6),
    st.integers(0, 300),
)
def test_raising_usage_never_turns_a_refusal_into_an_acceptance(
    case: tuple[Request, Usage, Policy], raises: list[tuple[str, int]], extra_estimate: int
) -> None:
    request, usage, policy = case
    before = run(request, usage, policy)
    raised = usage
    for field, delta in raises:
        raised = RAISERS[field](raised, delta)
    after = run(request, raised, policy)
    if before.outcome == "refused":
        assert after.outcome == "refused"
    if before.outcome == "deferred":
        assert after.outcome in ("deferred", "refused")
    # A bigger estimate on top never lets it through either.
    if after.outcome == "refused":
        bigger = request.evolve(estimate=request.estimate + extra_estimate)
        assert run(bigger, raised, policy).outcome == "refused"
