"""Convergence of agent tasks: two installations (the owner's and a teammate's) exchanging events by
export/import in any order end with identical task states, identical decisions and byte-identical
agent views.

gregor owns the agent ``gregor-claude``; tex is a teammate; each has pinned the other's key. A random
program -- tex's requests to gregor-claude, gregor's own ``@claude`` requests, the owner's approvals,
rejections and cancellations, the agent's claims, completions and retries, tex withdrawing his own
requests, partial exchanges in either direction, racing transitions made on both sides before an
exchange, skewed clocks -- runs; moves that are not allowed at that moment are skipped. After a final
exchange both installations hold the same tasks in the same states, the same ``task.decided`` events,
and render gregor-claude's agent view (through the pure projector, in gregor's time zone) to the same
bytes, equal to the file on gregor's disk. The loser of every race is shown as superseded.

A deterministic test then imports one fixed set of events, origin by origin in every order, into
fresh installations and compares their views and ``tasks --json``.
"""

from __future__ import annotations

import io
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import tzinfo
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from datacore_msg.app import exchange, messages, tasks
from datacore_msg.app.lifecycle import load_task
from datacore_msg.app.space import Space
from datacore_msg.cli.formatting import task_block
from datacore_msg.errors import NotFound, TransitionError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.names import agent_of
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.projections.agent_view import render_task, task_entries
from datacore_msg.projections.drivers.catchup import catch_up
from datacore_msg.projections.render import render_files
from datacore_msg.projections.tasks import TaskState, fold_task

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
CLOCK_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
OWNER, MATE = "gregor", "tex"
AGENT = agent_of(OWNER)
OWNER_TZ = "Europe/Ljubljana"


class SharedClock:
    """One injected wall clock for all installations; each reading moves it on by ``step_ms``."""

    def __init__(self, start_ms: int = CLOCK_START_MS, step_ms: int = MINUTE_MS) -> None:
        self.now = start_ms
        self.step_ms = step_ms

    def __call__(self) -> int:
        self.now += self.step_ms
        return self.now

    def skewed(self, offset_ms: int) -> Callable[[], int]:
        """This clock as seen by a machine whose clock is ``offset_ms`` off."""
        return lambda: self() + offset_ms


