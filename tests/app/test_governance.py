"""The governor on the agent owner's installation, with injected clocks: budgets derived from the log,
the owner's midnight, the sliding hour, the cooldown, the queue depth, the refusal reply, replay that
never re-decides, the timeout sweep and the budget report.

gregor (the owner, Europe/Ljubljana) runs the governor for gregor-claude; tex (UTC) sends requests on
his own installation, and the events travel by export/import (``datacore_msg.app.exchange``), each
side's clock set to the moment of the step. The fake times are in January 2025 (winter: Ljubljana is
UTC+1), in the past of any real clock, so the CLI commands some tests run (wall clock) find nothing
new to decide."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from datacore_msg.app import exchange, governance, messages, tasks, views
from datacore_msg.app.budget import Budget, KeyQueue, SenderBudget, budget_of
from datacore_msg.cli.formatting import task_block
from datacore_msg.config.paths import settings_path
from datacore_msg.projections.tasks import TaskState

UTC = timezone.utc
LJUBLJANA = ZoneInfo("Europe/Ljubljana")
MINUTE = 60_000
HOUR = 60 * MINUTE
AGENT = "gregor-claude"


def ms(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 1, year: int = 2025) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


T0 = ms(15, 10)  # Wednesday 2025-01-15 10:00 UTC = 11:00 in Ljubljana


# -- helpers -----------------------------------------------------------------------------------


def request(inst: Any, at: int, text: str = "some work", to: str = AGENT, **options: Any) -> str:
    with inst.space(clock=lambda: at) as space:
        return tasks.request(space, to, text, **options).task_id


def deliver(src: Any, dst: Any, at: int) -> None:
    """Everything ``src`` holds, imported into ``dst`` at ``at`` (the import runs the governor)."""
    with src.space(clock=lambda: at) as space:
        lines = [line.encode("utf-8") for line in exchange.export_lines(space)]
    with dst.space(clock=lambda: at) as space:
        result = exchange.import_events(space, lines)
    assert result.rejected == []


def load(inst: Any, task: str) -> TaskState:
    with inst.space() as space:
        state = governance.load_task(space, task)
    assert state is not None
    return state


def ask(tex: Any, gregor: Any, at: int, text: str = "some work", **options: Any) -> TaskState:
    """tex requests at ``at``; gregor imports (and decides) at ``at``."""
    task = request(tex, at, text, **options)
    deliver(tex, gregor, at)
    return load(gregor, task)


def move(inst: Any, at: int, task: str, action: str, **options: Any) -> TaskState:
    with inst.space(clock=lambda: at) as space:
        return tasks.transition(space, task, action, **options).state


def refresh(inst: Any, at: int) -> None:
    with inst.space(clock=lambda: at) as space:
        views.refresh(space)


def report(inst: Any, at: int) -> Budget:
    with inst.space(clock=lambda: at) as space:
        return budget_of(space)


def of(budget: Budget, sender: str) -> SenderBudget:
    return next(s for s in budget.senders if s.sender == sender)


def set_messaging(inst: Any, **values: Any) -> None:
    """Merge ``values`` into ``messaging`` of the installation's settings file."""
    path = settings_path(inst.root)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["messaging"].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def outcome(state: TaskState) -> tuple[str, str, str]:
    assert state.decision is not None
    return state.state, state.decision.rule, state.decision.reason


def deferred(state: TaskState) -> tuple[str, str, str, int | None]:
    """A request the rate or the cooldown deferred: still REQUESTED, undecided, and until when."""
    assert state.decision is None and state.deferral is not None
    return state.state, state.deferral.rule, state.deferral.reason, state.deferred_until_ms


def events_of(inst: Any, type_name: str) -> list[dict[str, Any]]:
    result = inst.cli("log", "--type", type_name, "--json")
    assert result.code == 0, result
    data: list[dict[str, Any]] = json.loads(result.out)["data"]
    return data


def inbox(inst: Any) -> list[dict[str, Any]]:
    result = inst.cli("inbox", "--json")
    assert result.code == 0, result
    data: list[dict[str, Any]] = json.loads(result.out)["data"]
    return data


HELD = "Awaiting owner approval (tier unknown)"


# -- budgets -----------------------------------------------------------------------------------


