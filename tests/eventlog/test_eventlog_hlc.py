"""Hybrid logical clock stamps: after everything seen, never before the wall clock."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.eventlog.hlc import COUNTER_BITS, counter, next_stamp, physical_ms

FAST = settings(max_examples=300, deadline=None)

walls = st.integers(min_value=0, max_value=2**46)  # milliseconds until the year 4200
stamps = st.integers(min_value=0, max_value=2**62)


@FAST
@given(wall=walls, latest=st.none() | stamps)
def test_next_stamp_is_after_everything_seen(wall: int, latest: int | None) -> None:
    stamp = next_stamp(wall, latest)
    if latest is not None:
        assert stamp > latest


@FAST
@given(wall=walls, latest=st.none() | stamps)
def test_next_stamp_is_never_earlier_than_the_wall_clock(wall: int, latest: int | None) -> None:
    stamp = next_stamp(wall, latest)
    assert physical_ms(stamp) >= wall
    assert stamp >= wall << COUNTER_BITS


@FAST
@given(wall=walls)
def test_with_nothing_seen_the_stamp_is_the_wall_clock_with_counter_zero(wall: int) -> None:
    stamp = next_stamp(wall, None)
    assert physical_ms(stamp) == wall
    assert counter(stamp) == 0


@FAST
@given(wall=walls, latest=stamps)
def test_stamp_is_the_smallest_that_satisfies_both_rules(wall: int, latest: int) -> None:
    """Neither later than needed: the wall time when it is ahead, else the next tick after latest."""
    assert next_stamp(wall, latest) == max(wall << COUNTER_BITS, latest + 1)


@FAST
@given(start=walls, steps=st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=50))
def test_a_writer_feeding_back_its_stamps_gets_strictly_increasing_stamps(
    start: int, steps: list[int]
) -> None:
    """Whatever the wall clock does (backwards, stuck, jumping), a writer's stamps increase."""
    latest: int | None = None
    wall = start
    out = []
    for step in steps:
        wall = max(0, wall + step)
        latest = next_stamp(wall, latest)
        out.append(latest)
    assert all(a < b for a, b in pairwise(out))


@FAST
@given(physical=walls, count=st.integers(0, (1 << COUNTER_BITS) - 1))
def test_physical_and_counter_decompose_a_stamp(physical: int, count: int) -> None:
    stamp = (physical << COUNTER_BITS) | count
    assert (physical_ms(stamp), counter(stamp)) == (physical, count)


@FAST
@given(a=st.tuples(walls, st.integers(0, 0xFFFF)), b=st.tuples(walls, st.integers(0, 0xFFFF)))
def test_stamps_sort_like_physical_then_counter(a: tuple[int, int], b: tuple[int, int]) -> None:
    sa = (a[0] << COUNTER_BITS) | a[1]
    sb = (b[0] << COUNTER_BITS) | b[1]
    assert (sa < sb) == (a < b)


def test_stamps_of_current_times_fit_sqlite_integer() -> None:
    far_future = 4_102_444_800_000  # 2100-01-01
    assert next_stamp(far_future, None) < 2**63