def view_files(folder: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith(".") and ".edited-" not in path.name:
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def transfer(src: Space, dst: Space, since: int = 0) -> int:
    """Export ``src``'s events after position ``since`` and import them into ``dst``; a partial
    export may leave gaps, whose lines are rejected (never stored out of order)."""
    data = "".join(exchange.export_lines(src, since)).encode("utf-8")
    result = exchange.import_events(dst, io.BytesIO(data).readlines())
    if since == 0:
        assert result.rejected == [], result.rejected
    for _, reason in result.rejected:
        assert "predecessor" in reason or "earlier event of this origin" in reason, reason
    assert result.views is not None and result.views.kept_aside == []
    return result.accepted


def full_exchange(spaces: list[Space]) -> None:
    """Exchange until nothing new moves: the owner's governor may append decisions (and sweep
    timed-out tasks) on import, which then have to travel back."""
    for _ in range(6):
        moved = sum(transfer(src, dst) for src, dst in itertools.permutations(spaces, 2))
        counts = {space.store.count() for space in spaces}
        if moved == 0 and len(counts) == 1:
            break
    assert len(counts) == 1, counts


# -- the pure projection of one user's agent view from any installation's log ---------------------


def task_states(space: Space, book: TrustBook | None = None) -> dict[str, TaskState]:
    """Every task in ``space``'s log, folded with ``book`` (default: the installation's own)."""
    book = book or space.trust()
    by_subject: dict[str, list[Event]] = defaultdict(list)
    for event in space.store.iter_sorted():
        if event.type.startswith("task.") and event.subject is not None:
            by_subject[event.subject].append(event)
    out = {}
    for subject, events in by_subject.items():
        state = fold_task(events, space.store.decode, book)
        if state is not None:
            out[subject] = state
    return out


def agent_view(space: Space, agent: str, tz: tzinfo) -> dict[str, str]:
    """``agent``'s view files (live and archive), rendered from ``space``'s log alone."""
    entries = task_entries(task_states(space).values(), agent, tz)
    live = f"agents/{agent}.org"
    return {
        name: text
        for name, text in render_files(entries, (live,)).items()
        if name == live or name.startswith(f"archive/agents-{agent}-")
    }


def on_disk_agent_view(folder: Path, agent: str) -> dict[str, str]:
    return {
        name: data.decode("utf-8")
        for name, data in view_files(folder).items()
        if name == f"agents/{agent}.org" or name.startswith(f"archive/agents-{agent}-")
    }


def decided_ids(space: Space) -> set[str]:
    return {event.id for event in space.store.query(type_name="task.decided")}


# -- the random program ------------------------------------------------------------------------

TEXTS = (
    "review the PR",
    "* TODO fake heading :x:\n:END:",
    "summarise\nthe thread",
    "CLOCK: [2026-01-01 Thu 10:00]",
    "ok 😀",
)
TAGS = ((), ("review",), ("a", "b_2"))
EFFORTS = (None, 2, 5, 9)  # 9 is over the team's limit (8) and the trusted tier's (5)
TOKENS = (None, 1_000, 20_000, 60_000)  # 60,000 is over the per-task limit
REASONS = (None, "no", "not now:\n:END:\n* x")

_pick = st.integers(0, 50)
_request = st.tuples(
    st.sampled_from(("tex-request", "owner-request")),
    st.integers(0, len(TEXTS) - 1),
    st.integers(0, len(TAGS) - 1),
    st.integers(0, len(EFFORTS) - 1),
    st.integers(0, len(TOKENS) - 1),
)
_owner = st.tuples(
    st.just("owner"),
    st.sampled_from(("approve", "reject", "cancel", "revise", "archive")),
    _pick,
    st.integers(0, len(REASONS) - 1),
    st.just(0),
)
_agent = st.tuples(
    st.just("agent"), st.sampled_from(("claim", "complete", "retry")), _pick, st.integers(0, 3), st.just(0)
)
_mate = st.tuples(st.just("tex-cancel"), st.just(""), _pick, st.integers(0, len(REASONS) - 1), st.just(0))
_exchange = st.tuples(
    st.just("exchange"),
    st.sampled_from(("tex->gregor", "gregor->tex")),
    st.one_of(st.sampled_from(("full", "since-last")), st.integers(0, 200)),
    st.just(0),
    st.just(0),
)
_advance = st.tuples(st.just("advance"), st.just(""), st.integers(1, 180), st.just(0), st.just(0))
# Both installations catch up, then each moves one of tex's tasks without knowing of the other's move:
# kind, who acts first, minutes between, which way the events travel first (or later, by chance).
_race_step = st.tuples(
    st.just("race"),
    st.sampled_from(("claim", "claim", "reject")),
    st.booleans(),
    st.integers(0, 5),
    st.sampled_from(("tex-first", "gregor-first", "later")),
)
_step = st.one_of(
    _request,
    _request,
    _owner,
    _owner,
    _agent,
    _agent,
    _agent,
    _mate,
    _exchange,
    _exchange,
    _advance,
    _race_step,
)


_example = itertools.count()


@attrs.define
class Race:
    task: str
    tex_event: Event
    owner_event: Event


@attrs.define
class Run:
    spaces: dict[str, Space]
    clock: SharedClock
    tex_tasks: list[str] = attrs.Factory(list)
    all_tasks: list[str] = attrs.Factory(list)
    cursors: dict[str, int] = attrs.Factory(dict)
    races: list[Race] = attrs.Factory(list)

    @property
    def owner(self) -> Space:
        return self.spaces[OWNER]

    @property
    def mate(self) -> Space:
        return self.spaces[MATE]


def _new_event(space: Space, task_id: str, before: set[str]) -> Event:
    """The event this installation just appended for ``task_id``."""
    own = space.signing_key().public_hex
    new = [e for e in space.store.events_for_subject(task_id) if e.id not in before and e.origin == own]
    assert len(new) == 1, new
    return new[0]


def _ids(space: Space, task_id: str) -> set[str]:
    return {event.id for event in space.store.events_for_subject(task_id)}


def _try(space: Space, task_id: str, action: str, **options: Any) -> bool:
    """Make a move; a move that is not allowed at this moment (or on a task this installation does
    not hold yet) is skipped."""
    try:
        tasks.transition(space, task_id, action, **options)
    except (TransitionError, NotFound):
        return False
    return True


def _race(run: Run, kind: str, tex_first: bool, gap_min: int, arrival: str) -> None:
    owner, mate = run.owner, run.mate
    transfer(mate, owner)
    transfer(owner, mate)
    wanted = "QUEUED" if kind == "claim" else "WAITING"
    candidates = [
        task_id
        for task_id in run.tex_tasks
        if (state := load_task(owner, task_id)) is not None and state.state == wanted
    ]
    if not candidates:
        return
    target = candidates[gap_min % len(candidates)]
    mate_state = load_task(mate, target)
    assert mate_state is not None and mate_state.state == wanted  # the same events fold the same
    before = {name: _ids(space, target) for name, space in run.spaces.items()}

    def tex_move() -> None:
        tasks.transition(mate, target, "cancel", reason="changed my mind")

    def owner_move() -> None:
        if kind == "claim":
            tasks.transition(owner, target, "claim")
        else:
            tasks.transition(owner, target, "reject", reason="too big")

    moves = [tex_move, owner_move] if tex_first else [owner_move, tex_move]
    moves[0]()
    run.clock.now += gap_min * MINUTE_MS
    moves[1]()  # unaware of the first: allowed where it is made
    run.races.append(
        Race(target, _new_event(mate, target, before[MATE]), _new_event(owner, target, before[OWNER]))
    )
    if arrival == "tex-first":
        transfer(mate, owner)
        transfer(owner, mate)
    elif arrival == "gregor-first":
        transfer(owner, mate)
        transfer(mate, owner)


#: The states from which each move is allowed (the reducer's RULES), to aim moves at likely tasks.
BEFORE = {
    "approve": {"WAITING"},
    "reject": {"WAITING"},
    "cancel": {"REQUESTED", "WAITING", "QUEUED", "WORKING"},
    "revise": {"DONE"},
    "archive": {"DONE"},
    "claim": {"QUEUED"},
    "complete": {"WORKING"},
    "retry": {"WORKING"},
}


def _aim(space: Space, known: list[str], action: str, pick: int) -> str:
    """A task this installation holds in a state the move starts from, if any; else any task (the
    move will then be refused and skipped)."""
    fitting = [t for t in known if (s := load_task(space, t)) is not None and s.state in BEFORE[action]]
    pool = fitting or known
    return pool[pick % len(pool)]


def run_program(run: Run, program: Iterable[tuple[Any, ...]]) -> None:
    owner, mate = run.owner, run.mate
    for op, a, b, c, d in program:
        if op in ("tex-request", "owner-request"):
            space = mate if op == "tex-request" else owner
            to = AGENT if op == "tex-request" else messages.recipient_of(owner, "@claude")
            requested = tasks.request(space, to, TEXTS[a], tags=TAGS[b], effort=EFFORTS[c], tokens=TOKENS[d])
            run.all_tasks.append(requested.task_id)
            if op == "tex-request":
                run.tex_tasks.append(requested.task_id)
        elif op == "owner" and run.all_tasks:
            target = _aim(owner, run.all_tasks, a, b)
            reason = None if a == "archive" else REASONS[c]
            _try(owner, target, a, reason=reason)
        elif op == "agent" and run.all_tasks:
            target = _aim(owner, run.all_tasks, a, b)
            if a == "complete":
                _try(owner, target, "complete", tokens=500 * (c + 1), result="out/result.md", quality="0.9")
            elif a == "retry":
                _try(owner, target, "retry", reason=REASONS[c % len(REASONS)])
            else:
                _try(owner, target, "claim")
        elif op == "tex-cancel" and run.tex_tasks:
            target = _aim(mate, run.tex_tasks, "cancel", b)
            _try(mate, target, "cancel", reason=REASONS[c])
        elif op == "exchange":
            src, dst = (mate, owner) if a == "tex->gregor" else (owner, mate)
            head = src.store.max_position()
            if b == "full":
                since = 0
            elif b == "since-last":
                since = run.cursors.get(a, 0)
            else:  # from some position: may leave a gap, healed by a later exchange
                since = b % (head + 1)
            transfer(src, dst, since)
            if since <= run.cursors.get(a, 0):
                run.cursors[a] = head
        elif op == "advance":
            run.clock.now += b * MINUTE_MS
        elif op == "race":
            _race(run, a, b, c, d)


# -- checks --------------------------------------------------------------------------------------


def check_converged(run: Run, owner_views: Path, tz: tzinfo) -> None:
    owner, mate = run.owner, run.mate
    owner_states, mate_states = task_states(owner), task_states(mate)
    assert set(owner_states) == set(mate_states) == set(run.all_tasks)
    for task_id, state in owner_states.items():
        assert load_task(owner, task_id) == state
        assert load_task(mate, task_id) == state, task_id  # whole state: decision, history, figures
    assert decided_ids(owner) == decided_ids(mate)
    # every request reached the owner and was decided there, unless tex withdrew it before, or it is
    # deferred (over the rate or within the cooldown: it waits, REQUESTED, for its window)
    for state in owner_states.values():
        if state.decision is None:
            rest = [change for change in state.changes if change.action != "defer"]
            if not rest:
                assert state.state == "REQUESTED" and state.deferral is not None, state
                continue
            assert (rest[0].action, rest[0].before) == ("cancel", "REQUESTED"), state
    owner_view, mate_view = agent_view(owner, AGENT, tz), agent_view(mate, AGENT, tz)
    assert set(owner_view) == set(mate_view)
    for name, text in owner_view.items():
        assert mate_view[name].encode("utf-8") == text.encode("utf-8"), name
    assert on_disk_agent_view(owner_views, AGENT) == owner_view
    check_races(run, tz)


def check_races(run: Run, tz: tzinfo) -> None:
    """The first of two racing moves in ``(hlc, origin, seq)`` order counts; the other is kept as a
    superseded change, on both installations -- unless a later move of the task came in between (the
    agent retried the task that tex's cancel, ordered later, then withdrew)."""
    for race in run.races:
        first, second = sorted((race.tex_event, race.owner_event), key=Event.order_key)
        for space in run.spaces.values():
            state = load_task(space, race.task)
            assert state is not None
            ids = [change.event_id for change in state.changes]
            winner, loser = state.changes[ids.index(first.id)], state.changes[ids.index(second.id)]
            assert winner.superseded is None, winner
            between = state.changes[ids.index(first.id) + 1 : ids.index(second.id)]
            if any(change.superseded is None for change in between):
                continue
            assert loser.superseded is not None, loser
            entry = render_task(state, tz)
            assert f"  - Superseded {loser.action} by {loser.actor} " in entry
            assert f"{loser.action} SUPERSEDED: " in task_block(state, 0, tz)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    program=st.lists(_step, min_size=15, max_size=40),
    skews=st.tuples(st.integers(-120, 120), st.integers(-120, 120)),
    mate_tier=st.sampled_from(("team", "trusted")),
)
# tex cancels while the agent claims one QUEUED task: each order of acting, each arrival order, and
# clocks skewed so that the one acting second is ordered first.
@example(
    program=[("tex-request", 0, 0, 0, 0), ("race", "claim", True, 1, "tex-first")],
    skews=(0, 0),
    mate_tier="team",
)
@example(
    program=[("tex-request", 0, 0, 0, 0), ("race", "claim", True, 1, "gregor-first")],
    skews=(0, 0),
    mate_tier="team",
)
@example(
    program=[("tex-request", 0, 0, 0, 0), ("race", "claim", False, 1, "tex-first")],
    skews=(0, 0),
    mate_tier="team",
)
@example(
    program=[("tex-request", 0, 0, 0, 0), ("race", "claim", False, 1, "gregor-first")],
    skews=(0, 0),
    mate_tier="team",
)
@example(
    program=[
        ("tex-request", 1, 1, 0, 0),
        ("race", "claim", False, 2, "gregor-first"),
        ("agent", "complete", 0, 1, 0),
        ("exchange", "tex->gregor", "full", 0, 0),
    ],
    skews=(0, -90),  # gregor claims first but tex's clock is behind: tex's cancel sorts first
    mate_tier="team",
)
@example(
    program=[
        ("tex-request", 2, 2, 1, 1),
        ("race", "reject", True, 0, "tex-first"),
        ("race", "reject", False, 0, "gregor-first"),
    ],
    skews=(30, 0),
    mate_tier="trusted",
)
def test_owner_and_teammate_converge_on_tasks(
    make_installation: Callable[..., Any],
    program: list[tuple[Any, ...]],
    skews: tuple[int, int],
    mate_tier: str,
) -> None:
    n = next(_example)
    owner_inst = make_installation(OWNER, tz=OWNER_TZ, label=f"t{n}-gregor")
    mate_inst = make_installation(MATE, tz="Asia/Kolkata", label=f"t{n}-tex")
    owner_inst.pin(mate_inst, tier=mate_tier)
    mate_inst.pin(owner_inst, tier="team")
    clock = SharedClock()
    spaces = {
        OWNER: owner_inst.space(clock=clock.skewed(skews[0] * MINUTE_MS)),
        MATE: mate_inst.space(clock=clock.skewed(skews[1] * MINUTE_MS)),
    }
    run = Run(spaces, clock)
    try:
        run_program(run, program)
        full_exchange(list(spaces.values()))
        check_converged(run, owner_inst.views, run.owner.tz)
    finally:
        for space in spaces.values():
            space.close()
    for inst in (owner_inst, mate_inst):
        check = inst.cli("rebuild", "--check")
        assert check.code == 0, (inst.name, check)


