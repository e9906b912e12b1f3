"""The relay failover chooser: which URL next and how long to wait (a table), and trying in order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datacore_msg.errors import AuthRefused, ProtocolError, StorageError, Unreachable
from datacore_msg.transport.backoff import FIRST_S, REPLACED_S, STABLE_S, next_retry
from datacore_msg.transport.failover import (
    CONNECT_CAP_S,
    MIN_ATTEMPT_S,
    Allowance,
    Failover,
    after_failure,
    all_failed,
    allowance,
    start,
    try_in_order,
    try_within,
)

AB = ("ws://a/ws", "ws://b/ws")
ABC = ("ws://a/ws", "ws://b/ws", "ws://c/ws")
NOW = 1000.0

# (why, urls, state (index, failed, rounds), event (live_since, jitter, replaced),
#  expected (index, failed, rounds, delay_s, round_failed))
TABLE: list[tuple[str, tuple[str, ...], tuple[int, int, int], tuple[Any, float, bool], tuple[Any, ...]]] = [
    (
        "one URL: every failure is a full round, backoff as before",
        ("ws://a/ws",),
        (0, 0, 0),
        (None, 0.0, False),
        (0, 0, 1, FIRST_S * 0.5, True),
    ),
    (
        "one URL, third failure: doubled twice",
        ("ws://a/ws",),
        (0, 0, 2),
        (None, 1.0, False),
        (0, 0, 3, FIRST_S * 4, True),
    ),
    ("two URLs, first fails: the second at once", AB, (0, 0, 0), (None, 0.5, False), (1, 1, 0, 0.0, False)),
    (
        "two URLs, both failed: backoff, back to the first",
        AB,
        (1, 1, 0),
        (None, 1.0, False),
        (0, 0, 1, FIRST_S, True),
    ),
    (
        "two URLs, second round fails too: the backoff doubles",
        AB,
        (1, 1, 1),
        (None, 1.0, False),
        (0, 0, 2, FIRST_S * 2, True),
    ),
    (
        "a second round starts at once after the wait",
        AB,
        (0, 0, 1),
        (None, 1.0, False),
        (1, 1, 1, 0.0, False),
    ),
    (
        "three URLs: the third at once after two failures",
        ABC,
        (1, 1, 0),
        (None, 0.0, False),
        (2, 2, 0, 0.0, False),
    ),
    (
        "three URLs, the last fails: wraps to the first with backoff",
        ABC,
        (2, 2, 0),
        (None, 0.0, False),
        (0, 0, 1, FIRST_S * 0.5, True),
    ),
    (
        "started on the last URL: wraps to the first at once",
        ABC,
        (2, 0, 0),
        (None, 0.0, False),
        (0, 1, 0, 0.0, False),
    ),
    (
        "a stable connection lost: the next URL at once, counts reset",
        AB,
        (1, 1, 5),
        (NOW - STABLE_S, 0.0, False),
        (0, 1, 0, 0.0, False),
    ),
    (
        "a stable connection lost with one URL: the first retry is quick",
        ("ws://a/ws",),
        (0, 0, 7),
        (NOW - STABLE_S, 1.0, False),
        (0, 0, 1, FIRST_S, True),
    ),
    (
        "live but briefly: a failed attempt of the round",
        AB,
        (1, 1, 0),
        (NOW - 1.0, 1.0, False),
        (0, 0, 1, FIRST_S, True),
    ),
    (
        "replaced: stays on the URL, waits at least REPLACED_S",
        AB,
        (1, 1, 0),
        (NOW - 1.0, 0.0, True),
        (1, 0, 1, REPLACED_S, False),
    ),
    (
        "replaced with one URL: as before",
        ("ws://a/ws",),
        (0, 0, 0),
        (None, 0.0, True),
        (0, 0, 1, REPLACED_S, False),
    ),
]


@pytest.mark.parametrize(
    ("urls", "state", "event", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_after_failure(
    urls: tuple[str, ...],
    state: tuple[int, int, int],
    event: tuple[Any, float, bool],
    expected: tuple[Any, ...],
) -> None:
    index, failed, rounds = state
    live_since, jitter, replaced = event
    step = after_failure(Failover(urls, index, failed, rounds), NOW, live_since, jitter, replaced)
    got = (step.state.index, step.state.failed, step.state.rounds, step.delay_s, step.round_failed)
    assert got == pytest.approx(expected)
    assert step.state.url == urls[expected[0]]


def test_start_needs_a_url() -> None:
    assert start(AB) == Failover(AB, 0, 0, 0)
    assert start(AB).url == AB[0]
    with pytest.raises(ValueError):
        start(())


@given(
    n=st.integers(min_value=1, max_value=6),
    failures=st.integers(min_value=1, max_value=40),
    jitter=st.floats(min_value=0, max_value=0.999),
)
def test_every_url_is_tried_once_per_round_and_only_a_full_round_waits(
    n: int, failures: int, jitter: float
) -> None:
    urls = tuple(f"ws://r{i}/ws" for i in range(n))
    state = start(urls)
    tried: list[str] = []
    waits = 0
    for count in range(1, failures + 1):
        tried.append(state.url)
        step = after_failure(state, NOW, None, jitter)
        assert step.round_failed == (count % n == 0)
        assert (step.delay_s > 0) == step.round_failed
        if step.round_failed:
            waits += 1
            assert step.delay_s == pytest.approx(next_retry(waits - 1, NOW, None, jitter).delay_s)
            assert sorted(tried[-n:]) == sorted(urls)  # the round tried each URL once
        state = step.state
    assert waits == failures // n
    assert tried == [urls[i % n] for i in range(failures)]


def test_try_in_order_uses_the_first_that_works_and_keeps_the_errors() -> None:
    calls: list[str] = []

    def attempt(url: str) -> int:
        calls.append(url)
        if url != "ws://c/ws":
            raise Unreachable(f"relay {url}: cannot connect")
        return 7

    url, result, failures = try_in_order(ABC, attempt)
    assert (url, result, calls) == ("ws://c/ws", 7, list(ABC))
    assert [str(exc) for exc in failures] == [
        "relay ws://a/ws: cannot connect",
        "relay ws://b/ws: cannot connect",
    ]
    assert try_in_order(ABC, lambda url: url)[0] == "ws://a/ws"


def test_try_in_order_stops_at_a_local_error() -> None:
    calls: list[str] = []

    def attempt(url: str) -> int:
        calls.append(url)
        raise StorageError("disk full")

    with pytest.raises(StorageError):
        try_in_order(AB, attempt)
    assert calls == ["ws://a/ws"]


def test_one_url_failing_raises_its_own_error_unchanged() -> None:
    error = AuthRefused("relay ws://a/ws: wrong secret")

    def attempt(url: str) -> int:
        raise error

    with pytest.raises(AuthRefused) as caught:
        try_in_order(("ws://a/ws",), attempt)
    assert caught.value is error


@pytest.mark.parametrize(
    ("errors", "kind", "reason"),
    [
        ([Unreachable("relay a: x"), Unreachable("relay b: y")], Unreachable, None),
        ([Unreachable("relay a: x"), AuthRefused("relay b: wrong secret")], AuthRefused, None),
        (
            [AuthRefused("relay a: wrong secret"), ProtocolError("relay b: z", "unexpected")],
            AuthRefused,
            None,
        ),
        ([ProtocolError("relay a: z", "unexpected"), Unreachable("relay b: y")], Unreachable, None),
        (
            [ProtocolError("relay a: z", "bad_frame"), ProtocolError("relay b: z", "timeout")],
            ProtocolError,
            "timeout",
        ),
    ],
)
def test_all_failed_names_each_relay_with_the_weightiest_kind(
    errors: list[Any], kind: type[Exception], reason: str | None
) -> None:
    combined = all_failed(errors)
    assert type(combined) is kind
    assert str(combined).startswith("none of the 2 relays could be used: relay a: ")
    assert "; relay b: " in str(combined) and "\n" not in str(combined)
    if reason is not None:
        assert isinstance(combined, ProtocolError) and combined.reason == reason


# (why, deadline_s, now_s, more_after, expected (total_s, connect_s) or None)
ALLOWANCES: list[tuple[str, float, float, bool, tuple[float, float] | None]] = [
    ("first of several, all the time left: connecting is capped", NOW + 30, NOW, True, (30.0, CONNECT_CAP_S)),
    ("the last URL may use all that is left to connect", NOW + 30, NOW, False, (30.0, 30.0)),
    ("less left than the cap: connecting gets what is left", NOW + 2, NOW, True, (2.0, 2.0)),
    ("a black-holed first URL used its cap: the next gets the rest", NOW + 30, NOW + 5, True, (25.0, 5.0)),
    ("a little left, over the minimum", NOW + 0.5, NOW, True, (0.5, 0.5)),
    ("too little left: not tried", NOW + MIN_ATTEMPT_S / 2, NOW, False, None),
    ("the deadline passed: not tried", NOW + 30, NOW + 31, True, None),
]


@pytest.mark.parametrize(
    ("deadline", "now", "more_after", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ALLOWANCES],
)
def test_allowance(
    deadline: float, now: float, more_after: bool, expected: tuple[float, float] | None
) -> None:
    given_ = allowance(deadline, now, more_after)
    if expected is None:
        assert given_ is None
    else:
        assert given_ is not None
        assert (given_.total_s, given_.connect_s) == pytest.approx(expected)


def test_try_within_shares_one_deadline_between_the_urls() -> None:
    """Each URL is given what the ones before it left; one reached after the deadline is not tried."""
    clock = [NOW]
    given_to: list[tuple[str, Allowance]] = []

    def attempt(url: str, given_: Allowance) -> str:
        given_to.append((url, given_))
        clock[0] += given_.connect_s  # a black hole: the whole connect allowance is spent
        raise Unreachable(f"relay {url}: no answer within {given_.connect_s:g} s")

    with pytest.raises(Unreachable) as caught:
        try_within(ABC, NOW + 8, lambda: clock[0], attempt, 8)
    assert given_to == [("ws://a/ws", Allowance(8.0, 5.0)), ("ws://b/ws", Allowance(3.0, 3.0))]
    assert "relay ws://c/ws: not tried, the 8 s of the command had passed" in str(caught.value)
    assert clock[0] == NOW + 8


def test_try_within_returns_the_first_that_works_in_time() -> None:
    clock = [NOW]

    def attempt(url: str, given_: Allowance) -> float:
        if url == "ws://a/ws":
            clock[0] += given_.connect_s
            raise Unreachable(f"relay {url}: no answer")
        return given_.total_s

    url, left, failures = try_within(AB, NOW + 30, lambda: clock[0], attempt, 30)
    assert (url, left) == ("ws://b/ws", 25.0)
    assert [str(exc) for exc in failures] == ["relay ws://a/ws: no answer"]
