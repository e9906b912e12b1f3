"""Figure 5: one governor decision with a small and with a large task log.

Two installations of the agent's owner whose logs hold the whole life of a small and of a large
number of tasks sent to the owner's agent (:func:`bench.workload.populate_tasks`: several senders of
every trust tier, requests decided, approved or rejected, claimed, retried, completed, revised,
archived or cancelled; the same pace of 120 requests a day in both, so the large log has the longer
history and the same recent days). Each is caught up once (``refresh``) before anything is timed.

The timed operation is what happens on the owner's installation when a request arrives: a
``task.requested`` event from ``tex`` (tier ``team``, key pinned in contacts.yaml, so the governor runs
all eight checks) is appended to the log, then ``app.views.refresh(space)`` catches the views
up, lets the governor decide the request from the indexed task rows (``usage_for``, ``decide``, the
``task.decided`` append with its in-transaction check), applies the decision and rewrites the agent
view. A narrower and a wider timing of a decision come with it: ``decide_request`` alone on an
undecided request, and a whole ``app.tasks.request`` by the owner. Each query a decision makes is
also timed alone on both logs, to show which ones grow with the log.

The owner's clock is simulated (``open_space(..., clock=...)``): it starts two hours after the last
event and moves on 13 minutes before each request from tex, so tex stays under the default
five requests an hour and past the 60 s cooldown and every request passes every check with the
default policy (each decision's figures are checked to carry the numbers of all eight checks). After
each timed request the owner cancels the task (not timed), so the queue and the live agent view are
the same for every request. Requests alternate between the two installations (the order flips every
round) after a few untimed warm-up rounds.
"""

from __future__ import annotations

import cProfile
import pstats
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.profiling import _where
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds, timed
from bench.workload import (
    AGENT,
    TASKS_PER_DAY,
    Installation,
    TaskLogStats,
    make_installation,
    message_text,
    populate_tasks,
    task_state_counts,
)
from datacore_msg.app.governance import day_bounds, decide_request
from datacore_msg.app.ids import new_task_id
from datacore_msg.app.lifecycle import load_task
from datacore_msg.app.space import Space, open_space
from datacore_msg.app.tasks import request, transition
from datacore_msg.app.views import refresh
from datacore_msg.eventlog.payloads import TaskRequested
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.task_states import QUEUED

WARMUP = 3
SENDER = "tex"
#: Between two requests from the measured sender: five an hour is the default rate limit (four
#: earlier ones stay inside the hour), 60 s the default cooldown.
STEP_MS = 13 * 60_000
#: From the last event in the log to the first measured request.
QUIET_MS = 2 * 3_600_000
#: The figures a decision carries when every one of the eight checks ran.
ALL_CHECKS = frozenset(
    {
        "effort",
        "max_effort",
        "estimate",
        "per_task_max_tokens",
        "sender_tokens_today",
        "tier_daily_tokens",
        "per_sender_daily_max",
        "total_tokens_today",
        "daily_budget_tokens",
        "tasks_last_hour",
        "tasks_per_hour",
        "since_last_task_s",
        "cooldown_s",
        "queue_depth",
        "max_queue_depth",
    }
)