# -- one fixed set of events, every arrival order ----------------------------------------------


def _origin_batches(space: Space) -> list[list[bytes]]:
    batches: dict[str, list[bytes]] = {}
    for line in exchange.export_lines(space):
        batches.setdefault(json.loads(line)["origin"], []).append(line.encode("utf-8"))
    return list(batches.values())


def _comparable(listing: str) -> list[dict[str, Any]]:
    """``tasks --json`` without the age, which depends on the moment of the listing."""
    items: list[dict[str, Any]] = json.loads(listing)["data"]
    for item in items:
        item.pop("age_seconds")
    return items


def _busy_task_history(clock: SharedClock, laptop: Space, desktop: Space, mate: Space) -> None:
    """Two installations of gregor (both deciding, both running the agent) and tex: every kind of
    move, and races between all three."""
    ids = []
    for i in range(4):
        text = f"tex task {i}\n:END:"
        ids.append(tasks.request(mate, AGENT, text, tags=("t",), tokens=1_000 * (i + 1)).task_id)
        transfer(mate, laptop)  # the laptop decides each as it arrives
        clock.now += 2 * MINUTE_MS  # past the cooldown between one sender's tasks
    own = tasks.request(laptop, AGENT, "* TODO mine :x:", effort=3).task_id
    big = tasks.request(mate, AGENT, "too big", tokens=60_000).task_id  # refused by the governor
    transfer(mate, laptop)
    # The desktop, not yet synced with the laptop, decides the same requests all at once (refusing
    # some by the cooldown): the laptop's earlier decisions win, the desktop's show as superseded.
    transfer(mate, desktop)
    transfer(laptop, desktop)
    transfer(desktop, laptop)
    transfer(laptop, mate)
    transfer(desktop, mate)
    tasks.transition(laptop, ids[0], "claim")
    tasks.transition(desktop, ids[0], "claim")  # two claims of one task: the first wins
    tasks.transition(mate, ids[1], "cancel", reason="never mind")
    tasks.transition(laptop, ids[1], "claim")  # races tex's cancel
    tasks.transition(desktop, ids[2], "cancel", reason="owner says no\n:END:")
    tasks.transition(laptop, own, "claim")
    tasks.transition(laptop, own, "complete", tokens=1234, result="out/r.md", quality="0.75")
    tasks.transition(laptop, own, "revise", reason="again, with\nfeeling")
    tasks.transition(laptop, own, "claim")
    tasks.transition(laptop, own, "retry", reason="flaky")
    tasks.transition(laptop, own, "claim")
    tasks.transition(laptop, own, "complete", tokens=99)
    tasks.transition(laptop, own, "archive")
    tasks.transition(desktop, ids[3], "claim")
    tasks.transition(desktop, ids[3], "complete", tokens=10)
    full_exchange([laptop, desktop, mate])
    refused = load_task(laptop, big)
    assert refused is not None and refused.decision is not None
    assert (refused.state, refused.decision.rule) == ("CANCELLED", "per_task_tokens")


