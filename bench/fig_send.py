"""Figure 3: the cost of one more ``send`` with a small and with a large log.

Two installations with a synthetic year of history (:mod:`bench.workload`), one with a small and one
with a large number of messages, most of them read and archived. On an open Space whose views are
caught up, ``app.messages.send(space, "@tex", text)`` is timed: the append (its own transaction and
fsync), the views' catch-up (re-fold of the touched message, cache update) and the write of the
changed view file (atomic, fsynced). Sends alternate between the two installations (the order
flips every send) after a few untimed warm-up sends.

A split of the large installation's send into its append and its catch-up + file write (the same
calls ``send`` makes) shows which half grows with the log.
"""

from __future__ import annotations

import random
import time

from bench.profiling import profile_top
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds
from bench.workload import Installation, LogStats, message_text
from datacore_msg.app import messages
from datacore_msg.app.ids import new_message_id
from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.projections.render import INBOX, OUTBOX

WARMUP = 3


def _live(space: Space) -> tuple[int, int, int]:
    cache = space.views().cache
    inbox = len(cache.subjects("inbox", INBOX))
    outbox = len(cache.subjects("outbox", OUTBOX))
    size = (space.paths.views_dir / OUTBOX).stat().st_size
    return inbox, outbox, size


def _split(space: Space, rng: random.Random, count: int) -> tuple[Sample, Sample]:
    """Append and catch-up timed apart, with the calls ``messages.send`` makes."""
    append_s, refresh_s = Sample(), Sample()
    for _ in range(count):
        payload = MessageSent(
            id=new_message_id(space.clock()),
            sender=space.user,
            to="tex",
            text=message_text(rng),
        )
        key = space.signing_key()
        start = time.perf_counter()
        space.store.append(key, space.user, payload, space.clock())
        middle = time.perf_counter()
        refresh(space)
        append_s.add(middle - start)
        refresh_s.add(time.perf_counter() - middle)
    return append_s, refresh_s


def run(
    small: tuple[Installation, LogStats],
    large: tuple[Installation, LogStats],
    sends: int,
    profile: bool,
) -> Figure:
    started = time.perf_counter()
    rng = random.Random(3)
    (small_inst, small_stats), (large_inst, large_stats) = small, large
    small_space, large_space = small_inst.open(), large_inst.open()
    try:
        spaces = {"small": small_space, "large": large_space}
        samples = {name: Sample() for name in spaces}
        for space in spaces.values():
            refresh(space)
            for _ in range(WARMUP):
                messages.send(space, "@tex", message_text(rng))
        live = {name: _live(space) for name, space in spaces.items()}
        for i in range(sends):
            order = ("small", "large") if i % 2 == 0 else ("large", "small")
            for name in order:
                text = message_text(rng)
                start = time.perf_counter()
                messages.send(spaces[name], "@tex", text)
                samples[name].add(time.perf_counter() - start)
        split_n = max(5, sends // 4)
        split = {name: _split(space, rng, split_n) for name, space in spaces.items()}
        top = None
        if profile:
            top = profile_top(
                lambda: [messages.send(large_space, "@tex", message_text(rng)) for _ in range(10)],
                18,
                "cProfile of 10 sends on the large log, top 18 by own time",
            )
    finally:
        small_space.close()
        large_space.close()

    s, big = samples["small"], samples["large"]
    fig = Figure(
        3,
        f"One more send: {small_stats.messages:,} vs {large_stats.messages:,} messages in the log",
        [
            f"`app.messages.send(space, '@tex', text)` on an open Space, {sends} timed sends per "
            f"log (after {WARMUP} warm-up sends), alternating between the two logs. Both logs span "
            f"12 months; ~{large_stats.archived / large_stats.messages:.0%} of messages archived.",
        ],
    )
    fig.checks.append(
        Check(
            f"send at {large_stats.messages:,} vs {small_stats.messages:,} (median time)",
            fmt_seconds(big.median),
            fmt_seconds(s.median),
            big.median / s.median,
            "large / small",
            at_most(2),
        )
    )
    table = Table(
        (
            "log",
            "events",
            "live inbox / outbox entries",
            "outbox.org",
            "median",
            "p90",
            "append (median)",
            "catch-up + write (median)",
        ),
        title="Per log",
    )
    for name, stats in (("small", small_stats), ("large", large_stats)):
        inbox, outbox, size = live[name]
        append_s, refresh_s = split[name]
        table.add(
            f"{stats.messages:,} messages",
            f"{stats.events:,}",
            f"{inbox:,} / {outbox:,}",
            f"{size / 1e3:,.0f} kB",
            fmt_seconds(samples[name].median),
            fmt_seconds(samples[name].p90),
            fmt_seconds(append_s.median),
            fmt_seconds(refresh_s.median),
        )
    fig.tables.append(table)
    fig.notes.append(
        f"The split columns come from {split_n} further sends per log made of the same two calls "
        "`send` makes (`store.append`, then `messages.refresh`), timed apart."
    )
    if top is not None:
        fig.tables.append(top)
    fig.seconds = time.perf_counter() - started
    return fig