def test_budget_counts_outstanding_estimates_and_completions(gregor: Any, tex: Any) -> None:
    """tex is unknown to gregor (10,000 tokens a day, held for approval)."""
    t = T0
    a = ask(tex, gregor, t, "a", tokens=4000)
    assert outcome(a) == ("WAITING", "approval", HELD)
    b = ask(tex, gregor, t + 2 * MINUTE, "b", tokens=4000)
    assert b.state == "WAITING"
    c = ask(tex, gregor, t + 4 * MINUTE, "c", tokens=4000)
    assert outcome(c) == ("CANCELLED", "tier_daily_tokens", "Budget exceeded: 12000/10000 tokens today")
    assert c.decision is not None and c.decision.figures["sender_tokens_today"] == 8000
    figures = of(report(gregor, t + 5 * MINUTE), "tex")
    assert (figures.tokens_today, figures.outstanding, figures.completed_today) == (8000, 8000, 0)
    assert (figures.tier, figures.tier_limit, figures.sender_limit) == ("unknown", 10000, 100000)

    # the owner rejects one: its estimate no longer counts, and the next request fits again
    move(gregor, t + 6 * MINUTE, a.id, "reject", reason="not this one")
    assert of(report(gregor, t + 7 * MINUTE), "tex").tokens_today == 4000
    d = ask(tex, gregor, t + 8 * MINUTE, "d", tokens=4000)
    assert d.state == "WAITING"

    # a completion replaces the estimate (4000) with the tokens used (1000)
    move(gregor, t + 9 * MINUTE, b.id, "approve")
    move(gregor, t + 9 * MINUTE, b.id, "claim")
    move(gregor, t + 10 * MINUTE, b.id, "complete", tokens=1000)
    figures = of(report(gregor, t + 11 * MINUTE), "tex")
    assert (figures.tokens_today, figures.outstanding, figures.completed_today) == (5000, 4000, 1000)
    e = ask(tex, gregor, t + 12 * MINUTE, "e", tokens=5000)
    assert e.state == "WAITING"  # 10000/10000: at the limit is allowed
    f = ask(tex, gregor, t + 14 * MINUTE, "f", tokens=1)
    assert outcome(f) == ("CANCELLED", "tier_daily_tokens", "Budget exceeded: 10001/10000 tokens today")

    # a cancelled (withdrawn) task frees its estimate too
    move(gregor, t + 15 * MINUTE, d.id, "cancel", reason="dropped")
    g = ask(tex, gregor, t + 16 * MINUTE, "g", tokens=4000)
    assert g.state == "WAITING"
    figures = of(report(gregor, t + 17 * MINUTE), "tex")
    assert (figures.tokens_today, figures.outstanding, figures.completed_today) == (10000, 9000, 1000)
    assert figures.tasks_last_hour == 5  # a, b, d, e, g were let through; c and f were refused


def test_requests_without_an_estimate_count_the_default(gregor: Any, tex: Any) -> None:
    assert ask(tex, gregor, T0).state == "WAITING"  # 5000 by default
    assert ask(tex, gregor, T0 + 2 * MINUTE).state == "WAITING"  # 10000
    third = ask(tex, gregor, T0 + 4 * MINUTE)
    assert outcome(third)[2] == "Budget exceeded: 15000/10000 tokens today"


def test_global_daily_budget_counts_every_sender(gregor: Any, tex: Any) -> None:
    set_messaging(gregor, compute={"daily_budget_tokens": 20000})
    gregor.pin(tex, "team")
    request(gregor, T0, "mine", to=AGENT, tokens=15000)  # the owner's own use counts for the total
    first = ask(tex, gregor, T0 + MINUTE, tokens=5000)
    assert first.state == "QUEUED"
    second = ask(tex, gregor, T0 + 3 * MINUTE, tokens=1)
    assert outcome(second) == (
        "CANCELLED",
        "global_daily_tokens",
        "Global budget exceeded: 20001/20000 tokens today",
    )
    # the owner is exempt from the global budget: the governor guards the owner's tokens from others
    own = request(gregor, T0 + 4 * MINUTE, "more of mine", tokens=50000)
    assert load(gregor, own).state == "QUEUED"


@pytest.mark.parametrize(
    ("effort", "tier", "expected"),
    [
        (3, "unknown", "WAITING"),
        (4, "unknown", "Effort 4 exceeds tier limit 3"),
        (8, "team", "QUEUED"),
        (9, "team", "Effort 9 exceeds tier limit 8"),
        (5, "trusted", "WAITING"),
        (6, "trusted", "Effort 6 exceeds tier limit 5"),
    ],
)
def test_effort_limit_per_tier(gregor: Any, tex: Any, effort: int, tier: str, expected: str) -> None:
    if tier != "unknown":
        gregor.pin(tex, tier)
    state = ask(tex, gregor, T0, effort=effort, tokens=100)
    if expected.startswith("Effort"):
        assert outcome(state) == ("CANCELLED", "effort", expected)
    else:
        assert state.state == expected and state.tier == tier


def test_per_task_and_per_sender_limits(gregor: Any, tex: Any) -> None:
    set_messaging(gregor, compute={"per_sender_daily_max": 20000, "cooldown_between_tasks": 0})
    gregor.pin(tex, "team")
    too_big = ask(tex, gregor, T0, tokens=50001)
    assert outcome(too_big) == (
        "CANCELLED",
        "per_task_tokens",
        "Estimate 50001 exceeds the per-task limit of 50000 tokens",
    )
    assert ask(tex, gregor, T0 + 1000, tokens=50000).state == "CANCELLED"  # 50000 > 20000 a day
    assert outcome(ask(tex, gregor, T0 + 2000, tokens=20001))[1:] == (
        "sender_daily_max",
        "Sender budget exceeded: 20001/20000 tokens today",
    )
    assert ask(tex, gregor, T0 + 3000, tokens=20000).state == "QUEUED"


