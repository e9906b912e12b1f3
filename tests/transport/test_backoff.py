"""The watcher's reconnect policy, row by row: exponential from 0.5 s to the 30 s cap, jitter in the
upper half, reset after a stable connection, at least 5 s after being replaced."""

from __future__ import annotations

import pytest

from datacore_msg.transport.backoff import CAP_S, FIRST_S, REPLACED_S, STABLE_S, Retry, next_retry

ROWS = [
    # (failures before, now, live since, jitter, replaced) -> (failures after, delay)
    ("first failure, no jitter", (0, 100.0, None, 0.0, False), (1, FIRST_S / 2)),
    ("first failure, full jitter", (0, 100.0, None, 1.0, False), (1, FIRST_S)),
    ("second failure doubles", (1, 100.0, None, 1.0, False), (2, 2 * FIRST_S)),
    ("third failure doubles again", (2, 100.0, None, 0.5, False), (3, 4 * FIRST_S * 0.75)),
    ("capped", (10, 100.0, None, 1.0, False), (11, CAP_S)),
    ("capped without overflow after very many failures", (5000, 100.0, None, 0.0, False), (5001, CAP_S / 2)),
    (
        "a stable connection starts the count again",
        (10, 100.0, 100.0 - STABLE_S, 0.0, False),
        (1, FIRST_S / 2),
    ),
    ("a short-lived connection does not", (10, 100.0, 100.0 - STABLE_S + 1, 1.0, False), (11, CAP_S)),
    ("replaced: wait at least a few seconds", (0, 100.0, 99.0, 0.0, True), (1, REPLACED_S)),
    ("replaced after many failures: the backoff if longer", (10, 100.0, None, 1.0, True), (11, CAP_S)),
    ("jitter out of range is clamped", (0, 100.0, None, 7.0, False), (1, FIRST_S)),
]


@pytest.mark.parametrize(("case", "given", "expected"), ROWS, ids=[row[0] for row in ROWS])
def test_next_retry(
    case: str, given: tuple[int, float, float | None, float, bool], expected: tuple[int, float]
) -> None:
    failures, now, live_since, jitter, replaced = given
    assert next_retry(failures, now, live_since, jitter, replaced) == Retry(*expected)


def test_delays_grow_and_stay_within_the_cap() -> None:
    failures, delays = 0, []
    for _ in range(20):
        retry = next_retry(failures, 0.0, None, 0.5)
        failures = retry.failures
        delays.append(retry.delay_s)
    assert delays == sorted(delays) and max(delays) <= CAP_S and delays[0] < 1
