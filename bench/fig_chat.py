"""Figure 13: the chat window (``datacore-msg chat``) on a large log.

Two installations with the same shape as figure 11's (nothing archived, all read but the last few):
a small and a large number of messages, views caught up before timing. Measured as processes
(:mod:`bench.chat_probe`, the window run headless):

* start to first screen: from the spawn of a process that opens the window as ``datacore-msg chat``
  does to the first frame that shows the newest row of the list (the probe checks the frame's
  terminal output for that row's id and reports the moment on the system-wide monotonic clock),
  against ``datacore-msg inbox`` (spawn to exit) on the same log, runs interleaved; goal ≤ 1 s and
  ≤ 3× ``inbox``. Spawn to the probe's exit (it quits at that frame) is reported beside it;
* a message appended by another process (this one, through the service's ``send``) shown in the
  open window: the delay from the append's stamp to the list showing it, with the window polling
  as it does (``PRAGMA data_version`` every 0.2 s); goal p99 ≤ 1 s;
* memory: the probe's peak resident set (``VmHWM``) at the first screen, large log / small log;
  goal ≤ 2×.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench import residents
from bench.fig_commands import _env, _run
from bench.fig_process import send_command
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds, percentile
from bench.workload import Installation, LogStats

WARMUP = 2
#: Seconds between two appends while the window is open (it polls every 0.2 s).
APPEND_GAP_S = 0.25


def _first_screen(inst: Installation, env: dict[str, str]) -> tuple[float, float, int, int]:
    """Spawn to the first frame showing the newest row, spawn to exit, rows shown, peak RSS (KiB)."""
    spawned = time.monotonic()
    seconds, out = _run([sys.executable, "-m", "bench.chat_probe", "first", "--root", str(inst.root)], env)
    found = json.loads(out.decode().strip().splitlines()[-1])
    if not found["newest_shown"] or found["painted_at"] is None:
        raise RuntimeError(f"the chat probe never drew the newest row: {found}")
    return float(found["painted_at"]) - spawned, seconds, int(found["rows"]), int(found["maxrss_kib"])


def _live(inst: Installation, env: dict[str, str], count: int) -> list[float]:
    from datacore_msg.app import messages

    argv = [sys.executable, "-m", "bench.chat_probe", "live", "--root", str(inst.root), "--count", str(count)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline().decode().strip()
        if line != "ready":
            raise RuntimeError(f"the chat probe did not start: {line!r} {proc.stderr.read()[:2000]!r}")
        with inst.open() as space:
            for i in range(count):
                time.sleep(APPEND_GAP_S)
                messages.send(space, "@tex", f"figure 13 live message {i}")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the chat probe exited {proc.returncode}: {err.decode('utf-8', 'replace')}")
    delays: list[float] = json.loads(out.decode().strip().splitlines()[-1])["delays_s"]
    return delays


def run(
    small: tuple[Installation, LogStats],
    large: tuple[Installation, LogStats],
    runs: int,
    appends: int,
    tmp: Path,
) -> Figure:
    started = time.perf_counter()
    cli, described = send_command()
    insts = {"small": small, "large": large}
    envs = {name: _env(inst, tmp, f"chat-{name}") for name, (inst, _) in insts.items()}
    first = {name: Sample() for name in insts}
    exits = {name: Sample() for name in insts}
    inbox = {name: Sample() for name in insts}
    rss: dict[str, list[int]] = {name: [] for name in insts}
    rows: dict[str, int] = {}
    target = residents.Resident(cli, envs["small"])
    served = residents.Served(target)
    try:
        for i in range(WARMUP + runs):
            for name, (inst, _) in insts.items():
                seconds, exit_s, shown, peak = _first_screen(inst, envs[name])
                served.note(("chat", name), i >= WARMUP)
                inbox_s = _run([*cli, "inbox"], envs[name])[0]
                served.note(("inbox", name), i >= WARMUP)
                if i >= WARMUP:
                    first[name].add(seconds)
                    exits[name].add(exit_s)
                    inbox[name].add(inbox_s)
                    rss[name].append(peak)
                    rows[name] = shown
            if i == 0:
                target.wait_running()
                served.start()
    finally:
        target.stop()
    for name in insts:
        served.require(("inbox", name), True, f"figure 13, inbox on the {name} log (baseline)")
        served.require(("chat", name), False, f"figure 13, the chat window on the {name} log")
    delays = _live(large[0], envs["large"], appends)

    (_, small_stats), (_, large_stats) = small, large
    big = first["large"]
    fig = Figure(
        13,
        f"The chat window on {large_stats.messages:,} messages",
        [
            f"The window run headless as a process (`python -m bench.chat_probe`) on two installations "
            f"of {small_stats.messages:,} and {large_stats.messages:,} messages, nothing archived; "
            f"`{described} inbox` on the same logs as the baseline. {runs} runs of each after "
            f"{WARMUP} warm-up runs, interleaved. Then {appends} messages appended by this process "
            f"{APPEND_GAP_S} s apart while the window is open on the large log.",
        ],
    )
    fig.checks.append(
        Check(
            f"start to first screen, {large_stats.messages:,} messages",
            fmt_seconds(big.median),
            "1 s",
            big.median / 1.0,
            "ours / goal",
            at_most(1.0),
        )
    )
    fig.checks.append(
        Check(
            f"start to first screen vs `inbox` ({large_stats.messages:,} messages)",
            fmt_seconds(big.median),
            fmt_seconds(inbox["large"].median),
            big.median / inbox["large"].median,
            "ours / baseline",
            at_most(3.0),
        )
    )
    p99 = percentile(delays, 99) if delays else float("inf")
    fig.checks.append(
        Check(
            "append by another process to the open window, p99",
            fmt_seconds(p99),
            "1 s",
            p99 / 1.0,
            "ours / goal",
            at_most(1.0),
        )
    )
    mem_large, mem_small = max(rss["large"]), max(rss["small"])
    fig.checks.append(
        Check(
            f"peak memory at the first screen, {large_stats.messages:,} vs {small_stats.messages:,} messages",
            f"{mem_large / 1024:.1f} MiB",
            f"{mem_small / 1024:.1f} MiB",
            mem_large / mem_small,
            "large / small",
            at_most(2.0),
        )
    )
    table = Table(
        ("log", "runs", "first screen median", "p90", "exit median", "inbox median", "rows shown", "peak RSS")
    )
    for name, (_, stats) in insts.items():
        table.add(
            f"{stats.messages:,} messages",
            str(first[name].n),
            fmt_seconds(first[name].median),
            fmt_seconds(first[name].p90),
            fmt_seconds(exits[name].median),
            fmt_seconds(inbox[name].median),
            str(rows[name]),
            f"{max(rss[name]) / 1024:.1f} MiB",
        )
    fig.tables.append(table)
    live = Table(("appends", "median", "p90", "p99", "max"), title="Append to screen")
    if delays:
        live.add(
            str(len(delays)),
            fmt_seconds(percentile(delays, 50)),
            fmt_seconds(percentile(delays, 90)),
            fmt_seconds(p99),
            fmt_seconds(max(delays)),
        )
    fig.tables.append(live)
    fig.notes.append(
        "The first screen is one page of the list (the newest rows of each view file, read along its "
        "primary key), so it folds a page of messages whatever the log holds; the interpreter and "
        "Textual's import are most of its time. First screen: spawn to the first frame showing the "
        "newest row; exit: spawn to the probe's exit, which quits at that frame."
    )
    fig.notes.append(
        "The baseline `inbox` runs as by default: handed to the resident process, warm (started by "
        "the first warm-up round, waited for, and every timed run checked to have been served by "
        "it); the window is a process of its own that never reaches the resident process."
    )
    fig.seconds = time.perf_counter() - started
    return fig