def test_the_first_failing_check_gives_the_reason(gregor: Any, tex: Any) -> None:
    """Effort, then the sender's tokens, then the rate and cooldown, then the queue (tex's key is
    pinned nowhere: his requests count in the unpinned queue, not in ``max_queue_depth``)."""
    set_messaging(gregor, compute={"max_queue_depth": 1, "unpinned_queue_per_key": 1})
    assert ask(tex, gregor, T0, tokens=10000).state == "WAITING"  # queue now full, budget used up
    everything = ask(tex, gregor, T0 + 1000, effort=9, tokens=5000)
    assert outcome(everything)[1] == "effort"
    assert outcome(ask(tex, gregor, T0 + 2000, tokens=5000))[1] == "tier_daily_tokens"
    move(gregor, T0 + 3000, load_first(gregor), "reject")
    waiting = ask(tex, gregor, T0 + 4000, tokens=1)
    assert deferred(waiting)[1] == "cooldown"
    refresh(gregor, T0 + 2 * MINUTE)  # the cooldown is over: the sweep decides it
    assert load(gregor, waiting.id).state == "WAITING"
    assert outcome(ask(tex, gregor, T0 + 4 * MINUTE, tokens=1))[1] == "unpinned_queue_per_key"


def load_first(inst: Any) -> str:
    with inst.space() as space:
        return space.tasks().find(agent=AGENT)[0]


# -- the owner's midnight ----------------------------------------------------------------------


def _late_evening(gregor: Any, tex: Any) -> tuple[TaskState, TaskState]:
    """tex's 9000-token task is done at 22:40 UTC on the 15th; at 22:55 UTC a 2000-token request,
    at 23:05 UTC a 9000-token one."""
    first = ask(tex, gregor, ms(15, 22, 30), "late work", tokens=9000)
    move(gregor, ms(15, 22, 31), first.id, "approve")
    move(gregor, ms(15, 22, 32), first.id, "claim")
    move(gregor, ms(15, 22, 40), first.id, "complete", tokens=9000)
    before = ask(tex, gregor, ms(15, 22, 55), "just before", tokens=2000)
    after = ask(tex, gregor, ms(15, 23, 5), "just after", tokens=9000)
    return before, after


def test_completed_tokens_reset_at_the_owners_midnight(gregor: Any, tex: Any) -> None:
    """23:00 UTC is midnight in Ljubljana (winter): yesterday's completions stop counting then."""
    before, after = _late_evening(gregor, tex)
    assert outcome(before) == ("CANCELLED", "tier_daily_tokens", "Budget exceeded: 11000/10000 tokens today")
    assert before.decision is not None and before.decision.retry_after == ms(15, 23)
    assert after.state == "WAITING"
    assert after.decision is not None and after.decision.figures["sender_tokens_today"] == 0
    late = report(gregor, ms(15, 23, 6))
    assert late.next_reset_ms == ms(16, 23)
    assert (of(late, "tex").completed_today, of(late, "tex").tokens_today) == (0, 9000)


def test_the_same_evening_in_utc_is_still_one_day(make_installation: Any) -> None:
    gregor = make_installation("gregor", tz="UTC", label="gregor-utc")
    tex = make_installation("tex", tz="UTC", label="tex-utc")
    before, after = _late_evening(gregor, tex)
    assert before.state == "CANCELLED"
    assert outcome(after) == ("CANCELLED", "tier_daily_tokens", "Budget exceeded: 18000/10000 tokens today")
    assert after.decision is not None and after.decision.retry_after == ms(16, 0)


def test_day_bounds_follow_the_zone_and_daylight_saving() -> None:
    winter = governance.day_bounds(ms(15, 23, 30), LJUBLJANA)
    assert (winter.start_ms, winter.next_midnight_ms) == (ms(15, 23), ms(16, 23))
    # 2025-03-30: clocks go forward in Ljubljana, the day is 23 hours long
    spring = governance.day_bounds(ms(30, 12, month=3), LJUBLJANA)
    assert (spring.start_ms, spring.next_midnight_ms) == (ms(29, 23, month=3), ms(30, 22, month=3))
    summer = governance.day_bounds(ms(1, 21, 59, month=7), LJUBLJANA)
    assert summer.next_midnight_ms == ms(1, 22, month=7)
    assert governance.day_bounds(ms(15, 23, 30), UTC).start_ms == ms(15, 0)


# -- rate, cooldown, queue depth ---------------------------------------------------------------


