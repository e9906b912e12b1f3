"""Figure 4: a whole ``datacore-msg send @tex TEXT`` process vs ``python -c pass``.

Both commands run as child processes of this interpreter, alternating, and are timed from spawn to
exit (``subprocess.run``). ``datacore-msg`` is the console script next to ``sys.executable`` when it
is there (else ``python -m datacore_msg``); the installation has a synthetic log of its own.

The goal figure is the steady state of an ordinary install: bytecode caches present. The
environment here sets ``PYTHONDONTWRITEBYTECODE=1`` (and an editable install's ``src/`` may hold
stale ``.pyc``), so the children get ``PYTHONPYCACHEPREFIX`` pointing into the benchmark's temporary
folder instead, and warm-up runs fill it; nothing is written under ``src/``. The same pair is also
timed with the environment exactly as inherited, for information.

The goal's send runs as by default: handed to the resident process (``datacore-msg resident``),
warm. Its socket is in a runtime folder of the benchmark's own (:mod:`bench.residents`); the first
warm-up round starts it, the rounds wait until ``resident status --json`` says running, and every
timed send is checked to have been served by it. In the same rounds the send runs cold too, with
``DATACORE_MSG_RESIDENT=off`` (its own interpreter: what the first command of a session pays),
reported beside the goal, not as one.

``python -X importtime -m datacore_msg send …`` (median per module over a few runs; cold, since with
the resident process the client would import almost nothing) lists the imports that cost most, to
guide work on start-up time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench import residents
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds
from bench.workload import Installation, LogStats

WARMUP = 3
#: Imports a bare interpreter makes whose cost is worth naming (site runs the ``.pth`` files).
_TOP_LEVEL_BARE = frozenset({"site", "encodings", "certifi", "_distutils_hack"})


def send_command() -> tuple[list[str], str]:
    script = Path(sys.executable).parent / "datacore-msg"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], f"{script} (console script)"
    return [sys.executable, "-m", "datacore_msg"], f"{sys.executable} -m datacore_msg"


def _run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')}")
    return seconds


#: The least a send process can do (:mod:`bench.send_floor`), run as a script.
FLOOR_SCRIPT = Path(__file__).with_name("send_floor.py")


def _interleaved(
    send: list[str],
    envs: dict[str, dict[str, str]],
    runs: int,
    warmup: int,
    served: residents.Served,
    floor: Path | None = None,
    own: dict[str, residents.Served] | None = None,
) -> dict[tuple[str, str], Sample]:
    """Every (command, environment) pair once per round, the order rotating each round (no
    ``python -c pass`` in the ``cold`` environment: it is ``cached`` with the resident process off);
    with ``floor`` (a folder), :mod:`bench.send_floor` too, in the first environment. After the first
    round, wait for the resident process the warm-up sends started; from then on note what it
    served after every run. ``own``: environments whose interpreter flags differ (a flag is part of
    the resident process's key), so that they have a resident process of their own, each watched by
    its own :class:`~bench.residents.Served` after that environment's runs."""
    own = own or {}
    variants = [(cmd, env) for env in envs for cmd in ("send", "pass") if (cmd, env) != ("pass", "cold")]
    if floor is not None:
        variants.append(("floor", next(iter(envs))))
    samples = {variant: Sample() for variant in variants}
    for i in range(warmup + runs):
        shift = i % len(variants)
        for cmd, env_name in variants[shift:] + variants[:shift]:
            if cmd == "send":
                argv = [*send, "send", "@tex", f"benchmark message {i}"]
            elif cmd == "floor":
                argv = [sys.executable, str(FLOOR_SCRIPT), str(floor), f"benchmark message {i}"]
            else:
                argv = [sys.executable, "-c", "pass"]
            seconds = _run(argv, envs[env_name])
            served.note((cmd, env_name), i >= warmup)
            if env_name in own:
                own[env_name].note((cmd, env_name), i >= warmup)
            if i >= warmup:
                samples[(cmd, env_name)].add(seconds)
        if i == 0:
            for tracker in (served, *own.values()):
                tracker.target.wait_running()
                tracker.start()
    return samples


def _imports(
    env: dict[str, str], argv: list[str], stdin: bytes | None = None, python: str | None = None
) -> tuple[list[tuple[int, int, str]], str]:
    """``-X importtime`` lines of one run (self µs, cumulative µs, module) and its standard output;
    ``stdin`` is its standard input, ``python`` the interpreter (default ``sys.executable``)."""
    proc = subprocess.run(
        [python or sys.executable, "-X", "importtime", *argv],
        env=env,
        input=stdin,
        capture_output=True,
        check=True,
    )
    lines = [
        _split_line(line)
        for line in proc.stderr.decode("utf-8", "replace").splitlines()
        if line.startswith("import time:") and "imported package" not in line
    ]
    return lines, proc.stdout.decode("utf-8", "replace")


ImportFigures = tuple[Table, Table, float, float, tuple[str, float]]


def importtime(
    env: dict[str, str],
    runs: int,
    argv_of: Callable[[int], list[str]],
    described: str,
    after: Callable[[str], None] | None = None,
    *,
    stdin: bytes | None = None,
    top: int = 10,
    python: str | None = None,
) -> ImportFigures:
    """Imports of the command ``argv_of(i)`` that ``python -c pass`` does not make, median per
    module over ``runs`` (``after`` gets each run's output, ``stdin`` is each run's input, ``top``
    the rows of each table, ``python`` the interpreter of both, default ``sys.executable``); also the
    bare interpreter's own import total and its costliest top-level import."""
    bare_lines, _ = _imports(env, ["-c", "pass"], python=python)
    bare = {name for _, _, name in bare_lines}
    top_level = [(name, cum) for _, cum, name in bare_lines if name in _TOP_LEVEL_BARE]
    costliest = max(top_level, key=lambda item: item[1], default=("site", 0))
    per_module: dict[str, list[tuple[int, int]]] = defaultdict(list)
    totals: list[int] = []
    bare_totals: list[int] = []
    for i in range(runs):
        lines, out = _imports(env, argv_of(i), stdin, python)
        if after is not None:
            after(out)
        totals.append(sum(own for own, _, name in lines if name not in bare))
        bare_totals.append(sum(own for own, _, name in lines if name in bare))
        for own, cumulative, name in lines:
            if name not in bare:
                per_module[name].append((own, cumulative))
    medians = {
        name: (statistics.median(s for s, _ in values), statistics.median(c for _, c in values))
        for name, values in per_module.items()
    }
    title = (
        f"`-X importtime` of `{described}`: top {top} by cumulative time "
        f"(median of {runs} runs; modules `python -c pass` also imports left out)"
    )
    by_cumulative = Table(("module", "cumulative", "self"), title=title)
    for name, (own_us, cum_us) in sorted(medians.items(), key=lambda kv: kv[1][1], reverse=True)[:top]:
        by_cumulative.add(f"`{name}`", fmt_seconds(cum_us / 1e6), fmt_seconds(own_us / 1e6))
    by_self = Table(("module", "self", "cumulative"), title=f"… and top {top} by self time")
    for name, (own_us, cum_us) in sorted(medians.items(), key=lambda kv: kv[1][0], reverse=True)[:top]:
        by_self.add(f"`{name}`", fmt_seconds(own_us / 1e6), fmt_seconds(cum_us / 1e6))
    return (
        by_cumulative,
        by_self,
        statistics.median(totals) / 1e6,
        statistics.median(bare_totals) / 1e6,
        (costliest[0], costliest[1] / 1e6),
    )


#: The environments of figures 4, 6 and 7, as the per-command tables name them.
GOAL_ENV = "bytecode cached, resident process warm (goal figure)"
COLD_ENV = "bytecode cached, cold: without the resident process (`DATACORE_MSG_RESIDENT=off`)"
#: What the notes of figures 4, 6, 7 and 11 say about the two variants.
VARIANTS_NOTE = (
    "Goal figures: the command as a user with the default settings runs it, handed to the resident "
    "process (on by default; its socket in a runtime folder of the benchmark's own, "
    "`XDG_RUNTIME_DIR` in its temporary folder, and stopped when the benchmark ends). The warm-up "
    "runs started it, the benchmark waited until `datacore-msg resident status --json` said "
    "running before timing, and every timed run was checked to have been served by it (its count "
    "of served commands went up by exactly one during the run, same process). Cold: the same "
    "command with `DATACORE_MSG_RESIDENT=off` in the same rounds, every run in its own interpreter "
    "(checked not to reach the resident process): what the first command of a session pays, since "
    "the resident process exits after 20 idle minutes and the command that then finds none runs "
    "itself (and starts a new one). Not a goal; shown so that both are in view."
)


def per_command_table(
    samples: dict[tuple[str, str], Sample],
    inherited: dict[str, str],
    command: str,
    base: Sample | None = None,
) -> Table:
    """Median and p90 of the command and of ``python -c pass``, in each environment, with the ratio
    to ``python -c pass`` in the same environment (``cached``'s for ``cold``; else ``base``)."""
    table = Table(("run", "environment", "runs", "median", "p90", "× python -c pass"), title="Per command")
    flag = inherited.get("PYTHONDONTWRITEBYTECODE", "unset")
    inherited_env = f"as inherited (PYTHONDONTWRITEBYTECODE={flag})"
    labels = {
        ("send", "cached"): GOAL_ENV,
        ("send", "cold"): COLD_ENV,
        ("send", "inherited"): f"{inherited_env}, resident process warm",
        ("pass", "cached"): "bytecode cached (the goal's baseline)",
        ("pass", "inherited"): inherited_env,
    }
    for (cmd, env_name), sample in samples.items():
        baseline = samples.get(("pass", "cached" if env_name == "cold" else env_name), base)
        table.add(
            command if cmd == "send" else "python -c pass",
            labels[(cmd, env_name)],
            str(sample.n),
            fmt_seconds(sample.median),
            fmt_seconds(sample.p90),
            "-" if baseline is None else f"{sample.median / baseline.median:.2f}",
        )
    return table


def _split_line(line: str) -> tuple[int, int, str]:
    """``import time:   self |   cumulative | <indent>name`` -> (self µs, cumulative µs, name)."""
    fields = line.split(":", 1)[1].split("|", 2)
    return int(fields[0]), int(fields[1]), fields[2].strip()


def run(inst: Installation, stats: LogStats, runs: int, tmp: Path) -> Figure:
    started = time.perf_counter()
    send, described = send_command()
    inherited = inst.env()
    steady = dict(inherited)
    steady.pop("PYTHONDONTWRITEBYTECODE", None)
    steady["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    envs = {"cached": steady, "cold": residents.cold(steady), "inherited": inherited}
    floor_dir = tmp / "send-floor"
    floor_dir.mkdir(exist_ok=True)
    served, own_served = residents.trackers(send, steady, inherited)
    try:
        samples = _interleaved(send, envs, runs, WARMUP, served, floor_dir, {"inherited": own_served})
    finally:
        residents.stop_trackers(served, own_served)
    checked = served.require(("send", "cached"), True, "figure 4, send (goal)")
    own_served.require(("send", "inherited"), True, "figure 4, send (inherited environment)")
    served.require(("send", "cold"), False, "figure 4, send (cold)")
    ours, base = samples[("send", "cached")], samples[("pass", "cached")]
    cold = samples[("send", "cold")]
    floor = samples.pop(("floor", "cached"))
    by_cum, by_self, import_total, bare_total, (bare_name, bare_cum) = importtime(
        envs["cold"],
        5 if runs >= 20 else 3,
        lambda i: ["-m", "datacore_msg", "send", "@tex", f"import {i}"],
        "python -m datacore_msg send (cold)",
    )

    fig = Figure(
        4,
        "Whole process: `datacore-msg send @tex TEXT` vs `python -c pass`",
        [
            f"Command: `{described} send @tex TEXT` against an installation with "
            f"{stats.messages:,} messages in its log, and `{sys.executable} -c pass`; {runs} runs "
            f"of each, after {WARMUP} warm-up runs, interleaved with the same send without the "
            "resident process (cold) and the same pair run in the inherited environment (order "
            "rotating). Goal figure: bytecode cached in a `PYTHONPYCACHEPREFIX` folder, the "
            f"resident process warm (all {checked} timed sends served by it).",
        ],
    )
    fig.checks.append(
        Check(
            "send process (resident process warm) vs empty interpreter (median time)",
            fmt_seconds(ours.median),
            fmt_seconds(base.median),
            ours.median / base.median,
            "ours / baseline",
            at_most(3),
        )
    )
    table = per_command_table(samples, inherited, "datacore-msg send")
    fig.tables.append(table)
    fig.notes.append(VARIANTS_NOTE)
    fig.notes.append(
        f"Cold (not a goal): {fmt_seconds(cold.median)}, {cold.median / base.median:.2f}× "
        f"`python -c pass` (p90 {fmt_seconds(cold.p90)})."
    )
    inherited_ratio = samples[("send", "inherited")].median / samples[("pass", "inherited")].median
    fig.notes.append(f"In the inherited environment the ratio is {inherited_ratio:.2f}× (informational).")
    fig.notes.append(
        f"Imports a cold send (its own interpreter) adds to a bare interpreter sum to "
        f"{fmt_seconds(import_total)} (median `-X importtime` self time, the tables below; with the "
        f"resident process warm they were made once, by it). The imports a bare `python -c pass` "
        f"makes too take {fmt_seconds(bare_total)} in both commands; the costliest is `{bare_name}` "
        f"({fmt_seconds(bare_cum)} cumulative; on this machine a `.pth` file in site-packages "
        "imports certifi at every start-up, which inflates the baseline and so flatters the "
        "ratio). The rest of the send process is the work itself: settings (YAML), opening the "
        "log, append, catch-up and the write of outbox.org (several fsyncs)."
    )
    table.add(
        "bench/send_floor.py (no package code)",
        "bytecode cached",
        str(floor.n),
        fmt_seconds(floor.median),
        fmt_seconds(floor.p90),
        f"{floor.median / base.median:.2f}",
    )
    fig.notes.append(
        f"The floor: `bench/send_floor.py`, a script that does only what any send must (imports "
        "`sqlite3`, libsodium's binding, `zoneinfo` and `json`; one signed insert with "
        "`synchronous=FULL`; the outbox replaced with fsyncs; no settings, checks, catch-up or read "
        f"models), takes {fmt_seconds(floor.median)}: {floor.median / base.median:.2f}× the empty "
        f"interpreter. Of the goal's {fmt_seconds(3 * base.median)}, that leaves "
        f"{fmt_seconds(max(0.0, 3 * base.median - floor.median))} for everything the package adds "
        f"(now {fmt_seconds(max(0.0, ours.median - floor.median))} warm, "
        f"{fmt_seconds(max(0.0, cold.median - floor.median))} cold). The floor is a process of its "
        "own, so it pays the imports a warm send does not."
    )
    fig.tables.append(by_cum)
    fig.tables.append(by_self)
    fig.seconds = time.perf_counter() - started
    return fig
