"""Figure 7: the Claude Code prompt hook (``datacore-msg hook prompt``) as a whole process vs
``python -c pass``.

Claude Code runs the hook before every prompt the user types, with a JSON object on stdin; the hook
prints JSON or nothing (:mod:`datacore_msg.hooks.prompt`). Two cases carry a goal:

* **nothing new**: an installation with a year of messages (:func:`bench.workload.populate`, some of
  them unread) and a task history made through the application (tasks DONE and ARCHIVED, one
  cancelled, one from an unpinned sender WAITING for approval, one WORKING, one QUEUED behind it),
  whose session cursor already holds everything: the hook's cheap path (JSON settings cache,
  derived rows, cursor) prints nothing. Every run's standard output is checked to be empty.
* **surfacing and claiming a task**: a second installation with the same kind of history; before
  every timed run the owner cancels the task the previous run claimed and sends a new one to the
  agent in this process (untimed; auto-accepted, so one QUEUED task and nothing WORKING), then the
  hook runs with a fresh session id: the full path (open the space, catch up, claim, render). Every
  run's output is checked to say ``has claimed task <that task>``.

For information: ``hook session-start`` (fresh session id each run, on the nothing-new installation;
its digest is printed), the nothing-new pair in the environment as inherited, and the nothing-new pair
in a clean virtual environment (``python -m venv --without-pip`` of the same interpreter, with a
``.pth`` naming this repository's ``src/``, and a copy of the console script), whose site runs no
``.pth`` of the interpreter's own site-packages.

Every process is timed from spawn to exit (``subprocess.run``, its stdin given as bytes), all
variants interleaved, the order rotating each round, as in figure 4 (:mod:`bench.fig_process`),
whose environments it uses: bytecode cached in a ``PYTHONPYCACHEPREFIX`` folder (goal figures) and
as inherited. ``XDG_CACHE_HOME`` (the hook's settings cache) and ``XDG_STATE_HOME`` (its failure
log) point into the benchmark's temporary folder. The resident process is on, as by default
(:mod:`bench.residents`): surfacing and claiming is handed to it, warm, and is timed cold too
(``DATACORE_MSG_RESIDENT=off``, not a goal); the nothing-new hook answers from its session's stamp
before any hand-over (the stamp is checked to hold before timing, and the resident process's count
of served commands not to move during any of its runs). ``-X importtime`` of the nothing-new path (median
per module over a few runs) lists the imports that cost most, in the goal environment and in the
clean one.
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datacore_msg
from bench import residents
from bench.fig_process import VARIANTS_NOTE, importtime, per_command_table, send_command
from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds
from bench.workload import AGENT, Installation, LogStats, make_installation, populate
from datacore_msg.app.ids import new_task_id
from datacore_msg.app.space import open_space
from datacore_msg.app.tasks import request, transition
from datacore_msg.app.views import refresh
from datacore_msg.eventlog.payloads import TaskRequested
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.hooks import quiet as stamps
from datacore_msg.readmodels import hookread
from datacore_msg.task_states import QUEUED, WAITING, WORKING

WARMUP = 3
#: Tasks of the history made through the application (DONE, two of three then ARCHIVED).
HISTORY_TASKS = 12
#: The session whose cursor already holds everything on the nothing-new installation.
QUIET_SESSION = "bench-quiet-0001"
#: A sender with no pinned key: the governor holds the request for the owner's approval.
STRANGER = "zoe"
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class _Variant:
    """One process of a round: what runs, in which environment."""

    key: tuple[str, str]
    argv: list[str]
    env: dict[str, str]
    stdin: Callable[[int], bytes] | None = None
    before: Callable[[int], None] | None = None
    check: Callable[[int, str], None] | None = None


@dataclass
class _Venv:
    python: str
    script: list[str]
    pth: Path
    #: The console script itself imports ``re`` (pip's template does), not the package.
    script_imports_re: bool = False


@dataclass
class _Claims:
    """The claim installation's task of the coming run, and what the runs claimed."""

    inst: Installation
    pending: str | None = None
    claimed: list[str] = field(default_factory=list)

    def prepare(self, i: int) -> None:
        """Cancel the task the last run claimed, send a new one (untimed): one QUEUED, none WORKING."""
        with open_space(str(self.inst.root)) as space:
            if self.pending is not None:
                transition(space, self.pending, "cancel", reason="benchmark")
            requested = request(space, AGENT, f"benchmark task {i}: check the deploy branch")
            assert requested.state is not None and requested.state.state == QUEUED, requested.state
            self.pending = requested.task_id

    def check(self, _i: int, out: str) -> None:
        assert self.pending is not None
        context = _context(out)
        assert f"has claimed task {self.pending}" in context, context[:400]
        self.claimed.append(self.pending)


