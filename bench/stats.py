"""Durations of repeated operations, and the few statistics the report prints."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Sample:
    """Durations in seconds of repeated runs of one operation."""

    times: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.times.append(seconds)

    @property
    def n(self) -> int:
        return len(self.times)

    @property
    def total(self) -> float:
        return math.fsum(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p90(self) -> float:
        return percentile(self.times, 90)

    @property
    def throughput(self) -> float:
        """Operations per second over the whole sample (count / summed durations)."""
        return self.n / self.total


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def timed(func: Callable[[], object]) -> float:
    """Seconds one call of ``func`` takes (perf_counter)."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.0f}/s"
