"""Figure 6: a whole ``datacore-msg send @claude TEXT`` process (request -> decided -> QUEUED) vs
``python -c pass``.

The owner sends a task to the owner's own agent: the process appends the ``task.requested``, catches
the views up, the governor decides the request (tier ``owner``: accepted, so the task ends QUEUED),
the decision is applied and the agent view rewritten. Both commands run as child processes of this
interpreter, alternating, timed from spawn to exit (``subprocess.run``), in the same three
environments as figure 4 (:mod:`bench.fig_process`): bytecode cached in a ``PYTHONPYCACHEPREFIX``
folder with the resident process warm (the goal figure, each timed send checked to have been served
by it), the same cold (``DATACORE_MSG_RESIDENT=off``) and the environment as inherited. The
installation holds a synthetic task log (:func:`bench.workload.populate_tasks`), caught up once
before anything is timed; after every send the owner cancels the new task in this process (not
timed), so every send meets the same queue and the same agent view.

Where a cold process's time goes: the empty interpreter, the imports the command adds
(``-X importtime``, median per module over a few runs), and the command's own work measured in this
process, where every module is already imported (``cli.main.main([...])``, and
``app.tasks.request`` inside it).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import residents
from bench.fig_governor import TaskSetup
from bench.fig_process import VARIANTS_NOTE, importtime, per_command_table, send_command
from bench.profiling import profile_top
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds
from bench.workload import AGENT
from datacore_msg.app.space import open_space
from datacore_msg.app.tasks import request, transition
from datacore_msg.cli.main import main as cli_main
from datacore_msg.task_states import QUEUED

WARMUP = 3


def _spawn(argv: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {err}")
    return seconds, out, err


def _queued_id(stdout: str) -> str:
    """``Task: task-… (QUEUED)`` -> the task id; anything else is a failed figure."""
    line = stdout.strip()
    assert line.startswith("Task: ") and line.endswith(f"({QUEUED})"), line
    return line.split()[1]


def _cancel(setup: TaskSetup, task_id: str) -> None:
    """The owner cancels the task in this process (not timed): the queue stays as it was."""
    with open_space(str(setup.inst.root)) as space:
        transition(space, task_id, "cancel", reason="benchmark")


def _check_once(setup: TaskSetup, send: list[str], env: dict[str, str]) -> str:
    """``send @claude --json`` says QUEUED, and so does ``tasks --json`` afterwards."""
    _, out, _ = _spawn([*send, "send", "@claude", "benchmark check", "--json"], env)
    sent = json.loads(out)["data"]
    assert sent["state"] == QUEUED, sent
    _, out, _ = _spawn([*send, "tasks", "--json"], env)
    listed = {task["id"]: task for task in json.loads(out)["data"]}
    task = listed[sent["id"]]
    assert task["state"] == QUEUED and task["to"] == AGENT, task
    decision = task["decision"]
    assert decision["outcome"] == "accepted" and decision["rule"] == "auto_accept", decision
    _cancel(setup, sent["id"])
    return (
        f"{task['state']} (decision: {decision['outcome']}, rule {decision['rule']}, tier {decision['tier']})"
    )


def _interleaved(
    setup: TaskSetup,
    send: list[str],
    envs: dict[str, dict[str, str]],
    runs: int,
    served: residents.Served,
    own: dict[str, residents.Served],
) -> dict[tuple[str, str], Sample]:
    """Every (command, environment) pair once per round, the order rotating each round (no
    ``python -c pass`` in ``cold``, figure 4's ``cached`` with the resident process off); after the
    first round, wait for the resident process the warm-up sends started, then note what it served
    after every run (``own``: as in figure 4, the environments with a resident process of their own)."""
    variants = [(cmd, env) for env in envs for cmd in ("send", "pass") if (cmd, env) != ("pass", "cold")]
    samples = {variant: Sample() for variant in variants}
    for i in range(WARMUP + runs):
        shift = i % len(variants)
        for cmd, env_name in variants[shift:] + variants[:shift]:
            if cmd == "send":
                argv = [*send, "send", "@claude", f"benchmark task {i}"]
            else:
                argv = [sys.executable, "-c", "pass"]
            seconds, out, _ = _spawn(argv, envs[env_name])
            served.note((cmd, env_name), i >= WARMUP)
            if env_name in own:
                own[env_name].note((cmd, env_name), i >= WARMUP)
            if i >= WARMUP:
                samples[(cmd, env_name)].add(seconds)
            if cmd == "send":
                _cancel(setup, _queued_id(out))
        if i == 0:
            for tracker in (served, *own.values()):
                tracker.target.wait_running()
                tracker.start()
    return samples


#: Run in a fresh interpreter: import what the console script imports, then run the command twice
#: through ``main``; print the three durations and the two task ids as one JSON line.
_CHILD = """
import contextlib, io, json, sys, time
start = time.perf_counter()
from datacore_msg.cli.main import main
imported = time.perf_counter()
times, ids = [], []
for n in (1, 2):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["send", "@claude", f"phase task {n}", "--root", sys.argv[1]])
    times.append(time.perf_counter())
    assert code == 0, code
    ids.append(out.getvalue())
