"""The relay's rate limits as pure functions of the time passed in: a token bucket for the events a
connection sends, and the growing wait after wrong secrets from one address.

Theory of operation
-------------------
:class:`TokenBucket` holds up to ``burst`` tokens and gains ``rate`` tokens a second. Before the
relay ingests a batch of ``n`` events from a connection it asks :meth:`TokenBucket.wait` how long
to wait (0 when the tokens are there) and then :meth:`TokenBucket.take` them: the relay does not
read that connection's next frame meanwhile, so a peer over its rate is slowed down by TCP's own
back-pressure (and the protocol's window), not cut off, and the other connections are not held up.
A batch larger than ``burst`` is allowed once the bucket is full (it then runs into debt), so no
batch waits forever.

:class:`AuthPenalty` remembers, per address, how many admissions failed in a row and when the last
one did. After ``k`` failures an answer is delayed ``base * 2**(k-1)`` seconds (capped), and a new
connection from that address within that delay of the last failure is refused before the
WebSocket handshake (:meth:`AuthPenalty.blocked_for`). A success, or ``forget_after_s`` without a
failure, clears the address. At most ``max_addresses`` are remembered (the oldest go first), so
many addresses cannot grow the table without bound.

Neither reads a clock: every method takes ``now`` (seconds, monotonic) from the caller.
"""

from __future__ import annotations

from collections import OrderedDict

from datacore_msg.records import MutableRecord

#: The origins (installation keys) a relay keeps events of, by default (``relay serve
#: --max-origins``): an event of a new origin beyond it is rejected with its reason, the rest of its
#: batch is stored. About 200 bytes of the relay's memory each, up to 87 bytes of the ``heads`` pages
#: every connection is sent at admission (the relay lets that much more wait for a peer), and a
#: line of every peer's catch-up.
MAX_ORIGINS = 20_000


class TokenBucket(MutableRecord):
    __slots__ = ("burst", "rate", "stamp", "tokens")
    rate: float
    burst: float
    tokens: float
    stamp: float | None

    def __init__(self, rate: float, burst: float, tokens: float = -1.0, stamp: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst if tokens < 0 else tokens
        self.stamp = stamp

    def _refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def wait(self, n: int, now: float) -> float:
        """Seconds to wait from ``now`` before ``n`` tokens may be taken."""
        self._refill(now)
        need = min(float(n), self.burst)
        if self.tokens >= need:
            return 0.0
        return (need - self.tokens) / self.rate

    def take(self, n: int, now: float) -> None:
        """Take ``n`` tokens at ``now`` (the bucket may go into debt for a batch over ``burst``)."""
        self._refill(now)
        self.tokens -= n


class _Record(MutableRecord):
    __slots__ = ("failures", "last")
    failures: int
    last: float

    def __init__(self, failures: int, last: float) -> None:
        self.failures = failures
        self.last = last


class AuthPenalty:
    def __init__(
        self,
        base_s: float = 0.25,
        max_s: float = 5.0,
        forget_after_s: float = 600.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.forget_after_s = forget_after_s
        self.max_addresses = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.base_s * 2 ** min(failures - 1, 62), self.max_s))

    def _current(self, address: str, now: float) -> _Record | None:
        record = self._records.get(address)
        if record is not None and now - record.last > self.forget_after_s:
            del self._records[address]
            return None
        return record

    def failed(self, address: str, now: float) -> float:
        """An admission from ``address`` failed at ``now``: the seconds to delay its answer."""
        record = self._current(address, now)
        failures = 1 if record is None else record.failures + 1
        self._records[address] = _Record(failures, now)
        self._records.move_to_end(address)
        while len(self._records) > self.max_addresses:
            self._records.popitem(last=False)
        return self._delay(failures)

    def succeeded(self, address: str) -> None:
        self._records.pop(address, None)

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds a new connection from ``address`` is still refused at ``now`` (0: allowed)."""
        record = self._current(address, now)
        if record is None:
            return 0.0
        return max(0.0, record.last + self._delay(record.failures) - now)

    def failures(self, address: str) -> int:
        record = self._records.get(address)
        return 0 if record is None else record.failures

    def __len__(self) -> int:
        return len(self._records)
