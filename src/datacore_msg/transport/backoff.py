"""When a watcher connects again after losing the relay: exponential backoff with jitter.

A pure function of the consecutive failures so far, the time now and when the last connection went
live (time passed in, randomness passed in as ``jitter``). The first retry comes after
:data:`FIRST_S` at most, each further one doubles it up to :data:`CAP_S`; the delay is drawn in the
upper half of that (``delay × (0.5 + 0.5 × jitter)``), so a fleet of watchers that lost the same relay
does not come back in step. A connection that stayed live :data:`STABLE_S` or longer starts the
count again (a relay restart after a day is retried at once, a relay that drops every connection at
once is not hammered). Being replaced by another connection of the same key waits at least
:data:`REPLACED_S`, so a one-shot ``sync`` of the same installation gets to finish.
"""

from __future__ import annotations

import attrs

FIRST_S = 0.5
CAP_S = 30.0
STABLE_S = 30.0
REPLACED_S = 5.0


@attrs.frozen
class Retry:
    #: Consecutive failures, this one included.
    failures: int
    #: Seconds to wait before connecting again.
    delay_s: float


def next_retry(
    failures: int, now_s: float, live_since_s: float | None, jitter: float, replaced: bool = False
) -> Retry:
    """After a connection ended or could not be made: ``failures`` before this one, ``now_s`` and
    ``live_since_s`` (when the connection went live; None: it never did) on one clock, ``jitter``
    in [0, 1)."""
    if live_since_s is not None and now_s - live_since_s >= STABLE_S:
        failures = 0
    failures += 1
    ceiling = min(CAP_S, FIRST_S * 2 ** min(failures - 1, 32))
    delay = ceiling * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))
    if replaced:
        delay = max(delay, REPLACED_S)
    return Retry(failures, delay)