@attrs.frozen
class Expected:
    """What every installation holding the fixed set of events must show."""

    total: int
    owner_views: dict[str, bytes]
    owner_listing: list[dict[str, Any]]
    mate_views: dict[str, bytes]
    mate_sent: list[dict[str, Any]]
    owner_tz: tzinfo

    @property
    def agent_view(self) -> dict[str, bytes]:
        return {
            name: data
            for name, data in self.owner_views.items()
            if name == f"agents/{AGENT}.org" or name.startswith(f"archive/agents-{AGENT}-")
        }


def _listing(inst: Any, *options: str) -> list[dict[str, Any]]:
    result = inst.cli("tasks", "--all", "--json", *options)
    assert result.code == 0, result
    return _comparable(result.out)


def _replay_as_owner(
    fresh: Any,
    batches: list[list[bytes]],
    order: tuple[int, ...],
    chunk: int,
    clock: SharedClock,
    expected: Expected,
) -> None:
    """A fresh installation of gregor that only replicates: it stores each batch and catches its views
    up, ``chunk`` events at a time. (Its governor must not add decisions of its own while a request's
    decision is still on its way: that would be another set of events.)"""
    with fresh.space(clock=clock) as space:
        for index in order:
            lines = batches[index]
            for start in range(0, len(lines), chunk):
                report = space.store.ingest(exchange.parse_lines(lines[start : start + chunk]), clock())
                assert report.rejected == []
                catch_up(space.views())
        assert space.store.count() == expected.total
    assert _listing(fresh) == expected.owner_listing, order  # a command with the governor running...
    with fresh.space(clock=clock) as space:
        assert space.store.count() == expected.total  # ...finds nothing left to decide or sweep
    assert view_files(fresh.views) == expected.owner_views, order
    assert fresh.cli("rebuild", "--check").code == 0