def test_five_tasks_per_sliding_hour(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "team")
    for n in range(5):
        assert ask(tex, gregor, T0 + 2 * n * MINUTE, f"task {n}").state == "QUEUED"
    sixth = ask(tex, gregor, T0 + 10 * MINUTE, "sixth")
    # over the rate: deferred, not refused, until the first of the hour leaves the window
    assert deferred(sixth) == ("REQUESTED", "rate", "Rate limit: 5/5 tasks this hour", T0 + HOUR)
    assert events_of(gregor, "message.sent") == []  # a deferral sends no refusal reply
    refresh(gregor, T0 + HOUR - 1)
    assert load(gregor, sixth.id).state == "REQUESTED"
    # an hour after the first, the sweep lets it through
    refresh(gregor, T0 + HOUR)
    assert load(gregor, sixth.id).state == "QUEUED"
    assert of(report(gregor, T0 + HOUR), "tex").tasks_last_hour == 5


def test_a_batch_within_the_cooldown_is_deferred_then_let_through_one_per_cooldown(
    gregor: Any, tex: Any
) -> None:
    """Three requests arriving in one import (the normal case): the first runs, the other two wait
    for the cooldown, and the sweep of later commands lets them through one cooldown apart."""
    gregor.pin(tex, "team")
    batch = [request(tex, T0 + n, f"batch {n}") for n in range(3)]
    deliver(tex, gregor, T0 + 1000)
    assert [load(gregor, t).state for t in batch] == ["QUEUED", "REQUESTED", "REQUESTED"]
    assert deferred(load(gregor, batch[1]))[1:] == (
        "cooldown",
        "Cooldown: 0s since the last task, 60s required",
        T0 + 1000 + MINUTE,
    )
    assert of(report(gregor, T0 + 2000), "tex").tasks_last_hour == 1  # deferred: not let through
    refresh(gregor, T0 + 1000 + MINUTE)
    assert [load(gregor, t).state for t in batch] == ["QUEUED", "QUEUED", "REQUESTED"]
    assert deferred(load(gregor, batch[2]))[3] == T0 + 1000 + 2 * MINUTE
    refresh(gregor, T0 + 1000 + 2 * MINUTE)
    assert [load(gregor, t).state for t in batch] == ["QUEUED"] * 3
    assert of(report(gregor, T0 + 3 * MINUTE), "tex").tasks_last_hour == 3


def test_default_cooldown_is_sixty_seconds(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "team")
    assert ask(tex, gregor, T0).state == "QUEUED"
    early = ask(tex, gregor, T0 + 30_000)
    assert deferred(early) == (
        "REQUESTED",
        "cooldown",
        "Cooldown: 30s since the last task, 60s required",
        T0 + MINUTE,
    )
    refresh(gregor, T0 + MINUTE - 1)
    assert load(gregor, early.id).state == "REQUESTED"
    refresh(gregor, T0 + MINUTE)
    assert load(gregor, early.id).state == "QUEUED"


def test_cooldown_from_the_settings(gregor: Any, tex: Any) -> None:
    set_messaging(gregor, compute={"cooldown_between_tasks": 300})
    gregor.pin(tex, "team")
    assert ask(tex, gregor, T0).state == "QUEUED"
    early = ask(tex, gregor, T0 + 299_999)
    assert deferred(early)[1:3] == ("cooldown", "Cooldown: 299s since the last task, 300s required")
    refresh(gregor, T0 + 300_000)
    assert load(gregor, early.id).state == "QUEUED"


def test_owner_is_not_limited_by_rate_or_cooldown(gregor: Any) -> None:
    for n in range(8):
        task = request(gregor, T0 + n, f"mine {n}")
        assert load(gregor, task).state == "QUEUED"


def test_queue_depth(gregor: Any, tex: Any) -> None:
    set_messaging(gregor, compute={"max_queue_depth": 2})
    gregor.pin(tex, "team")
    first = ask(tex, gregor, T0, "one")
    assert ask(tex, gregor, T0 + 2 * MINUTE, "two").state == "QUEUED"
    third = ask(tex, gregor, T0 + 4 * MINUTE, "three")
    assert outcome(third) == ("CANCELLED", "queue_depth", "Queue full: 2/2")
    assert third.decision is not None and third.decision.retry_after is None
    # the owner's own requests are not held back by a full queue
    mine = request(gregor, T0 + 5 * MINUTE, "mine")
    assert load(gregor, mine).state == "QUEUED"
    assert report(gregor, T0 + 5 * MINUTE).queue_depth == 3
    # a claimed task leaves the queue, and finishing the owner's frees a place
    move(gregor, T0 + 6 * MINUTE, first.id, "claim")
    move(gregor, T0 + 6 * MINUTE, mine, "cancel")
    budget = report(gregor, T0 + 7 * MINUTE)
    assert (budget.queue_depth, budget.working) == (1, 1)
    assert ask(tex, gregor, T0 + 8 * MINUTE, "four").state == "QUEUED"