def hook_input(session: str) -> bytes:
    """What Claude Code writes to the prompt hook's stdin."""
    return json.dumps(
        {
            "session_id": session,
            "transcript_path": f"/tmp/{session}.jsonl",
            "cwd": "/tmp",
            "hook_event_name": "UserPromptSubmit",
            "prompt": "What should I look at next?",
        }
    ).encode("utf-8")


def _start_input(session: str) -> bytes:
    return json.dumps(
        {"session_id": session, "cwd": "/tmp", "hook_event_name": "SessionStart", "source": "startup"}
    ).encode("utf-8")


def _context(out: str) -> str:
    """The ``additionalContext`` of a hook's output; anything else is a failed figure."""
    data = json.loads(out)
    assert isinstance(data, dict) and "hookSpecificOutput" in data, out[:400]
    return str(data["hookSpecificOutput"]["additionalContext"])


def _digest(_i: int, out: str) -> None:
    assert _context(out).strip(), out[:400]


def _quiet(_i: int, out: str) -> None:
    assert out == "", f"the nothing-new hook printed something, so the figure is invalid: {out[:400]}"


def _spawn(argv: list[str], env: dict[str, str], stdin: bytes | None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')}")
    return seconds, proc.stdout.decode("utf-8", "replace")


def _history(inst: Installation, working: bool) -> tuple[dict[str, int], int]:
    """Tasks made through the application as the owner: DONE (two of three ARCHIVED), one CANCELLED,
    one WAITING (from a sender without a pinned key), and with ``working`` one WORKING and one QUEUED
    behind it. Returns the tasks per state and the unread messages, as the hook reads them."""
    states: dict[str, int] = {}
    with open_space(str(inst.root)) as space:
        for i in range(HISTORY_TASKS):
            task = request(space, AGENT, f"history task {i}: review the sync protocol notes").task_id
            transition(space, task, "claim")
            transition(space, task, "complete", tokens=1_000 + 100 * i, result="notes.org")
            if i % 3:
                transition(space, task, "archive")
        cancelled = request(space, AGENT, "history task: not needed after all").task_id
        transition(space, cancelled, "cancel", reason="no longer needed")
        payload = TaskRequested(
            id=new_task_id(space.clock()),
            sender=STRANGER,
            to=AGENT,
            text="Could your agent look at our flaky CI job?",
        )
        space.store.append(SigningKey.generate(), STRANGER, payload, space.clock())
        refresh(space)
        if working:
            task = request(space, AGENT, "the task in progress: fix the websocket frame limit").task_id
            transition(space, task, "claim")
            request(space, AGENT, "queued behind it: draft the release notes")
        else:
            transition(space, request(space, AGENT, "warm-up").task_id, "cancel", reason="warm-up")
        for row in space.store.conn.execute(
            "SELECT state, COUNT(*) FROM task_state GROUP BY state ORDER BY state"
        ):
            states[str(row[0])] = int(row[1])
        with hookread.reading(space.store.path) as conn:
            unread = len(hookread.unread_messages(conn))
    assert states.get(WAITING) == 1, states
    assert states.get(WORKING, 0) == int(working), states
    return states, unread


def _installation(
    base: Path, messages: int, seed: int, working: bool
) -> tuple[Installation, LogStats, tuple[dict[str, int], int]]:
    base.mkdir(parents=True)
    inst = make_installation(base)
    stats = populate(inst, messages, time.time_ns() // 1_000_000 - HOUR_MS, seed)
    return inst, stats, _history(inst, working)


def _clean_venv(base: Path, command: list[str]) -> _Venv | str:
    """A virtual environment of this interpreter that imports only this repository's ``src/`` (no
    dependencies, no site ``.pth`` of the interpreter's), with a copy of the console script; or the
    reason there is none."""
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(base)],
            capture_output=True,
            check=True,
            timeout=120,
        )
        python = str(base / "bin" / "python3")
        purelib = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            check=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`python -m venv --without-pip` failed here ({exc}), so there is no clean-venv figure"
    src = Path(datacore_msg.__file__).resolve().parents[1]
    pth = Path(purelib) / "datacore_msg_src.pth"
    pth.write_text(f"{src}\n", encoding="utf-8")
    if command[0] == sys.executable:
        return _Venv(python, [python, "-m", "datacore_msg"], pth)
    text = Path(command[0]).read_text(encoding="utf-8").split("\n", 1)
    script = base / "bin" / "datacore-msg"
    script.write_text(f"#!{python}\n{text[1] if len(text) > 1 else ''}", encoding="utf-8")
    script.chmod(0o755)
    return _Venv(python, [str(script)], pth, "\nimport re\n" in f"\n{text[-1]}")


