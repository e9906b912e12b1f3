"""Hybrid logical clock stamps.

A stamp is one integer: the physical time in milliseconds shifted left by 16 bits, plus a 16-bit
logical counter. Integers sort like (physical, counter) pairs and fit SQLite's INTEGER.

``next_stamp(wall_ms, latest_seen)`` returns a stamp greater than every stamp the writer has seen
(``latest_seen`` is the largest in its log, from any origin) and no earlier than its wall clock. So an
event always sorts after every event its origin knew of when writing it, whatever the clocks say.
The function is pure; callers pass the wall time in.
"""

from __future__ import annotations

COUNTER_BITS = 16
_COUNTER_MASK = (1 << COUNTER_BITS) - 1


def next_stamp(wall_ms: int, latest_seen: int | None) -> int:
    candidate = wall_ms << COUNTER_BITS
    if latest_seen is not None and latest_seen >= candidate:
        return latest_seen + 1
    return candidate


def physical_ms(stamp: int) -> int:
    return stamp >> COUNTER_BITS


def counter(stamp: int) -> int:
    return stamp & _COUNTER_MASK