def test_unpinned_requests_have_a_queue_of_their_own(gregor: Any, tex: Any, make_installation: Any) -> None:
    """Requests from keys pinned nowhere count per key and in total, never in ``max_queue_depth``;
    pinning the key later moves its tasks into the queue of pinned senders."""
    set_messaging(
        gregor, compute={"max_queue_depth": 2, "unpinned_queue_per_key": 2, "unpinned_queue_total": 3}
    )
    gregor.pin(tex, "team")
    mallory, eve = make_installation("mallory"), make_installation("eve")
    held = [ask(mallory, gregor, T0 + n * 2 * MINUTE, f"mallory {n}", tokens=100) for n in range(2)]
    assert [t.state for t in held] == ["WAITING", "WAITING"]
    over_key = ask(mallory, gregor, T0 + 4 * MINUTE, "mallory 2", tokens=100)
    assert outcome(over_key) == (
        "CANCELLED",
        "unpinned_queue_per_key",
        f"Queue full for unpinned senders on key {mallory.public_key[:12]}: 2/2",
    )
    assert over_key.decision is not None and over_key.decision.retry_after is None
    assert ask(eve, gregor, T0 + 5 * MINUTE, "eve 0", tokens=100).state == "WAITING"
    over_total = ask(eve, gregor, T0 + 7 * MINUTE, "eve 1", tokens=100)
    assert outcome(over_total) == (
        "CANCELLED",
        "unpinned_queue_total",
        "Queue full for unpinned senders: 3/3",
    )
    assert over_total.decision is not None
    figures = over_total.decision.figures
    assert (figures["unpinned_key_queue"], figures["unpinned_queue"]) == (1, 3)
    # the refused strangers are told when to try again
    replies = {e["data"]["to"]: e["data"]["text"] for e in events_of(gregor, "message.sent")}
    assert replies["mallory"].endswith("You can send it again when the queue has room.")
    assert replies["eve"].endswith("You can send it again when the queue has room.")

    # a pinned teammate still has the whole queue: three unpinned tasks waiting count for nothing
    first = ask(tex, gregor, T0 + 8 * MINUTE, "tex 0")
    assert first.state == "QUEUED"
    assert first.decision is not None and first.decision.figures["queue_depth"] == 0
    assert "unpinned_queue" not in first.decision.figures
    assert ask(tex, gregor, T0 + 10 * MINUTE, "tex 1").state == "QUEUED"
    assert outcome(ask(tex, gregor, T0 + 12 * MINUTE, "tex 2"))[1:] == ("queue_depth", "Queue full: 2/2")
    budget = report(gregor, T0 + 13 * MINUTE)
    assert (budget.queue_depth, budget.unpinned_queue) == (2, 3)
    by_key = [KeyQueue(mallory.public_key, 2), KeyQueue(eve.public_key, 1)]
    assert budget.unpinned_keys == sorted(by_key, key=lambda k: k.key)

    # a full queue of pinned work refuses strangers too; approving keeps a task in the unpinned
    # queue (QUEUED), rejecting one frees a place (``pin`` below runs the CLI on the wall clock,
    # whose timeout sweep would retry a task claimed in 2025: tex's first is cancelled instead)
    assert outcome(ask(eve, gregor, T0 + 13 * MINUTE, "eve 2", tokens=100))[1] == "queue_depth"
    move(gregor, T0 + 14 * MINUTE, first.id, "cancel")
    move(gregor, T0 + 14 * MINUTE, held[0].id, "approve")
    move(gregor, T0 + 14 * MINUTE, held[1].id, "reject")
    assert ask(mallory, gregor, T0 + 15 * MINUTE, "mallory 3", tokens=100).state == "WAITING"
    assert report(gregor, T0 + 15 * MINUTE).unpinned_queue == 3

    # once gregor pins mallory's key, her tasks are counted with the pinned senders'
    gregor.pin(mallory, "trusted")
    budget = report(gregor, T0 + 16 * MINUTE)
    assert (budget.queue_depth, budget.unpinned_queue) == (3, 1)
    assert budget.unpinned_keys == [KeyQueue(eve.public_key, 1)]


# -- the refusal reply -------------------------------------------------------------------------


def test_refused_sender_gets_a_reply_saying_why_and_when(gregor: Any, tex: Any) -> None:
    first = ask(tex, gregor, T0, "big", tokens=9000)
    assert first.state == "WAITING"
    refused = ask(tex, gregor, T0 + 2 * MINUTE, "bigger", tokens=2000)
    effort = ask(tex, gregor, T0 + 4 * MINUTE, "hard", effort=5, tokens=1)
    assert refused.state == effort.state == "CANCELLED"
    replies = events_of(gregor, "message.sent")
    assert [(e["actor"], e["data"]["to"]) for e in replies] == [(AGENT, "tex"), (AGENT, "tex")]

    deliver(gregor, tex, T0 + 5 * MINUTE)
    texts = {m["text"] for m in inbox(tex) if m["from"] == AGENT and m["to"] == "tex"}
    assert texts == {
        f"Task {refused.id} for gregor-claude was refused: Budget exceeded: 11000/10000 tokens today. "
        "You can send it again after 2025-01-16 00:00 (Europe/Ljubljana).",
        f"Task {effort.id} for gregor-claude was refused: Effort 5 exceeds tier limit 3. "
        "You can send it again with a lower --effort.",
    }
    # tex's installation shows the refusal too, once gregor's decision arrived
    tex_view = load(tex, refused.id)
    assert tex_view.state == "REQUESTED"  # gregor's key is not pinned on tex's side: it acts as nobody
    tex.pin(gregor, "team")
    assert load(tex, refused.id).state == "CANCELLED"
    assert load(tex, refused.id).cancellation_reason == "Budget exceeded: 11000/10000 tokens today"