def _interleaved(
    variants: list[_Variant], runs: int, served: residents.Served
) -> dict[tuple[str, str], Sample]:
    """Every variant once per round, the order rotating each round; ``before`` runs untimed. After
    the first round, wait for the resident process its hooks started; from then on note what it
    served after every run."""
    samples = {variant.key: Sample() for variant in variants}
    for i in range(WARMUP + runs):
        shift = i % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if variant.before is not None:
                variant.before(i)
            stdin = variant.stdin(i) if variant.stdin is not None else None
            seconds, out = _spawn(variant.argv, variant.env, stdin)
            served.note(variant.key, i >= WARMUP)
            if variant.check is not None:
                variant.check(i, out)
            if i >= WARMUP:
                samples[variant.key].add(seconds)
        if i == 0:
            served.target.wait_running()
            served.start()
    return samples


def _pth_files() -> str:
    names = sorted(path.name for folder in site.getsitepackages() for path in Path(folder).glob("*.pth"))
    return ", ".join(f"`{name}`" for name in names) or "none"


def _ratio_check(name: str, ours: Sample, base: Sample, bound: float) -> Check:
    return Check(
        name,
        fmt_seconds(ours.median),
        fmt_seconds(base.median),
        ours.median / base.median,
        "ours / baseline",
        at_most(bound),
    )


def _variants(
    command: list[str],
    steady: dict[str, str],
    inherited: dict[str, str],
    claim_env: dict[str, str],
    claims: _Claims,
    venv: _Venv | str,
) -> list[_Variant]:
    """The processes of a round: the baselines, the two goal hooks, the cold claim, session-start,
    the inherited pair and the clean venv's pair."""
    prompt = [*command, "hook", "prompt"]
    quiet_in = hook_input(QUIET_SESSION)
    python = [sys.executable, "-c", "pass"]
    variants = [
        _Variant(("pass", "cached"), python, steady),
        _Variant(("send", "cached"), prompt, steady, lambda _i: quiet_in, check=_quiet),
        _Variant(
            ("claim", "cached"),
            prompt,
            claim_env,
            lambda i: hook_input(f"bench-claim-{i:04d}"),
            claims.prepare,
            claims.check,
        ),
        _Variant(
            ("claim", "cold"),
            prompt,
            residents.cold(claim_env),
            lambda i: hook_input(f"bench-claim-cold-{i:04d}"),
            claims.prepare,
            claims.check,
        ),
        _Variant(
            ("start", "cached"),
            [*command, "hook", "session-start"],
            steady,
            lambda i: _start_input(f"bench-start-{i:04d}"),
            check=_digest,
        ),
        _Variant(("pass", "inherited"), python, inherited),
        _Variant(("send", "inherited"), prompt, inherited, lambda _i: quiet_in, check=_quiet),
    ]
    if isinstance(venv, _Venv):
        variants.append(_Variant(("pass", "venv"), [venv.python, "-c", "pass"], steady))
        variants.append(
            _Variant(
                ("send", "venv"), [*venv.script, "hook", "prompt"], steady, lambda _i: quiet_in, check=_quiet
            )
        )
    return variants