class SimClock:
    """The owner's clock: stands still unless moved on (rate, cooldown and sweeps deterministic)."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass
class TaskSetup:
    """One installation with a synthetic task log, caught up (setup, never timed)."""

    inst: Installation
    stats: TaskLogStats
    keys: dict[str, SigningKey]
    clock: SimClock
    build_s: float
    catch_up_s: float

    def open(self) -> Space:
        return open_space(str(self.inst.root), clock=self.clock)


def build(base: Path, n_tasks: int, end_ms: int, seed: int) -> TaskSetup:
    """An installation whose log holds ``n_tasks`` tasks ending at ``end_ms``, caught up once."""
    start = time.perf_counter()
    base.mkdir(parents=True)
    inst = make_installation(base)
    stats, keys = populate_tasks(inst, n_tasks, end_ms, seed)
    built = time.perf_counter()
    clock = SimClock(end_ms + QUIET_MS)
    setup = TaskSetup(inst, stats, keys, clock, built - start, 0.0)
    with setup.open() as space:
        refresh(space)
    setup.catch_up_s = time.perf_counter() - built
    return setup


@dataclass
class _Samples:
    decision: Sample
    append: Sample
    refresh: Sample
    decide: Sample
    request: Sample
    cancel: Sample


def _new_samples() -> _Samples:
    return _Samples(Sample(), Sample(), Sample(), Sample(), Sample(), Sample())


def _tex_request(space: Space, key: SigningKey, rng: random.Random) -> str:
    """Append a request from tex (as it arrives from tex's installation); return its id."""
    payload = TaskRequested(
        id=new_task_id(space.clock()),
        sender=SENDER,
        to=AGENT,
        text=message_text(rng),
        tags=("review",),
        effort=3,
        tokens=2_000,
    )
    space.store.append(key, SENDER, payload, space.clock())
    return payload.id


def _accepted(space: Space, task_id: str, tier: str) -> None:
    """The task is QUEUED by the governor's auto-accept, after every check ran (not timed)."""
    state = load_task(space, task_id)
    assert state is not None and state.state == QUEUED, state
    assert state.decision is not None and state.decision.rule == "auto_accept", state.decision
    assert state.decision.tier == tier, state.decision
    if tier != "owner":
        missing = ALL_CHECKS - set(state.decision.figures)
        assert not missing, f"checks not evaluated: {sorted(missing)}"


def _cancel(space: Space, task_id: str, samples: _Samples | None) -> None:
    """The owner cancels the task, so queue and agent view stay as they were (not part of the
    goal; timed for information)."""
    start = time.perf_counter()
    transition(space, task_id, "cancel", reason="benchmark")
    if samples is not None:
        samples.cancel.add(time.perf_counter() - start)


def _decision(
    setup: TaskSetup,
    space: Space,
    rng: random.Random,
    samples: _Samples | None,
    profiler: cProfile.Profile | None = None,
) -> None:
    """One request from tex, appended, then ``refresh``: the figure's goal operation."""
    setup.clock.advance(STEP_MS)
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    task_id = _tex_request(space, setup.keys[SENDER], rng)
    middle = time.perf_counter()
    refresh(space)
    end = time.perf_counter()
    if profiler is not None:
        profiler.disable()
    if samples is not None:
        samples.append.add(middle - start)
        samples.refresh.add(end - middle)
        samples.decision.add(end - start)
    _accepted(space, task_id, "team")
    _cancel(space, task_id, samples)


def _decide_only(setup: TaskSetup, space: Space, rng: random.Random, samples: _Samples) -> None:
    """``decide_request`` on an undecided request from tex (append and load not timed)."""
    setup.clock.advance(STEP_MS)
    task_id = _tex_request(space, setup.keys[SENDER], rng)
    state = load_task(space, task_id)
    assert state is not None
    start = time.perf_counter()
    decision = decide_request(space, state)
    samples.decide.add(time.perf_counter() - start)
    assert decision is not None and decision.outcome == "accepted", decision
    refresh(space)
    _accepted(space, task_id, "team")
    _cancel(space, task_id, None)


def _owner_request(setup: TaskSetup, space: Space, rng: random.Random, samples: _Samples) -> None:
    """A whole ``app.tasks.request`` by the owner to the owner's agent."""
    setup.clock.advance(1_000)
    start = time.perf_counter()
    requested = request(space, AGENT, message_text(rng), tokens=2_000)
    samples.request.add(time.perf_counter() - start)
    assert requested.state is not None and requested.state.state == QUEUED, requested.state
    _accepted(space, requested.task_id, "owner")
    _cancel(space, requested.task_id, None)


def _alternating(count: int, names: tuple[str, str], one: Callable[[str], None]) -> None:
    """Call ``one(name)`` for both names ``count`` times, the order flipping every round."""
    for i in range(count):
        for name in names if i % 2 == 0 else names[::-1]:
            one(name)


def _profile_table(profiler: cProfile.Profile, limit: int, title: str) -> Table:
    # pstats keeps (primitive calls, calls, own time, cumulative time, callers) per function.
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    entries = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)
    table = Table(("function", "calls", "own time", "cumulative"), title=title)
    for func_key, (_, calls, own, cumulative, _) in entries[:limit]:
        table.add(_where(func_key), f"{calls:,}", fmt_seconds(own), fmt_seconds(cumulative))
    return table


@dataclass
class _Live:
    states: dict[str, int]
    events: int
    agent_view_kb: float
    db_mb: float


def _live(setup: TaskSetup, space: Space) -> _Live:
    states = task_state_counts(space)
    view = setup.inst.views_dir / "agents" / f"{AGENT}.org"
    return _Live(
        states,
        space.store.count(),
        view.stat().st_size / 1e3,
        space.store.path.stat().st_size / 1e6,
    )