def test_accepted_and_held_requests_send_no_reply(gregor: Any, tex: Any) -> None:
    ask(tex, gregor, T0)
    gregor.pin(tex, "team")
    ask(tex, gregor, T0 + 2 * MINUTE)
    assert events_of(gregor, "message.sent") == []


# -- replay ------------------------------------------------------------------------------------


def _snapshot(inst: Any) -> dict[str, bytes]:
    return {
        str(path.relative_to(inst.views)): path.read_bytes()
        for path in sorted(inst.views.rglob("*"))
        if path.is_file()
    }


def _states(inst: Any) -> dict[str, tuple[str, str | None]]:
    result = inst.cli("tasks", "--all", "--json")
    assert result.code == 0, result
    return {t["id"]: (t["state"], t["decision"]["rule"]) for t in json.loads(result.out)["data"]}


def _decided_history(gregor: Any, tex: Any) -> None:
    ask(tex, gregor, T0, "held", tokens=4000)
    ask(tex, gregor, T0 + 10_000, "cooldown")  # deferred, then held at T0 + 2 min
    ask(tex, gregor, T0 + 2 * MINUTE, "held again", tokens=6000)  # over budget after that
    ask(tex, gregor, T0 + 4 * MINUTE, "over budget", tokens=1)
    ask(tex, gregor, T0 + 5 * MINUTE, "too hard", effort=7)
    own = request(gregor, T0 + 6 * MINUTE, "mine")
    move(gregor, T0 + 7 * MINUTE, own, "claim")
    move(gregor, T0 + 8 * MINUTE, own, "complete", tokens=10)


def test_replaying_the_log_never_decides_again(gregor: Any, tex: Any) -> None:
    # tex's key is known from the start (tier unknown, as for a name pinned nowhere): pinning it
    # later would rightly change the views, which point out senders no pinned key backs
    gregor.pin(tex, "unknown")
    _decided_history(gregor, tex)
    decided = events_of(gregor, "task.decided")
    assert len(decided) == 7  # the deferral is a decision event too
    assert [d["data"]["outcome"] for d in decided].count("deferred") == 1
    states = _states(gregor)
    assert sorted(states.values()) == sorted(
        [
            ("WAITING", "approval"),
            ("WAITING", "approval"),
            ("WAITING", "approval"),
            ("CANCELLED", "tier_daily_tokens"),
            ("CANCELLED", "effort"),
            ("DONE", "auto_accept"),
        ]
    )
    files = _snapshot(gregor)

    # the limits change and tex becomes team: what was decided stays decided
    set_messaging(gregor, compute={"cooldown_between_tasks": 0}, trust_tiers={"unknown": {"max_effort": 0}})
    gregor.pin(tex, "team")
    rebuilt = gregor.cli("rebuild")
    assert rebuilt.code == 0, rebuilt
    assert events_of(gregor, "task.decided") == decided
    assert _states(gregor) == states
    assert _snapshot(gregor) == files
    assert gregor.cli("rebuild", "--check").code == 0


def test_deleted_views_come_back_identical(gregor: Any, tex: Any) -> None:
    _decided_history(gregor, tex)
    live = {name: data for name, data in _snapshot(gregor).items() if not name.startswith("archive/")}
    everything = _snapshot(gregor)
    decided = len(events_of(gregor, "task.decided"))
    shutil.rmtree(gregor.views)
    result = gregor.cli("tasks")
    assert result.code == 0 and result.err == "", result
    assert {n: d for n, d in _snapshot(gregor).items() if not n.startswith("archive/")} == live
    assert len(events_of(gregor, "task.decided")) == decided
    shutil.rmtree(gregor.views)
    assert gregor.cli("rebuild").code == 0
    assert _snapshot(gregor) == everything


def test_deleted_archive_views_come_back_with_any_command(gregor: Any, tex: Any) -> None:
    """Regression: an ordinary command used to rewrite only the live files, leaving the archive
    missing (and ``rebuild --check`` failing) until a ``rebuild``."""
    _decided_history(gregor, tex)  # refused requests are CANCELLED: they live in the archive
    everything = _snapshot(gregor)
    assert any(name.startswith("archive/") for name in everything)
    shutil.rmtree(gregor.views)
    assert gregor.cli("tasks").code == 0
    assert _snapshot(gregor) == everything