print(json.dumps({"import": imported - start, "first": times[0] - imported,
                  "second": times[1] - times[0], "out": ids}))
"""


@dataclass
class _Phases:
    imports: Sample
    first: Sample
    second: Sample
    request: Sample


def _phases(setup: TaskSetup, env: dict[str, str], runs: int) -> _Phases:
    """In fresh interpreters: the console script's import, a first and a second ``main([...])``
    (the second one is the command's own work, warm). In this process: ``app.tasks.request``."""
    phases = _Phases(Sample(), Sample(), Sample(), Sample())
    for i in range(runs + 1):
        _, out, _ = _spawn([sys.executable, "-c", _CHILD, str(setup.inst.root)], env)
        result = json.loads(out)
        for printed in result["out"]:
            _cancel(setup, _queued_id(printed))
        if i >= 1:
            phases.imports.add(result["import"])
            phases.first.add(result["first"])
            phases.second.add(result["second"])
    for i in range(runs + WARMUP):
        with open_space(str(setup.inst.root)) as space:
            start = time.perf_counter()
            requested = request(space, AGENT, f"in-process request {i}")
            seconds = time.perf_counter() - start
            assert requested.state is not None and requested.state.state == QUEUED
            transition(space, requested.task_id, "cancel", reason="benchmark")
        if i >= WARMUP:
            phases.request.add(seconds)
    return phases


def _cli_in_process(setup: TaskSetup, text: str) -> str:
    """``datacore-msg send @claude TEXT`` through ``main`` in this process; the new task's id."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["send", "@claude", text, "--root", str(setup.inst.root)])
    assert code == 0, code
    return _queued_id(out.getvalue())


def _profile(setup: TaskSetup) -> Table:
    ids: list[str] = []
    table = profile_top(
        lambda: ids.extend(_cli_in_process(setup, f"profiled task {i}") for i in range(10)),
        16,
        "cProfile of 10 in-process `main(['send', '@claude', TEXT])` calls (modules already "
        "imported), top 16 by own time",
    )
    for task_id in ids:
        _cancel(setup, task_id)
    return table


def run(setup: TaskSetup, runs: int, tmp: Path, profile: bool) -> Figure:
    started = time.perf_counter()
    send, described = send_command()
    inherited = setup.inst.env()
    steady = dict(inherited)
    steady.pop("PYTHONDONTWRITEBYTECODE", None)
    steady["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    envs = {"cached": steady, "cold": residents.cold(steady), "inherited": inherited}
    served, own_served = residents.trackers(send, steady, inherited)
    try:
        checked = _check_once(setup, send, steady)
        samples = _interleaved(setup, send, envs, runs, served, {"inherited": own_served})
    finally:
        residents.stop_trackers(served, own_served)
    timed = served.require(("send", "cached"), True, "figure 6, send @claude (goal)")
    own_served.require(("send", "inherited"), True, "figure 6, send @claude (inherited environment)")
    served.require(("send", "cold"), False, "figure 6, send @claude (cold)")
    ours, base = samples[("send", "cached")], samples[("pass", "cached")]
    cold = samples[("send", "cold")]
    by_cum, by_self, import_total, bare_total, (bare_name, bare_cum) = importtime(
        envs["cold"],
        5 if runs >= 20 else 3,
        lambda i: ["-m", "datacore_msg", "send", "@claude", f"import {i}"],
        "python -m datacore_msg send @claude (cold)",
        lambda out: _cancel(setup, _queued_id(out)),
    )
    phase_runs = 10 if runs >= 20 else 5
    phases = _phases(setup, envs["cold"], phase_runs)
    top = _profile(setup) if profile else None

    tasks = setup.stats.tasks
    fig = Figure(
        6,
        "Whole process: `datacore-msg send @claude TEXT` (request → decided → QUEUED) vs `python -c pass`",
        [
            f"Command: `{described} send @claude TEXT` by the owner against an installation whose "
            f"log holds {tasks:,} tasks to `{AGENT}` (built like figure 5's small log, caught "
            f"up once), and `{sys.executable} -c pass`; {runs} runs of each, after {WARMUP} warm-up "
            "runs, interleaved with the same send without the resident process (cold) and the "
            "same pair run in the inherited environment (order rotating). Goal figure: bytecode "
            "cached in a `PYTHONPYCACHEPREFIX` folder, the resident process warm (all "
            f"{timed} timed sends served by it). Every "
            "send printed `Task: … (QUEUED)`; checked once more through `datacore-msg tasks "
            f"--json`: {checked}. After every send the owner cancels the new task in this "
            "process (not timed).",
        ],
    )
    fig.checks.append(
        Check(
            "send @claude process (resident process warm) vs empty interpreter (median time)",
            fmt_seconds(ours.median),
            fmt_seconds(base.median),
            ours.median / base.median,
            "ours / baseline",
            at_most(3),
        )
    )
    table = per_command_table(samples, inherited, "datacore-msg send @claude")
    fig.tables.append(table)
    split = Table(
        ("part", "time (median)", "share of the process"),
        title="Where a cold process's time goes (bytecode cached, without the resident process)",
    )
    first_use = phases.first.median - phases.second.median
    rest = cold.median - base.median - phases.imports.median - phases.first.median
    for part, seconds in (
        ("empty interpreter (`python -c pass`)", base.median),
        (
            "`from datacore_msg.cli.main import main` (what the console script imports)",
            phases.imports.median,
        ),
        (
            "first `main([...])` in the process, minus a second one: imports made on the way, first use",
            first_use,
        ),
        (
            "the command's own work (a second `main([...])` in the same process)",
            phases.second.median,
        ),
        (
            "… of which `app.tasks.request` (append, catch-up, decision, agent view)",
            phases.request.median,
        ),
        ("rest: process total minus the rows above (`… of which` left out)", rest),
    ):
        split.add(part, fmt_seconds(seconds), f"{seconds / cold.median:.0%}")
    fig.tables.append(split)
    fig.notes.append(VARIANTS_NOTE)
    fig.notes.append(
        f"Cold (not a goal): {fmt_seconds(cold.median)}, {cold.median / base.median:.2f}× "
        f"`python -c pass` (p90 {fmt_seconds(cold.p90)}). The split of the process's time is the "
        "cold process's: with the resident process warm, the imports and their first use were "
        "paid once, by it, and a command pays the client's start-up, the fork of the warm "
        "interpreter and the command's own work."
    )
    inherited_ratio = samples[("send", "inherited")].median / samples[("pass", "inherited")].median
    fig.notes.append(f"In the inherited environment the ratio is {inherited_ratio:.2f}× (informational).")
    fig.notes.append(
        f"The imports a bare `python -c pass` makes too take {fmt_seconds(bare_total)} in both "
        f"commands; the costliest is `{bare_name}` ({fmt_seconds(bare_cum)} cumulative). The "
        f"imports the command adds sum to {fmt_seconds(import_total)} under `-X importtime` "
        "(median self time; the tables below), which inflates them a little. The "
        f"import and the two `main([...])` calls were timed in {phase_runs} fresh interpreters "
        "(`python -c` with the cold environment, after one untimed), `app.tasks.request` in "
        f"this process ({phase_runs} runs after {WARMUP} warm-up runs); `main([...])` is what "
        "the console script runs after its import: click parsing, settings and contacts (YAML), "
        "opening the log, the request (append, catch-up, decision, agent view), the output, "
        "closing the log."
    )
    fig.tables.append(by_cum)
    fig.tables.append(by_self)
    if top is not None:
        fig.tables.append(top)
    fig.seconds = time.perf_counter() - started + setup.build_s + setup.catch_up_s
    return fig
