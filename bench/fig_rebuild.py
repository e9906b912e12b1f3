"""Figure 2: ``rebuild`` of a year of history vs just reading and decoding the same rows.

The log is a synthetic year (:mod:`bench.workload`). ``rebuild`` (``app.audit.rebuild``: re-fold
every message, replace the view cache, render and write every view and archive file) is timed on an
open Space, with the view files deleted before each repetition so that every repetition writes them
all.
The baseline is the floor any rebuild pays: one ``SELECT`` of every row in ``(hlc, origin, seq)``
order and ``json.loads`` of each row's data. Repetitions alternate baseline and rebuild.

A phase breakdown (one run of each part of ``catchup.rebuild``, by the library's own functions)
shows where the time goes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.profiling import profile_top
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_rate, fmt_seconds, timed
from bench.workload import Installation, LogStats
from datacore_msg.app import audit
from datacore_msg.app.space import Space
from datacore_msg.projections.drivers import catchup
from datacore_msg.projections.drivers.writer import write_views
from datacore_msg.projections.render import render_files
from datacore_msg.readmodels.meta import PROJECTION

BASELINE_SQL = (
    "SELECT position, id, origin, seq, prev, hlc, actor, type, v, data, sig FROM events "
    "ORDER BY hlc, origin, seq"
)


def _read_and_decode(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        count = 0
        for row in conn.execute(BASELINE_SQL):
            json.loads(row[9])
            count += 1
        return count
    finally:
        conn.close()


def _clear_views(views_dir: Path) -> None:
    for name in ("inbox.org", "outbox.org"):
        (views_dir / name).unlink(missing_ok=True)
    for path in (views_dir / "archive").glob("*.org_archive"):
        path.unlink()


MEMORY_GOAL_MIB = 150
_CHILD = """
import sys
from datacore_msg.app import audit
from datacore_msg.app.space import open_space
with open_space(sys.argv[1]) as space:
    if sys.argv[2] == "rebuild":
        audit.rebuild(space)
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def _peak_mib(root: Path, what: str) -> float:
    """Peak resident memory of a fresh interpreter doing ``what`` on the installation: its
    ``VmHWM``, the high-water mark of its own address space. (``ru_maxrss`` is no good here: Linux
    carries it across ``exec``, so a child reports at least its parent's size when it forked.)"""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), what], check=True, capture_output=True, text=True
    )
    return int(out.stdout.split()[-1]) / 1024


def _phases(space: Space, views_dir: Path) -> Table:
    """Time each step of ``catchup.rebuild`` once, with the library's own functions."""
    ctx = space.views()
    table = Table(("phase", "time", "share"), title="Where a rebuild's time goes (one run)")
    out: list[tuple[str, float]] = []
    start = time.perf_counter()
    decode = 0.0
    for _, group in ctx.store.iter_subjects():
        mark = time.perf_counter()
        for event in group:
            ctx.store.decode(event)
        decode += time.perf_counter() - mark
    reading = time.perf_counter() - start - decode
    start = time.perf_counter()
    folded = catchup.fold_log(ctx)
    out.append(("`fold_log`: read + decode + fold + render entries", time.perf_counter() - start))
    head = ctx.store.max_position()
    out.append(
        (
            "`cache.replace_all` (view entries, task rows and search documents, one transaction)",
            timed(
                lambda: ctx.cache.replace_all(
                    PROJECTION, head, folded.entries, folded.task_rows, catchup.derived_meta(ctx), folded.docs
                )
            ),
        )
    )
    files: dict[str, str] = {}
    start = time.perf_counter()
    files = render_files(folded.entries, ctx.live_files)
    out.append(("`render_files` (sort + join)", time.perf_counter() - start))
    _clear_views(views_dir)
    out.append(
        (
            f"`write_views` ({len(files)} files, atomic + fsync)",
            timed(
                lambda: write_views(
                    ctx.views_dir,
                    ctx.cache,
                    # every file with entries is in ``files``: the cache was just replaced
                    lambda name: files[name],
                    files.keys(),
                )
            ),
        )
    )
    total = sum(seconds for _, seconds in out)
    for name, seconds in out:
        table.add(name, fmt_seconds(seconds), f"{seconds / total:.0%}")
    table.add("sum", fmt_seconds(total), "100%")
    table.add(
        "… of which reading rows into `Event`s subject by subject (`iter_subjects`, in `fold_log`)",
        fmt_seconds(reading),
        f"{reading / total:.0%}",
    )
    table.add(
        "… of which decoding payloads (`store.decode`, inside `fold_log`)",
        fmt_seconds(decode),
        f"{decode / total:.0%}",
    )
    return table


