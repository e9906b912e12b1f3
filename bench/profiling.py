"""cProfile of one call, reduced to a table of the functions with the most own time."""

from __future__ import annotations

import cProfile
import pstats
import re
from collections.abc import Callable

from bench.report import Table
from bench.stats import fmt_seconds

_PREFIX = re.compile(r"^.*/(?:site-packages|src|lib/python3\.\d+)/")


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    return f"{name} ({_PREFIX.sub('', filename)}:{line})" if line else name


def profile_top(func: Callable[[], object], limit: int, title: str = "") -> Table:
    profiler = cProfile.Profile()
    profiler.enable()
    func()
    profiler.disable()
    # pstats keeps (primitive calls, calls, own time, cumulative time, callers) per function.
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    entries = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)
    table = Table(
        ("function", "calls", "own time", "cumulative"),
        title=title or f"cProfile, top {limit} by own time (profiler overhead inflates both)",
    )
    for func_key, (_, calls, own, cumulative, _) in entries[:limit]:
        table.add(_where(func_key), f"{calls:,}", fmt_seconds(own), fmt_seconds(cumulative))
    return table