def _timed(
    variants: list[_Variant], runs: int, target: residents.Resident
) -> tuple[dict[tuple[str, str], Sample], residents.Served]:
    """The rounds, with what the resident process served in each run; it is stopped afterwards."""
    served = residents.Served(target)
    try:
        return _interleaved(variants, runs, served), served
    finally:
        target.stop()


def _stamped(prompt: list[str], env: dict[str, str]) -> None:
    """Leave the quiet session its stamp (:mod:`datacore_msg.hooks.quiet`), so that its prompts take
    the cheap path from the first round: a prompt writes one only when none of the files it covers
    changed in the last :data:`~datacore_msg.hooks.quiet.RACY_NS`, and the first prompt just wrote
    the session's cursor. Checked with the hook's own test."""
    time.sleep(stamps.RACY_NS / 1e9 + 0.2)
    _, out = _spawn(prompt, env, hook_input(QUIET_SESSION))
    _quiet(0, out)
    now_ms = time.time_ns() // 1_000_000
    if not stamps.nothing_new(None, None, hook_input(QUIET_SESSION), env, now_ms):
        raise RuntimeError("the nothing-new session has no stamp, so its prompts would run the whole check")


def run(messages: int, runs: int, tmp: Path) -> Figure:
    started = time.perf_counter()
    command, described = send_command()
    quiet, quiet_stats, (quiet_states, unread) = _installation(tmp / "hook-quiet", messages, 7, working=True)
    claim_inst, _, _ = _installation(tmp / "hook-claim", messages, 8, working=False)
    built = time.perf_counter() - started

    inherited = quiet.env()
    inherited["XDG_CACHE_HOME"] = str(tmp / "hook-xdg-cache")
    inherited["XDG_STATE_HOME"] = str(tmp / "hook-xdg-state")
    steady = dict(inherited)
    steady.pop("PYTHONDONTWRITEBYTECODE", None)
    steady["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    claim_env = dict(steady)
    claim_env["DATACORE_ROOT"] = str(claim_inst.root)

    prompt = [*command, "hook", "prompt"]
    # The quiet session is shown everything once (untimed); from then on it has nothing new.
    _, first = _spawn(prompt, steady, hook_input(QUIET_SESSION))
    shown = _context(first)
    _, again = _spawn(prompt, steady, hook_input(QUIET_SESSION))
    _quiet(0, again)
    _stamped(prompt, steady)

    claims = _Claims(claim_inst)
    quiet_in = hook_input(QUIET_SESSION)
    venv = _clean_venv(tmp / "hook-venv", command)
    variants = _variants(command, steady, inherited, claim_env, claims, venv)
    samples, served = _timed(variants, runs, residents.Resident(command, steady))
    quiet_runs = served.require(("send", "cached"), False, "figure 7, nothing new (never reaches it)")
    served.require(("send", "inherited"), False, "figure 7, nothing new, inherited environment")
    claim_runs = served.require(("claim", "cached"), True, "figure 7, surfacing and claiming (goal)")
    served.require(("claim", "cold"), False, "figure 7, surfacing and claiming (cold)")
    start_served = served.served(("start", "cached"))

    import_runs = 5 if runs >= 20 else 3
    script_argv = command[1:] if command[0] == sys.executable else command
    imports = importtime(
        residents.cold(steady),
        import_runs,
        lambda _i: [*script_argv, "hook", "prompt"],
        f"{' '.join(Path(a).name for a in command)} hook prompt (nothing new)",
        lambda out: _quiet(0, out),
        stdin=quiet_in,
        top=15,
    )
    venv_imports = None
    if isinstance(venv, _Venv):
        venv_argv = venv.script[1:] if venv.script[0] == venv.python else venv.script
        venv_imports = importtime(
            residents.cold(steady),
            import_runs,
            lambda _i: [*venv_argv, "hook", "prompt"],
            "clean venv: datacore-msg hook prompt (nothing new)",
            lambda out: _quiet(0, out),
            stdin=quiet_in,
            top=15,
            python=venv.python,
        )

    fig = Figure(
        7,
        "Whole process: Claude Code's prompt hook (`datacore-msg hook prompt`) vs `python -c pass`",
        [
            f"Command: `{described} hook prompt` with Claude Code's JSON on stdin, and "
            f"`{sys.executable} -c pass`; {runs} runs of each, after {WARMUP} warm-up runs, all the "
            "variants below interleaved (order rotating). Goal figures: bytecode cached in a "
            "`PYTHONPYCACHEPREFIX` folder, the hook's settings cache (`XDG_CACHE_HOME`) warm, the "
            "resident process on and warm, as by default: surfacing and claiming was served by it "
            f"in all {claim_runs} timed runs; the nothing-new hook never reaches it (it answers "
            "before the hand-over: its count of served commands did not move during any of the "
            f"{quiet_runs} timed runs), so that row is the same process with the resident process "
            "on or off.",
            "",
            f"**Nothing new**: an installation with {quiet_stats.messages:,} messages "
            f"({unread} of them unread, {quiet_stats.live_inbox} in the inbox, i.e. not archived) and "
            f"tasks to `{AGENT}` by state {_states(quiet_states)}; the session's cursor already "
            f"holds everything (its first prompt, untimed, was shown {len(shown):,} characters of "
            "context), so the hook prints nothing; every run's stdout was checked to be empty. "
            "**Surfacing and claiming**: a second installation of the same kind with nothing "
            "WORKING; before each run the owner cancels the task the previous run claimed and sends "
            "a new one to the agent (in this process, untimed; auto-accepted, QUEUED), then the hook "
            "runs with a fresh session id; every run's output was checked to say `has claimed task "
            f"<that task>` ({len(claims.claimed)} claims, warm-up included).",
        ],
    )
    base = samples[("pass", "cached")]
    fig.checks.append(
        _ratio_check(
            "nothing new: hook process vs empty interpreter (median time)",
            samples[("send", "cached")],
            base,
            1.5,
        )
    )
    fig.checks.append(
        _ratio_check(
            "surfacing and claiming a task: hook process (resident process warm) vs empty "
            "interpreter (median time)",
            samples[("claim", "cached")],
            base,
            3,
        )
    )
    fig.tables.append(_per_command(samples, inherited, isinstance(venv, _Venv)))
    cold = samples[("claim", "cold")]
    fig.notes.append(VARIANTS_NOTE)
    fig.notes.append(
        f"Cold surfacing and claiming (not a goal): {fmt_seconds(cold.median)}, "
        f"{cold.median / base.median:.2f}× `python -c pass` (p90 {fmt_seconds(cold.p90)}). The "
        "nothing-new hook has no cold variant: it is the same process either way. `hook "
        f"session-start` was served by the resident process in {start_served} of "
        f"{samples[('start', 'cached')].n} timed runs. The import tables are of processes without "
        "the resident process."
    )
    _notes(fig, samples, venv, imports[2:], None if venv_imports is None else venv_imports[2:])
    fig.tables.extend(imports[:2])
    if venv_imports is not None:
        fig.tables.extend(venv_imports[:2])
    fig.seconds = time.perf_counter() - started
    fig.notes.append(f"Building the two installations took {built:.0f} s of it.")
    return fig


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{count} {state}" for state, count in states.items())


def _per_command(samples: dict[tuple[str, str], Sample], inherited: dict[str, str], with_venv: bool) -> Table:
    """Figure 4's table for the nothing-new pair, then the other hooks and the clean venv."""
    pairs = {
        key: sample
        for key, sample in samples.items()
        if key[1] in ("cached", "inherited") and key[0] in ("send", "pass")
    }
    table = per_command_table(pairs, inherited, "datacore-msg hook prompt (nothing new)")
    base = samples[("pass", "cached")]
    for key, label in (
        (("claim", "cached"), "datacore-msg hook prompt (surfacing and claiming)"),
        (("claim", "cold"), "datacore-msg hook prompt (surfacing and claiming)"),
        (("start", "cached"), "datacore-msg hook session-start (fresh session)"),
    ):
        one = {("send", key[1]): samples[key]}
        table.rows.extend(per_command_table(one, inherited, label, base).rows)
    if with_venv:
        for key, label in (
            (("pass", "venv"), "python -c pass"),
            (("send", "venv"), "datacore-msg hook prompt (nothing new)"),
        ):
            sample = samples[key]
            table.add(
                label,
                "clean venv, bytecode cached (information)",
                str(sample.n),
                fmt_seconds(sample.median),
                fmt_seconds(sample.p90),
                f"{sample.median / samples[('pass', 'venv')].median:.2f}",
            )
    return table


def _notes(
    fig: Figure,
    samples: dict[tuple[str, str], Sample],
    venv: _Venv | str,
    imports: tuple[float, float, tuple[str, float]],
    venv_imports: tuple[float, float, tuple[str, float]] | None,
) -> None:
    def ratio(ours: tuple[str, str], base: tuple[str, str]) -> float:
        return samples[ours].median / samples[base].median

    base = samples[("pass", "cached")]
    quiet = samples[("send", "cached")]
    fig.notes.append(
        "For information (no goal): `hook session-start` with a fresh session id (prints the digest) "
        f"takes {ratio(('start', 'cached'), ('pass', 'cached')):.2f}× the empty interpreter; in the "
        "inherited environment the nothing-new ratio is "
        f"{ratio(('send', 'inherited'), ('pass', 'inherited')):.2f}×."
    )
    import_total, bare_total, (bare_name, bare_cum) = imports
    fig.notes.append(
        f"Baselines: the goal environment's `python -c pass` ({fmt_seconds(base.median)}) runs the "
        f".pth files of the interpreter's site-packages ({_pth_files()}); its imports take "
        f"{fmt_seconds(bare_total)} under `-X importtime`, the costliest `{bare_name}` "
        f"({fmt_seconds(bare_cum)} cumulative), which inflates the baseline and so flatters the "
        "ratio, and hides from the first import tables the modules those .pth files import "
        "already (`re`, `typing`, `pathlib`, … through certifi). The nothing-new path adds "
        f"{fmt_seconds(import_total)} of imports there (median self time) out of the "
        f"{fmt_seconds(quiet.median - base.median)} it takes over the empty interpreter; the rest "
        "is reading the settings cache, one SQLite read transaction and the cursor."
    )
    if isinstance(venv, str):
        fig.notes.append(f"Clean venv: skipped; {venv}.")
        return
    venv_ratio = ratio(("send", "venv"), ("pass", "venv"))
    added = (
        ""
        if venv_imports is None
        else (
            f"; there the nothing-new path adds {fmt_seconds(venv_imports[0])} of imports (the last "
            "import tables"
            + (
                "; `re`, and `enum` under it, are imported by the console script itself: its "
                "template, written by the installer, has `import re`)"
                if venv.script_imports_re
                else ")"
            )
        )
    )
    fig.notes.append(
        f"Clean venv (`python -m venv --without-pip`, nothing installed; `{venv.pth.name}` names "
        "`src/`, and the console script is a copy of the installed one with the venv's "
        "interpreter): its `python -c pass` takes "
        f"{fmt_seconds(samples[('pass', 'venv')].median)}, the nothing-new hook "
        f"{fmt_seconds(samples[('send', 'venv')].median)}, {venv_ratio:.2f}× (information: the "
        "ratio an install without those site .pth files sees; it also shows the nothing-new path "
        f"imports nothing outside the standard library and the package){added}."
    )