def _replay_as_mate(
    fresh: Any,
    batches: list[list[bytes]],
    order: tuple[int, ...],
    chunk: int,
    clock: SharedClock,
    expected: Expected,
) -> None:
    """A fresh installation of tex takes the batches through the real import (its governor only looks
    after tex-claude): its own views equal tex's, and gregor-claude's view rendered from its log
    equals gregor's file."""
    with fresh.space(clock=clock) as space:
        for index in order:
            lines = batches[index]
            for start in range(0, len(lines), chunk):
                assert exchange.import_events(space, lines[start : start + chunk]).rejected == []
        assert space.store.count() == expected.total
        rendered = agent_view(space, AGENT, expected.owner_tz)
    assert {name: text.encode("utf-8") for name, text in rendered.items()} == expected.agent_view, order
    assert view_files(fresh.views) == expected.mate_views, order
    assert _listing(fresh, "--sent") == expected.mate_sent, order


def test_the_same_task_events_in_any_arrival_order_give_the_same_views(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    laptop = make_installation(OWNER, tz=OWNER_TZ, label="p-laptop")
    desktop = make_installation(OWNER, tz=OWNER_TZ, label="p-desktop")
    mate = make_installation(MATE, tz="UTC", label="p-tex")
    introduce(laptop, desktop, mate)
    # A clock just ahead of the real one, so that the real-clock CLI at the end finds no WORKING task
    # past its timeout (and imports find no stamp a day ahead).
    clock = SharedClock(start_ms=time.time_ns() // 1_000_000 + MINUTE_MS, step_ms=1_000)
    with laptop.space(clock=clock) as lp, desktop.space(clock=clock) as dp, mate.space(clock=clock) as tp:
        _busy_task_history(clock, lp, dp, tp)
        batches = _origin_batches(lp)
        total, owner_tz = lp.store.count(), lp.tz
    assert len(batches) == 3
    expected = Expected(
        total=total,
        owner_views=view_files(laptop.views),
        owner_listing=_listing(laptop),
        mate_views=view_files(mate.views),
        mate_sent=_listing(mate, "--sent"),
        owner_tz=owner_tz,
    )
    with laptop.space() as lp:
        assert lp.store.count() == total  # listing ran the governor: nothing left to decide or sweep
    assert view_files(desktop.views) == expected.owner_views
    assert len(expected.mate_sent) == 5
    history = [change for item in expected.owner_listing for change in item["history"]]
    superseded = [change for change in history if change["superseded"] is not None]
    assert len(superseded) >= 3  # the second claim, the race with tex's cancel, the second decisions
    keys = [laptop.public_key, desktop.public_key]
    for k, order in enumerate(itertools.permutations(range(len(batches)))):
        chunk = 1 + k % 3
        fresh = make_installation(OWNER, tz=OWNER_TZ, label=f"p-fresh{k}")
        fresh_mate = make_installation(MATE, tz="UTC", label=f"p-fresh-tex{k}")
        for key in keys:
            assert fresh.cli("contacts", "add", OWNER, key, "--tier", "owner").code == 0
            assert fresh_mate.cli("contacts", "add", OWNER, key, "--tier", "team").code == 0
        fresh.pin(mate, tier="team")
        fresh_mate.pin(mate, tier="team")
        _replay_as_owner(fresh, batches, order, chunk, clock, expected)
        _replay_as_mate(fresh_mate, batches, order, chunk, clock, expected)


@pytest.mark.parametrize("first", ["tex", "gregor"])
def test_cancel_and_claim_race_ends_the_same_in_either_arrival_order(
    make_installation: Callable[..., Any], introduce: Callable[..., None], first: str
) -> None:
    """tex withdraws his QUEUED request while the agent claims it, neither knowing of the other. The
    earlier of the two (here the claim) wins on both sides; tex's cancel shows as superseded in the
    LOGBOOK of both and in ``task show``."""
    owner_inst = make_installation(OWNER, tz=OWNER_TZ, label="r-gregor")
    mate_inst = make_installation(MATE, tz="UTC", label="r-tex")
    introduce(owner_inst, mate_inst)
    clock = SharedClock(start_ms=time.time_ns() // 1_000_000, step_ms=1_000)  # the CLI reads the real one
    with owner_inst.space(clock=clock) as owner, mate_inst.space(clock=clock) as mate:
        task_id = tasks.request(mate, AGENT, "racy").task_id
        transfer(mate, owner)
        transfer(owner, mate)
        assert load_task(mate, task_id).state == "QUEUED"  # type: ignore[union-attr]
        tasks.transition(owner, task_id, "claim")
        tasks.transition(mate, task_id, "cancel", reason="too late?")
        pairs = [(mate, owner), (owner, mate)] if first == "tex" else [(owner, mate), (mate, owner)]
        for src, dst in pairs:
            transfer(src, dst)
        for space in (owner, mate):
            state = load_task(space, task_id)
            assert state is not None and state.state == "WORKING"
            assert [c.superseded is not None for c in state.changes] == [False, False, True]
            assert state.changes[-1].actor == MATE and state.changes[-1].action == "cancel"
        tz = owner.tz
        assert agent_view(owner, AGENT, tz) == agent_view(mate, AGENT, tz)
    live = owner_inst.read(f"agents/{AGENT}.org")
    assert f"  - Superseded cancel by {MATE} " in live
    assert f"cancel: only the agent or the owner may cancel task {task_id} in state WORKING" in live
    shown = mate_inst.cli("task", "show", task_id)
    assert shown.code == 0 and "cancel SUPERSEDED: " in shown.out, shown
    shown = owner_inst.cli("task", "show", task_id, "--json")
    history = json.loads(shown.out)["data"]["history"]
    assert [h["superseded"] is not None for h in history] == [False, False, True]