#: The derived-state queries behind one decision: (label, calls per decision).
_QUERIES: tuple[tuple[str, str], ...] = (
    ("`tasks_in_state(agent, 'REQUESTED')` (governor step: undecided requests)", "2"),
    ("`stale_working(agent, now - timeout)` (governor step: timeout sweep)", "1"),
    ("`sender_figures(agent, sender, …)` (`usage_for`: four queries)", "1"),
    ("`agent_figures(agent, …)` (`usage_for`: two queries)", "1"),
    ("`events_for_subject(task)` (`load_task`, the in-transaction check, catch-up)", "4"),
    ("`cache.texts(agent view)` (rendering the agent view)", "1"),
    ("`matching(full task id)` (`resolve` in task commands; not part of a decision)", "none"),
)


def _query_times(space: Space, reps: int) -> list[float]:
    """Median seconds of each of :data:`_QUERIES` on this space, as a decision calls it."""
    cache = space.tasks()
    now = space.clock()
    bounds = day_bounds(now, space.tz)
    default = space.policy().compute.default_task_tokens
    timeout_ms = space.policy().compute.per_task_timeout_minutes * 60_000
    newest = cache.find(agent=AGENT)[-1]
    views = space.views().cache
    calls: list[Callable[[], object]] = [
        lambda: cache.tasks_in_state(AGENT, "REQUESTED"),
        lambda: cache.stale_working(AGENT, now - timeout_ms),
        lambda: cache.sender_figures(AGENT, SENDER, bounds.start_ms, now, default),
        lambda: cache.agent_figures(AGENT, bounds.start_ms, default),
        lambda: space.store.events_for_subject(newest),
        lambda: views.texts(f"agents/{AGENT}.org"),
        lambda: cache.matching(newest, AGENT, space.user, limit=50),
    ]
    out = []
    for call in calls:
        sample = Sample()
        for _ in range(reps):
            sample.add(timed(call))
        out.append(sample.median)
    return out


