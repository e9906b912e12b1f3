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
holds everything; its output is checked to be empty; the log changes between two of its runs, so it
runs the whole check). ``send``, ``inbox``, ``mark`` and the hook run as by default, handed to the
resident process (:mod:`bench.residents`: started by the warm-up runs, waited for, each timed run
checked to have been served by it), and in the same rounds cold, with ``DATACORE_MSG_RESIDENT=off``
(reported, not a goal); ``--help`` never reaches it (checked).

Goals: ``inbox`` on the small log ≤ 3× and ``--help`` ≤ 2× ``python -c pass``; and each of send,
inbox, mark and the hook on the large log ≤ 1.5× the same command on the small one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench import residents
from bench.fig_process import VARIANTS_NOTE, send_command
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


#: Commands handed to the resident process (warm), each also timed cold. The hook among them: a
#: send and a mark change the log between two of its runs, so its session's stamp never holds and
#: it runs the whole check (:mod:`datacore_msg.hooks.quiet`), which the resident process serves.
SERVED = ("send", "inbox", "mark", "hook")
COLD = "-cold"


def _rounds(
    cli: list[str],
    envs: dict[str, dict[str, str]],
    colds: dict[str, dict[str, str]],
    runs: int,
    served: residents.Served,
) -> dict[tuple[str, str], Sample]:
    """Every variant once per round, the order rotating each round; after the first round, wait for
    the resident process the warm-up runs started, then note what it served after every run."""
    targets = {name: _last_unread(cli, env) for name, env in envs.items()}
    marks = {name: 0 for name in envs}

    def variant(command: str, name: str, i: int) -> float:
        env = colds[name] if command.endswith(COLD) else envs[name]
        command = command.removesuffix(COLD)
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
    variants += [(command, name) for command in SERVED for name in envs]
    variants += [(command + COLD, name) for command in SERVED for name in envs]
    samples = {v: Sample() for v in variants}
    for i in range(WARMUP + runs):
        shift = i % len(variants)
        for command, name in variants[shift:] + variants[:shift]:
            seconds = variant(command, name, i)
            served.note((command, name), i >= WARMUP)
            if i >= WARMUP:
                samples[(command, name)].add(seconds)
        if i == 0:
            served.target.wait_running()
            served.start()
    return samples


def run(
    small: tuple[Installation, LogStats], large: tuple[Installation, LogStats], runs: int, tmp: Path
) -> Figure:
    started = time.perf_counter()
    cli, described = send_command()
    insts = {"small": small, "large": large}
    envs = {name: _env(inst, tmp, name) for name, (inst, _) in insts.items()}
    colds = {name: residents.cold(env) for name, env in envs.items()}
    target = residents.Resident(cli, envs["small"])
    served = residents.Served(target)
    try:
        samples = _rounds(cli, envs, colds, runs, served)
    finally:
        target.stop()
    counts: dict[tuple[str, str], str] = {}
    for command, name in samples:
        if command in SERVED:
            n = served.require((command, name), True, f"figure 11, {command} on the {name} log")
            counts[(command, name)] = f"warm: served all {n}"
        elif command != "pass":
            served.require((command, name), False, f"figure 11, {command} on the {name} log")
            counts[(command, name)] = "off: cold" if command.endswith(COLD) else "not reached"
        else:
            counts[(command, name)] = "-"

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
            f"variant after {WARMUP} warm-up runs, interleaved, the order rotating each round. "
            "`send`, `inbox`, `mark` and the hook as by default: handed to the resident process, "
            "warm (each timed run checked to have been served by it), and, in the same rounds, "
            "cold (`DATACORE_MSG_RESIDENT=off`, not a goal). The hook has nothing new for its "
            "session, but the log changed since its last prompt (a send and a mark in every "
            "round), so its session's stamp never holds and it runs the whole check, which is "
            "what the resident process serves. `--help` answers from its cache before any "
            "hand-over; its runs were checked not to reach the resident process.",
        ],
    )
    for command, label, goal in (("inbox", "inbox", 3.0), ("help", "--help", 2.0)):
        ours = samples[(command, "small")]
        warm = " (resident process warm)" if command in SERVED else ""
        fig.checks.append(
            Check(
                f"`{label}` process{warm} vs empty interpreter ({small_stats.messages:,} messages)",
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
    header = ("command", "log", "resident process (timed runs)", "runs", "median", "p90", "× python -c pass")
    table = Table(header, title="Per command")
    for (command, name), sample in samples.items():
        stats = insts[name][1]
        log = "-" if command in ("pass", "help") else f"{stats.messages:,} messages"
        table.add(
            command.replace(COLD, " (cold)"),
            log,
            counts[(command, name)],
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
    fig.notes.append(VARIANTS_NOTE)
    cold_inbox = samples[("inbox" + COLD, "small")]
    grew = {c: samples[(c + COLD, "large")].median / samples[(c + COLD, "small")].median for c in SERVED}
    growth = ", ".join(f"`{command}` {ratio:.2f}×" for command, ratio in grew.items())
    fig.notes.append(
        f"Cold (not goals): `inbox` on the small log {fmt_seconds(cold_inbox.median)}, "
        f"{cold_inbox.median / base.median:.2f}× `python -c pass`; large / small log: {growth}."
    )
    fig.notes.append(
        "A send adds its entry at the end of outbox.org in place, and a mark rewrites inbox.org "
        "in place from the changed entry on (each file is still read and hashed whole, so part of "
        "their cost follows the size of the live views)."
    )
    fig.seconds = time.perf_counter() - started
    return fig
