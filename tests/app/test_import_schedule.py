"""When ``import`` catches the views up: after a batch that stored task events (the governor decides
what it brought before the next batch), every ``CATCH_UP_BATCHES`` batches, at the end, and when the
import stops on an interrupt; not after every batch of messages.

The reference is the old schedule, a catch-up after every batch, reproduced by importing the same
file one batch at a time (each ``import_events`` call ends with a catch-up). Both installations
are the same user with the same key and the same fixed clock, so their decisions and views must be
equal to the byte."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datacore_msg.app import exchange, messages, tasks, views
from datacore_msg.readmodels.hookread import freshness

MINUTE = 60_000
T0 = 1_736_935_200_000  # 2025-01-15 10:00 UTC: in the past of any real clock
BATCH = 4
AGENT = "gregor-claude"


def _snapshot(inst: Any) -> dict[str, bytes]:
    return {
        str(path.relative_to(inst.views)): path.read_bytes()
        for path in sorted(inst.views.rglob("*"))
        if path.is_file()
    }


def _tex_file(tex: Any) -> list[bytes]:
    """tex's log: messages to gregor with task requests to gregor's agent among them (more than the
    rate and the cooldown let through at once), and the withdrawal of the first request later on.
    At 4 events a batch, batches of messages alone lie between the batches with task events."""
    at = T0

    def clock() -> int:
        return at

    with tex.space(clock=clock) as space:
        for n in range(5):
            at += 1000
            messages.send(space, "gregor", f"note {n}")
        at += 1000
        first = tasks.request(space, AGENT, "first task").task_id
        for n in range(6):
            at += 1000
            messages.send(space, "gregor", f"between {n}")
        for n in range(7):
            at += 1000
            tasks.request(space, AGENT, f"burst {n}")
        for n in range(5):
            at += 1000
            messages.send(space, "gregor", f"after {n}")
        at += 1000
        tasks.transition(space, first, "cancel", reason="not needed")
        for n in range(6):
            at += 1000
            messages.send(space, "gregor", f"tail {n}")
        return [line.encode("utf-8") for line in exchange.export_lines(space)]


def _import(inst: Any, lines: list[bytes], at: int) -> exchange.ImportResult:
    with inst.space(clock=lambda: at) as space:
        return exchange.import_events(space, lines)


@pytest.fixture
def owners(make_installation: Any, tex: Any) -> tuple[Any, Any, list[bytes]]:
    one = make_installation("gregor", tz="Europe/Ljubljana", label="gregor-at-once")
    other = make_installation("gregor", tz="Europe/Ljubljana", label="gregor-per-batch")
    for inst in (one, other):
        inst.pin(tex, "team")
    return one, other, _tex_file(tex)


def test_decisions_and_views_equal_a_catch_up_after_every_batch(
    owners: tuple[Any, Any, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    at_once, per_batch, lines = owners
    monkeypatch.setattr(exchange, "BATCH_EVENTS", BATCH)
    at = T0 + 10 * MINUTE
    result = _import(at_once, lines, at)
    reference = [_import(per_batch, lines[i : i + BATCH], at) for i in range(0, len(lines), BATCH)]
    decided = [decision for part in reference for decision in part.decisions]
    assert result.accepted == sum(part.accepted for part in reference) == len(lines)
    assert result.decisions == decided
    outcomes = [(d.outcome, d.rule) for d in decided]
    # the first request was decided before its withdrawal arrived; the burst met the cooldown
    assert outcomes[0] == ("accepted", "auto_accept")
    assert ("deferred", "cooldown") in outcomes
    assert _snapshot(at_once) == _snapshot(per_batch)
    with at_once.space() as space:
        assert freshness(space.store.conn).current


@pytest.mark.parametrize("every", [exchange.CATCH_UP_BATCHES, 2])
def test_a_file_of_messages_alone_is_caught_up_at_the_end_and_every_few_batches(
    owners: tuple[Any, Any, list[bytes]],
    make_installation: Any,
    monkeypatch: pytest.MonkeyPatch,
    every: int,
) -> None:
    at_once, per_batch, _ = owners
    monkeypatch.setattr(exchange, "CATCH_UP_BATCHES", every)
    ana = make_installation("ana")
    with ana.space(clock=lambda: T0) as space:
        for n in range(3 * BATCH + 2):
            messages.send(space, "gregor", f"hello {n}")
        only_messages = [line.encode("utf-8") for line in exchange.export_lines(space)]
    monkeypatch.setattr(exchange, "BATCH_EVENTS", BATCH)
    for i in range(0, len(only_messages), BATCH):
        _import(per_batch, only_messages[i : i + BATCH], T0 + MINUTE)
    calls: list[int] = []
    real = views.refresh

    def counted(space: Any, then: Any = None) -> Any:
        calls.append(space.store.max_position())
        return real(space, then)

    monkeypatch.setattr(views, "refresh", counted)
    with at_once.space(clock=lambda: T0 + MINUTE) as space:
        assert freshness(space.store.conn).current  # nothing waits for the governor
        before = space.store.max_position()
        result = exchange.import_events(space, only_messages)
        head = space.store.max_position()
    assert result.accepted == len(only_messages)
    # 3 full batches and a short one: caught up after the second (when every 2), and at the end
    assert calls == ([before + 2 * BATCH] if every == 2 else []) + [head]
    assert _snapshot(at_once) == _snapshot(per_batch)


def test_an_interrupted_import_catches_the_views_up_with_what_it_stored(
    owners: tuple[Any, Any, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    at_once, per_batch, lines = owners
    monkeypatch.setattr(exchange, "BATCH_EVENTS", BATCH)
    cut = 3 * BATCH + 2

    def interrupted() -> Iterator[bytes]:
        yield from lines[:cut]
        raise KeyboardInterrupt

    with at_once.space(clock=lambda: T0 + MINUTE) as space, pytest.raises(KeyboardInterrupt):
        exchange.import_events(space, interrupted())
    with at_once.space() as space:
        fresh = freshness(space.store.conn)
    assert fresh.current
    _import(per_batch, lines[: 3 * BATCH], T0 + MINUTE)  # the batches stored before the interrupt
    assert _snapshot(at_once) == _snapshot(per_batch)