def run(small: TaskSetup, large: TaskSetup, reps: int, profile: bool, quick: bool) -> Figure:
    started = time.perf_counter()
    rng = random.Random(5)
    setups = {"small": small, "large": large}
    spaces = {name: setup.open() for name, setup in setups.items()}
    samples = {name: _new_samples() for name in setups}
    names = ("small", "large")
    narrow = max(10, reps * 3 // 5)
    try:
        _alternating(WARMUP, names, lambda n: _decision(setups[n], spaces[n], rng, None))
        live = {name: _live(setups[name], spaces[name]) for name in names}
        _alternating(reps, names, lambda n: _decision(setups[n], spaces[n], rng, samples[n]))
        _alternating(narrow, names, lambda n: _decide_only(setups[n], spaces[n], rng, samples[n]))
        _alternating(narrow, names, lambda n: _owner_request(setups[n], spaces[n], rng, samples[n]))
        queries = {name: _query_times(spaces[name], 20) for name in names}
        top = None
        if profile:
            profiler = cProfile.Profile()
            for _ in range(10):
                _decision(large, spaces["large"], rng, None, profiler)
            top = _profile_table(
                profiler,
                18,
                "cProfile of 10 decisions (append + `refresh`) on the large log, top 18 by own time",
            )
    finally:
        for space in spaces.values():
            space.close()

    s, big = samples["small"], samples["large"]
    n_small, n_large = small.stats.tasks, large.stats.tasks
    label = " (quick mode: the large log is smaller than the full run's 100,000)" if quick else ""
    fig = Figure(
        5,
        f"Governor decision: {n_small:,} vs {n_large:,} tasks in the log",
        [
            f"Two logs of {n_small:,} and {n_large:,} tasks{label} sent to `{AGENT}` by the owner "
            f"and five teammates (tiers team, trusted and one unpinned sender), at "
            f"{TASKS_PER_DAY} requests a day over the last {small.stats.days:,.0f} and "
            f"{large.stats.days:,.0f} days, with their whole life cycles (decided, approved or "
            "rejected, claimed, retried, completed, revised, archived or cancelled; refusals with "
            "the agent's reply). Built with `envelope.seal` and batched inserts of the store's "
            f"rows in {small.build_s:.1f} s and {large.build_s:.1f} s, then caught up once with "
            f"`refresh` in {small.catch_up_s:.1f} s and {large.catch_up_s:.1f} s (not timed).",
            f"Decision: a `task.requested` from `{SENDER}` (tier team, key pinned; effort 3, "
            "2,000 tokens) appended to the owner's log, then `app.views.refresh(space)`, "
            "which applies it, lets the governor decide it (every check runs; the task ends "
            "QUEUED) and rewrites the agent view. "
            f"{reps} timed decisions per log after {WARMUP} warm-up rounds, alternating between "
            f"the logs; then {narrow} each of `decide_request` alone (on an undecided request "
            f"from {SENDER}) and of a whole `app.tasks.request` by the owner. The owner's clock "
            f"is simulated: it moves on {STEP_MS // 60_000} minutes before each request from "
            f"{SENDER}, which keeps {SENDER} under the default 5 requests an hour and past the "
            "60 s cooldown; after each timed request the owner cancels the task (not timed), so "
            "every request meets the same queue and the same live agent view.",
        ],
    )
    for name, ours, base in (
        ("decision: append + `refresh`", big.decision, s.decision),
        ("`decide_request` alone", big.decide, s.decide),
        ("whole `app.tasks.request` (owner)", big.request, s.request),
    ):
        fig.checks.append(
            Check(
                f"{name} at {n_large:,} vs {n_small:,} tasks (median time)",
                fmt_seconds(ours.median),
                fmt_seconds(base.median),
                ours.median / base.median,
                "large / small",
                at_most(2),
            )
        )
    contents = Table(
        (
            "log",
            "span",
            "events",
            "SQLite file",
            "tasks DONE (live)",
            "WAITING / QUEUED / WORKING",
            "ARCHIVED / CANCELLED",
            "agent view",
        ),
        title="Per log (at the first timed decision)",
    )
    for name, setup in setups.items():
        st = live[name].states
        contents.add(
            f"{setup.stats.tasks:,} tasks",
            f"{setup.stats.days:,.0f} days",
            f"{live[name].events:,}",
            f"{live[name].db_mb:,.0f} MB",
            f"{st.get('DONE', 0):,}",
            f"{st.get('WAITING', 0)} / {st.get('QUEUED', 0)} / {st.get('WORKING', 0)}",
            f"{st.get('ARCHIVED', 0):,} / {st.get('CANCELLED', 0):,}",
            f"{live[name].agent_view_kb:,.0f} kB",
        )
    fig.tables.append(contents)
    timings = Table(
        (
            "log",
            "decision median",
            "p90",
            "append",
            "`refresh`",
            "`decide_request`",
            "`request` (owner)",
            "owner's cancel (not a goal)",
        ),
        title="Timings per log (medians unless said otherwise)",
    )
    for name, setup in setups.items():
        sm = samples[name]
        timings.add(
            f"{setup.stats.tasks:,} tasks",
            fmt_seconds(sm.decision.median),
            fmt_seconds(sm.decision.p90),
            fmt_seconds(sm.append.median),
            fmt_seconds(sm.refresh.median),
            fmt_seconds(sm.decide.median),
            fmt_seconds(sm.request.median),
            fmt_seconds(sm.cancel.median),
        )
    fig.tables.append(timings)
    per_query = Table(
        (
            "query (`TaskCache` unless said otherwise)",
            "calls per decision",
            "small log",
            "large log",
            "large / small",
        ),
        title="The queries behind a decision, each timed alone (median of 20 calls per log)",
    )
    growing = []
    for (label, calls), small_s, large_s in zip(_QUERIES, queries["small"], queries["large"], strict=True):
        ratio = large_s / small_s
        per_query.add(label, calls, fmt_seconds(small_s), fmt_seconds(large_s), f"{ratio:.1f}×")
        if ratio > 3 and calls != "none":
            growing.append(f"{label.split('`')[1]} ({fmt_seconds(large_s)} × {calls})")
    fig.tables.append(per_query)
    if growing:
        fig.notes.append(
            f"Queries of a decision that grow with the log (more than 3× from the small to the "
            f"large log): {'; '.join(growing)}."
        )
    fig.notes.append(
        "`decide_request` is the governor's own step: `usage_for` (six indexed queries of the "
        "derived task rows), `decide`, and the `task.decided` append, whose in-transaction check "
        "re-folds the task from its events. `refresh` adds the catch-up of the new request and "
        "of the decision and the rewrite of the agent view (atomic, fsynced); the append is the "
        "request's own transaction."
    )
    fig.notes.append(
        "The owner's cancel (`app.tasks.transition(…, 'cancel')`, which resolves the task id, "
        "appends and refreshes) is shown for information; it is the same path as every "
        "`task approve/claim/complete/…` command."
    )
    if top is not None:
        fig.tables.append(top)
    fig.seconds = (
        time.perf_counter() - started + sum(setup.build_s + setup.catch_up_s for setup in setups.values())
    )
    return fig