def run(inst: Installation, stats: LogStats, setup_seconds: float, reps: int, profile: bool) -> Figure:
    started = time.perf_counter()
    rebuild_s, baseline_s = Sample(), Sample()
    with inst.open() as space:
        db = space.store.path
        rows = space.store.count()
        written = 0
        for _ in range(reps):
            baseline_s.add(timed(lambda: _read_and_decode(db)))
            _clear_views(inst.views_dir)
            start = time.perf_counter()
            result = audit.rebuild(space)
            rebuild_s.add(time.perf_counter() - start)
            assert result.report is not None
            written = len(result.report.written)
        assert not audit.rebuild(space, check_only=True).differing
        phases = _phases(space, inst.views_dir)
        top = None
        if profile:
            _clear_views(inst.views_dir)
            top = profile_top(lambda: audit.rebuild(space), 18)
    _clear_views(inst.views_dir)
    peak = _peak_mib(inst.root, "rebuild")
    idle = _peak_mib(inst.root, "open")
    db_mb = db.stat().st_size / 1e6
    fig = Figure(
        2,
        f"Rebuild of {stats.messages:,} messages",
        [
            f"Log: {stats.messages:,} messages ({stats.incoming:,} to the user from 4 teammates, "
            f"the rest from the user), {rows:,} events in all (sent + read + archive marks), "
            f"spread over 12 months; {stats.archived:,} archived "
            f"({stats.archived / stats.messages:.0%}), {stats.live_inbox:,} live in the inbox "
            f"and {stats.live_outbox:,} in the outbox. SQLite file {db_mb:.0f} MB. Built with "
            f"`envelope.seal` and batched inserts of the store's rows in {setup_seconds:.0f} s "
            "(not timed).",
            f"Ours: `app.audit.rebuild(space)` (writes {written} files). Baseline: one "
            "`SELECT` of all rows `ORDER BY hlc, origin, seq` + `json.loads(data)` per row. "
            f"Median of {reps} alternating repetitions each.",
        ],
    )
    fig.checks.append(
        Check(
            "rebuild vs read + decode (time)",
            fmt_seconds(rebuild_s.median),
            fmt_seconds(baseline_s.median),
            rebuild_s.median / baseline_s.median,
            "ours / baseline",
            at_most(4),
            baseline_spread=baseline_s.p90 / baseline_s.median,
        )
    )
    fig.checks.append(
        Check(
            "rebuild peak memory (VmHWM of a fresh process)",
            f"{peak:.0f} MiB",
            f"{MEMORY_GOAL_MIB} MiB (goal)",
            peak / MEMORY_GOAL_MIB,
            "ours / goal",
            at_most(1),
        )
    )
    fig.notes.append(
        f"Peak memory: `rebuild` in a fresh `{Path(sys.executable).name}` process peaked at "
        f"{peak:.0f} MiB; the same process opening the installation and doing nothing else, "
        f"{idle:.0f} MiB. The log is read one subject at a time (`EventStore.iter_subjects`), "
        "never held whole."
    )
    table = Table(("run", "median", "p90", "min", "max", "events/s (median)"), title="Repetitions")
    for name, sample in (("rebuild", rebuild_s), ("read + decode", baseline_s)):
        table.add(
            name,
            fmt_seconds(sample.median),
            fmt_seconds(sample.p90),
            fmt_seconds(min(sample.times)),
            fmt_seconds(max(sample.times)),
            fmt_rate(rows / sample.median),
        )
    fig.tables.append(table)
    fig.tables.append(phases)
    if top is not None:
        fig.tables.append(top)
    fig.seconds = time.perf_counter() - started + setup_seconds
    return fig