# -- the timeout sweep -------------------------------------------------------------------------


def test_stale_working_tasks_are_retried_then_cancelled(gregor: Any) -> None:
    task = request(gregor, T0, "long job")
    started = T0 + MINUTE
    move(gregor, started, task, "claim")
    refresh(gregor, started + 30 * MINUTE - 1)
    assert load(gregor, task).state == "WORKING"

    refresh(gregor, started + 30 * MINUTE)  # any command: its catch-up runs the sweep
    state = load(gregor, task)
    assert (state.state, state.retry_count, state.retry_reason) == ("QUEUED", 1, "timed out after 30 min")
    refresh(gregor, started + 90 * MINUTE)
    assert load(gregor, task).retry_count == 1  # QUEUED is never swept

    second = started + 2 * HOUR
    move(gregor, second, task, "claim")
    with gregor.space(clock=lambda: second + 45 * MINUTE) as space:
        listed = tasks.list_tasks(space)  # e.g. 'tasks'
    assert [(s.id, s.state, s.retry_count) for s in listed.items] == [(task, "QUEUED", 2)]

    third = second + HOUR
    move(gregor, third, task, "claim")
    refresh(gregor, third + 31 * MINUTE)
    state = load(gregor, task)
    assert state.state == "CANCELLED"
    assert state.cancellation_reason == "timed out after 30 min; retried 2 time(s) already"

    retried = events_of(gregor, "task.retried")
    bound = state.request_event  # every move names the request it was made for
    assert [(e["actor"], e["data"]) for e in retried] == [
        (AGENT, {"task": task, "request": bound, "reason": "timed out after 30 min", "timeout": True})
    ] * 2
    cancelled = events_of(gregor, "task.cancelled")
    assert [(e["actor"], e["data"]["reason"]) for e in cancelled] == [
        (AGENT, "timed out after 30 min; retried 2 time(s) already")
    ]
    assert [e["physical_ms"] for e in retried] == [started + 30 * MINUTE, second + 45 * MINUTE]
    refresh(gregor, third + 5 * HOUR)
    assert len(events_of(gregor, "task.cancelled")) == 1
    assert gregor.cli("rebuild", "--check").code == 0


def test_timeout_and_retries_from_the_settings(gregor: Any) -> None:
    set_messaging(gregor, compute={"per_task_timeout_minutes": 5, "max_retries": 0})
    task = request(gregor, T0, "short job")
    move(gregor, T0, task, "claim")
    refresh(gregor, T0 + 5 * MINUTE)
    state = load(gregor, task)
    assert (state.state, state.cancellation_reason) == (
        "CANCELLED",
        "timed out after 5 min; retried 0 time(s) already",
    )


def test_timeout_zero_never_sweeps(gregor: Any) -> None:
    set_messaging(gregor, compute={"per_task_timeout_minutes": 0})
    task = request(gregor, T0, "no limit")
    move(gregor, T0, task, "claim")
    refresh(gregor, T0 + 48 * HOUR)
    assert load(gregor, task).state == "WORKING"


def test_a_timeout_retry_counts_against_max_retries_with_agent_retries(gregor: Any) -> None:
    task = request(gregor, T0, "flaky")
    move(gregor, T0, task, "claim")
    move(gregor, T0 + MINUTE, task, "retry", reason="crashed")
    move(gregor, T0 + 2 * MINUTE, task, "claim")
    move(gregor, T0 + 3 * MINUTE, task, "retry", reason="crashed again")
    move(gregor, T0 + 4 * MINUTE, task, "claim")
    refresh(gregor, T0 + 34 * MINUTE)
    assert load(gregor, task).state == "CANCELLED"


# -- the budget report -------------------------------------------------------------------------


