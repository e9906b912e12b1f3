"""The relay's rate limits as pure functions of time: the events-per-second token bucket and the
growing wait after wrong secrets from one address, table by table, and a property of the bucket."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datacore_msg.transport.protocol_limits import AuthPenalty, TokenBucket

# (rate, burst, [(now, n, expected wait, take?)]): one bucket, steps in order
BUCKET_TABLE = [
    ("full bucket: no wait", 100.0, 500, [(0.0, 500, 0.0, True)]),
    ("empty after a burst: wait for the tokens", 100.0, 500, [(0.0, 500, 0.0, True), (0.0, 100, 1.0, False)]),
    ("refills with time", 100.0, 500, [(0.0, 500, 0.0, True), (1.0, 100, 0.0, True), (1.0, 50, 0.5, False)]),
    (
        "never above the burst",
        100.0,
        500,
        [(0.0, 10, 0.0, True), (60.0, 500, 0.0, True), (60.0, 1, 0.01, False)],
    ),
    (
        "a batch over the burst waits for a full bucket only",
        10.0,
        100,
        [(0.0, 50, 0.0, True), (0.0, 500, 5.0, False)],
    ),
    (
        "and then runs into debt",
        10.0,
        100,
        [(0.0, 500, 0.0, True), (0.0, 1, 40.1, False), (40.0, 1, 0.1, False), (40.1, 1, 0.0, True)],
    ),
    ("time going backwards gives nothing", 100.0, 100, [(5.0, 100, 0.0, True), (4.0, 10, 0.1, False)]),
]


@pytest.mark.parametrize(
    ("rate", "burst", "steps"), [row[1:] for row in BUCKET_TABLE], ids=[r[0] for r in BUCKET_TABLE]
)
def test_token_bucket(rate: float, burst: int, steps: list[tuple[float, int, float, bool]]) -> None:
    bucket = TokenBucket(rate, burst)
    for now, n, wait, take in steps:
        assert bucket.wait(n, now) == pytest.approx(wait, abs=1e-9)
        if take:
            bucket.take(n, now)


@given(
    st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.integers(1, 300)), min_size=1, max_size=60),
)
def test_what_a_bucket_lets_through_is_bounded_by_burst_plus_rate_times_time(
    steps: list[tuple[float, int]],
) -> None:
    rate, burst = 100.0, 500
    bucket = TokenBucket(rate, burst)
    now, taken = 0.0, 0
    for gap, n in steps:
        now += gap
        wait = bucket.wait(n, now)
        now += wait
        assert bucket.wait(n, now) == pytest.approx(0.0, abs=1e-6)
        bucket.take(n, now)
        taken += n
        assert taken <= burst + rate * now + 1e-6


# [(event, address, now, expected)]: event "fail" → the answer's delay; "blocked" → seconds refused
PENALTY_TABLE = [
    ("first failure waits the base delay", [("fail", "a", 0.0, 0.25)]),
    (
        "doubles per failure, capped",
        [
            ("fail", "a", 0.0, 0.25),
            ("fail", "a", 1.0, 0.5),
            ("fail", "a", 2.0, 1.0),
            ("fail", "a", 3.0, 2.0),
            ("fail", "a", 4.0, 4.0),
            ("fail", "a", 10.0, 5.0),
            ("fail", "a", 20.0, 5.0),
        ],
    ),
    (
        "another address is not affected",
        [
            ("fail", "a", 0.0, 0.25),
            ("fail", "a", 1.0, 0.5),
            ("fail", "b", 1.0, 0.25),
            ("blocked", "b", 1.3, 0.0),
        ],
    ),
    (
        "new connections are refused while the delay runs",
        [
            ("fail", "a", 0.0, 0.25),
            ("fail", "a", 1.0, 0.5),
            ("blocked", "a", 1.1, 0.4),
            ("blocked", "a", 1.5, 0.0),
        ],
    ),
    ("an unknown address is never blocked", [("blocked", "a", 0.0, 0.0)]),
    (
        "forgotten after ten quiet minutes",
        [("fail", "a", 0.0, 0.25), ("fail", "a", 1.0, 0.5), ("fail", "a", 602.0, 0.25)],
    ),
]


@pytest.mark.parametrize("steps", [row[1] for row in PENALTY_TABLE], ids=[row[0] for row in PENALTY_TABLE])
def test_auth_penalty(steps: list[tuple[str, str, float, float]]) -> None:
    penalty = AuthPenalty(base_s=0.25, max_s=5.0, forget_after_s=600.0)
    for event, address, now, expected in steps:
        got = penalty.failed(address, now) if event == "fail" else penalty.blocked_for(address, now)
        assert got == pytest.approx(expected), (event, address, now)


def test_the_penalty_table_is_bounded() -> None:
    penalty = AuthPenalty(max_addresses=100)
    for n in range(1_000):
        penalty.failed(f"10.0.{n // 256}.{n % 256}", float(n))
    assert len(penalty) == 100
    assert penalty.failures("10.0.3.231") == 1  # the newest are kept
    assert penalty.failures("10.0.0.0") == 0


@pytest.mark.parametrize("max_origins", [1, 20_000, 100_001])
def test_a_relays_whole_version_vector_fits_in_what_may_wait_for_a_peer(max_origins: int) -> None:
    """A relay sends all its ``heads`` pages at admission: the most it may hold (``max_origins``
    origins, each at the highest seq) and a full window of batches must fit in what may wait for
    one peer, or a long vector would cut every peer off."""
    from datacore_msg.eventlog.signing import SigningKey
    from datacore_msg.transport import frames
    from datacore_msg.transport.protocol import BATCH_BYTES, WINDOW
    from datacore_msg.transport.relay_server import Limits

    key = SigningKey.generate().public_hex
    origins = [f"{i:064x}" for i in range(max_origins - 1)] + [key]
    size = frames.MAX_VECTOR_ORIGINS
    top = 2**63 - 1
    pages = [
        frames.encode(frames.Heads(dict.fromkeys(origins[i : i + size], top), more=i + size < len(origins)))
        for i in range(0, len(origins), size)
    ]
    limits = Limits(max_origins=max_origins)
    assert sum(len(page.encode()) for page in pages) <= frames.max_heads_bytes(max_origins)
    assert frames.max_heads_bytes(max_origins) + WINDOW * BATCH_BYTES <= limits.waiting_bytes_allowed()
    assert len(pages) + WINDOW < limits.waiting_frames_allowed()
