"""Figure 11: everyday commands as whole processes, and what they cost as the log grows.

Two installations whose logs hold a small and a large number of messages with **nothing archived**
(:func:`bench.workload.populate` with ``live``): every message stays in the live ``inbox.org`` and
``outbox.org``, all incoming ones read except among the last few, so both have the same unread
messages at the end and differ only in how much history their live views carry (the case of a user
who never archives). Their views are caught up before timing.

As a user runs them, each a child process of this interpreter timed from spawn to exit, all
variants interleaved with the order rotating each round (bytecode cached in a
``PYTHONPYCACHEPREFIX`` folder, as in figure 4): ``python -c pass``; ``datacore-msg --help``; and on
each installation ``send @tex TEXT``, ``inbox``, ``mark ID read|todo`` (one inbound message toggled,
so every run changes its entry) and ``hook prompt`` with nothing new (one session whose cursor
holds everything; its output is checked to be empty).

Goals: ``inbox`` on the small log ≤ 3× and ``--help`` ≤ 2× ``python -c pass``; and each of send,
inbox, mark and the hook on the large log ≤ 1.5× the same command on the small one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.fig_process import send_command
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds
from bench.workload import Installation, LogStats

WARMUP = 3
SESSION = b'{"session_id": "bench-idle", "prompt": "go on"}'
#: Unread messages at the end of both logs (see :func:`bench.workload.populate`).
LIVE_UNREAD = 20


def _env(inst: Installation, tmp: Path, name: str) -> dict[str, str]:
    env = inst.env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["XDG_CACHE_HOME"] = str(tmp / f"cache-{name}")
    env["XDG_STATE_HOME"] = str(tmp / f"state-{name}")
    return env


def _run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[1:4]} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')}")
    return seconds, proc.stdout


def _last_unread(cli: list[str], env: dict[str, str]) -> str:
    _, out = _run([*cli, "inbox", "--json"], env)
    items = json.loads(out)["data"]
    if not items:
        raise RuntimeError("the installation has no unread message to mark")
    return str(items[-1]["id"])


def run(
    small: tuple[Installation, LogStats], large: tuple[Installation, LogStats], runs: int, tmp: Path
) -> Figure:
    started = time.perf_counter()
    cli, described = send_command()
    insts = {"small": small, "large": large}
    envs = {name: _env(inst, tmp, name) for name, (inst, _) in insts.items()}
    targets = {name: _last_unread(cli, env) for name, env in envs.items()}
    marks = {name: 0 for name in insts}

    def variant(command: str, name: str, i: int) -> float:
        env = envs[name]
        if command == "pass":
            return _run([sys.executable, "-c", "pass"], env)[0]
        if command == "help":
            return _run([*cli, "--help"], env)[0]
        if command == "send":
            return _run([*cli, "send", "@tex", f"figure 11 message {i}"], env)[0]
        if command == "inbox":
            return _run([*cli, "inbox"], env)[0]
        if command == "mark":
            marks[name] += 1
            how = "read" if marks[name] % 2 else "todo"
            return _run([*cli, "mark", targets[name], how], env)[0]
        seconds, out = _run([*cli, "hook", "prompt"], env, SESSION)
        if i >= WARMUP and out.strip():
            raise RuntimeError(f"the hook had something new to say on the {name} log: {out[:200]!r}")
        return seconds

    variants = [("pass", "small"), ("help", "small")]
    variants += [(command, name) for command in ("send", "inbox", "mark", "hook") for name in insts]
    samples = {v: Sample() for v in variants}
    for i in range(WARMUP + runs):
        shift = i % len(variants)
        for command, name in variants[shift:] + variants[:shift]:
            seconds = variant(command, name, i)
            if i >= WARMUP:
                samples[(command, name)].add(seconds)

    base = samples[("pass", "small")]
    (_, small_stats), (_, large_stats) = small, large
    fig = Figure(
        11,
        f"Everyday commands as processes; {small_stats.messages:,} vs {large_stats.messages:,} "
        "messages, nothing archived",
        [
            f"`{described}` commands on two installations whose logs hold {small_stats.messages:,} "
            f"and {large_stats.messages:,} messages, nothing archived, all read but among the last "
            f"{LIVE_UNREAD}; `{sys.executable} -c pass` as the baseline. {runs} runs of each "
            f"variant after {WARMUP} warm-up runs, interleaved, the order rotating each round.",
        ],
    )
    for command, label, goal in (("inbox", "inbox", 3.0), ("help", "--help", 2.0)):
        ours = samples[(command, "small")]
        fig.checks.append(
            Check(
                f"`{label}` process vs empty interpreter ({small_stats.messages:,} messages)",
                fmt_seconds(ours.median),
                fmt_seconds(base.median),
                ours.median / base.median,
                "ours / baseline",
                at_most(goal),
            )
        )
    labels = (("send", "send @tex"), ("inbox", "inbox"), ("mark", "mark"), ("hook", "hook prompt"))
    for command, label in labels:
        big, little = samples[(command, "large")], samples[(command, "small")]
        fig.checks.append(
            Check(
                f"`{label}` at {large_stats.messages:,} vs {small_stats.messages:,} messages",
                fmt_seconds(big.median),
                fmt_seconds(little.median),
                big.median / little.median,
                "large / small",
                at_most(1.5),
            )
        )
    table = Table(("command", "log", "runs", "median", "p90", "× python -c pass"), title="Per command")
    for (command, name), sample in samples.items():
        stats = insts[name][1]
        log = "-" if command in ("pass", "help") else f"{stats.messages:,} messages"
        table.add(
            command,
            log,
            str(sample.n),
            fmt_seconds(sample.median),
            fmt_seconds(sample.p90),
            f"{sample.median / base.median:.2f}",
        )
    fig.tables.append(table)
    sizes = Table(("log", "events", "inbox.org", "outbox.org"), title="Live views")
    for inst, stats in insts.values():
        views = inst.views_dir
        sizes.add(
            f"{stats.messages:,} messages",
            f"{stats.events:,}",
            f"{(views / 'inbox.org').stat().st_size / 1e6:.2f} MB",
            f"{(views / 'outbox.org').stat().st_size / 1e6:.2f} MB",
        )
    fig.tables.append(sizes)
    fig.notes.append(
        "A send adds its entry at the end of outbox.org in place, and a mark rewrites inbox.org "
        "in place from the changed entry on (each file is still read and hashed whole, so part of "
        "their cost follows the size of the live views)."
    )
    fig.seconds = time.perf_counter() - started
    return fig