def test_budget_report_per_sender_total_queue_and_reset(
    gregor: Any, tex: Any, make_installation: Any
) -> None:
    mia = make_installation("mia")
    gregor.pin(mia, "team")
    ask(tex, gregor, T0, "tex one", tokens=3000)  # unknown: WAITING
    ask(mia, gregor, T0 + MINUTE, "mia one", tokens=7000)  # team: QUEUED
    working = ask(mia, gregor, T0 + 3 * MINUTE, "mia two", tokens=2000)
    mine = request(gregor, T0 + 4 * MINUTE, "mine", tokens=1000)
    move(gregor, T0 + 5 * MINUTE, working.id, "claim")
    move(gregor, T0 + 6 * MINUTE, mine, "claim")
    move(gregor, T0 + 7 * MINUTE, mine, "complete", tokens=1500)

    budget = report(gregor, T0 + 8 * MINUTE)
    assert budget.agent == AGENT and budget.timezone == "Europe/Ljubljana"
    assert [s.sender for s in budget.senders] == ["gregor", "mia", "tex"]
    rows = {
        s.sender: (
            s.tier,
            s.tokens_today,
            s.outstanding,
            s.completed_today,
            s.tier_limit,
            s.sender_limit,
            s.tasks_last_hour,
        )
        for s in budget.senders
    }
    assert rows == {
        "gregor": ("owner", 1500, 0, 1500, 0, 0, 1),
        "mia": ("team", 9000, 9000, 0, 100000, 100000, 2),
        "tex": ("unknown", 3000, 3000, 0, 10000, 100000, 1),
    }
    assert (budget.total_today, budget.daily_budget) == (13500, 500000)
    # tex (pinned nowhere) is counted apart from the queue of pinned senders
    assert (budget.queue_depth, budget.max_queue_depth, budget.working) == (1, 20, 1)
    assert (budget.unpinned_queue, budget.unpinned_queue_total, budget.unpinned_queue_per_key) == (1, 5, 2)
    assert budget.unpinned_keys == [KeyQueue(tex.public_key, 1)]
    assert budget.tasks_per_hour == 5
    assert budget.now_ms == T0 + 8 * MINUTE
    assert budget.next_reset_ms == ms(15, 23)  # midnight in Ljubljana

    # after the owner's midnight only the outstanding estimates remain
    tomorrow = report(gregor, ms(16, 8))
    assert tomorrow.total_today == 12000
    assert [s.sender for s in tomorrow.senders] == ["mia", "tex"]
    assert tomorrow.next_reset_ms == ms(16, 23)


# -- a peer's fast clock ----------------------------------------------------------------------

#: Regression: the governor used to take "when" from hybrid-logical-clock stamps, and one imported
#: event from a peer whose clock is up to a day ahead (which ingest accepts) pushed every later stamp
#: of the log into the future: cooldowns saw 0 s since the last task, the timeout sweep never fired.


def _message_from_the_future(gregor: Any, tex: Any) -> None:
    """tex's clock runs 23 hours fast when he sends gregor a plain message; gregor imports it at T0."""
    with tex.space(clock=lambda: T0 + 23 * HOUR) as space:
        messages.send(space, "@gregor", "hello")
    deliver(tex, gregor, T0)


def test_a_fast_peer_clock_does_not_freeze_the_cooldown(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "team")
    _message_from_the_future(gregor, tex)
    assert ask(tex, gregor, T0 + MINUTE, "first").state == "QUEUED"
    second = ask(tex, gregor, T0 + 5 * MINUTE, "four minutes later")
    assert second.state == "QUEUED", outcome(second)


def test_a_fast_peer_clock_does_not_stop_the_timeout_sweep(gregor: Any, tex: Any) -> None:
    _message_from_the_future(gregor, tex)
    task = request(gregor, T0 + MINUTE, "mine")
    move(gregor, T0 + MINUTE, task, "claim")
    refresh(gregor, T0 + 3 * HOUR)
    assert load(gregor, task).state == "QUEUED"  # swept: 3 hours after a 30-minute timeout


# -- deferral: what the views and import say ----------------------------------------------------


def test_a_deferred_request_says_in_the_agent_view_until_when_and_why(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "team")
    ask(tex, gregor, T0)
    early = ask(tex, gregor, T0 + 30_000, "second of a batch")
    assert early.state == "REQUESTED"
    view = gregor.read("agents/gregor-claude.org")
    entry = view[view.index(early.id) - 200 :]
    # 10:01 UTC is 11:01 in Ljubljana
    assert ":DEFERRED_UNTIL: [2025-01-15 Wed 11:01]" in entry
    assert ":DEFERRED: Cooldown: 30s since the last task, 60s required" in entry
    shown = task_block(load(gregor, early.id), T0 + 30_000, LJUBLJANA)  # what `task show` prints
    assert "deferred:     until [2025-01-15 Wed 11:01] by rule cooldown: Cooldown: 30s" in shown
    refresh(gregor, T0 + MINUTE)
    assert ":DEFERRED" not in gregor.read("agents/gregor-claude.org")


def test_import_prints_the_governor_decisions_it_caused(gregor: Any, tex: Any, tmp_path: Any) -> None:
    gregor.pin(tex, "team")
    first = tex.cli("send", "@gregor-claude", "first of two")
    second = tex.cli("send", "@gregor-claude", "second of two")
    assert first.code == 0 and second.code == 0, (first, second)
    exported = tex.cli("export", str(tmp_path / "tex.jsonl"))
    assert exported.code == 0, exported
    imported = gregor.cli("import", str(tmp_path / "tex.jsonl"))
    assert imported.code == 0, imported
    lines = imported.out.splitlines()
    decided = [line for line in lines if line.startswith("governor: ")]
    assert len(decided) == 2, imported.out
    assert " accepted by rule auto_accept: Auto-accepted (tier team)" in decided[0]
    assert " deferred until [" in decided[1]
    assert "by rule cooldown: Cooldown: " in decided[1]
    as_json = gregor.cli("import", str(tmp_path / "tex.jsonl"), "--json")
    assert "decisions" not in json.loads(as_json.out)["data"]  # nothing new, nothing decided
