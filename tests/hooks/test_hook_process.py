"""The Claude Code prompt hook as Claude Code runs it: a real process, JSON on a pipe, no terminal,
another working directory; what it prints, its exit status, and what it leaves in the log.

* The installed ``datacore-msg`` console script (and ``python -m datacore_msg``) claims the queued task
  and prints one JSON object under Claude Code's 10,000-character limit; a second prompt of the same
  session with nothing new prints nothing at all.
* Claude sessions prompting at the same moment (2, then 8 processes released together) claim a task
  exactly once, never start a second task while one is WORKING, and all exit 0.
* Whatever goes wrong (garbage or empty stdin, no installation, unreadable settings, an unknown
  option), the hook exits 0 with one ``systemMessage`` for the user, details in its log, and says it
  once per session.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.config.paths import settings_path

CLAUDE_LIMIT = 10_000

#: Waits (imports paid) until the go file exists, then runs the console script's ``main`` on the
#: stdin the test already wrote: every hook process of a round starts its work at the same moment.
AT_ONCE = r"""
import sys, time
from pathlib import Path
from datacore_msg.cli.entry import main
import datacore_msg.cli.hookrun, datacore_msg.app.agent_queue, datacore_msg.app.space  # paid up front
go = Path(sys.argv[1])
sys.argv = ["hook-launcher", *sys.argv[2:]]
print("ready", flush=True)
while not go.exists():
    time.sleep(0.0005)
sys.exit(main())
"""


# -- helpers -----------------------------------------------------------------------------------


def hook_env(inst: Any, tmp_path: Path, root: Path | None = None) -> dict[str, str]:
    env = inst.env()
    env["DATACORE_ROOT"] = str(root or inst.root)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    return env


def log_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg-state" / "datacore-msg" / "hook.log"


def session(name: str) -> bytes:
    """What Claude Code writes on the hook's stdin."""
    return json.dumps(
        {
            "session_id": name,
            "transcript_path": f"/home/u/.claude/projects/x/{name}.jsonl",
            "cwd": "/home/u/project",
            "hook_event_name": "UserPromptSubmit",
            "prompt": "what next?",
        }
    ).encode()


def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "some-project"
    folder.mkdir(exist_ok=True)
    return folder


def run_hook(
    command: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None
) -> subprocess.CompletedProcess[bytes]:
    """One hook run with pipes for stdin and stdout (no terminal), as Claude Code starts it."""
    return subprocess.run(
        command,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def context_of(stdout: str) -> str:
    """The additionalContext of a prompt hook's output ("" for no output)."""
    if not stdout:
        return ""
    assert stdout.endswith("\n") and stdout.count("\n") == 1, stdout
    data = json.loads(stdout)
    assert set(data) == {"hookSpecificOutput"}, data
    assert data["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    text = data["hookSpecificOutput"]["additionalContext"]
    assert isinstance(text, str) and text
    return text


def notice_of(stdout: str) -> str:
    assert stdout.endswith("\n") and stdout.count("\n") == 1, stdout
    data = json.loads(stdout)
    assert set(data) == {"systemMessage"}, data
    message = data["systemMessage"]
    assert message.startswith("datacore-msg hook") and "\n" not in message
    return str(message)


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def new_task(inst: Any, text: str, *extra: str) -> str:
    return str(json.loads(ok(inst.cli("send", "@claude", text, "--json", *extra)).out)["data"]["id"])


def complete(inst: Any, task: str) -> None:
    ok(inst.cli("task", "complete", task, "--tokens", "10"))


def claims(inst: Any) -> Counter[str]:
    events = json.loads(ok(inst.cli("log", "--type", "task.claimed", "--json")).out)["data"]
    return Counter(e["data"]["task"] for e in events)


def states(inst: Any) -> dict[str, str]:
    listed = json.loads(ok(inst.cli("tasks", "--all", "--json")).out)["data"]
    return {t["id"]: t["state"] for t in listed}


def console_script() -> str:
    found = shutil.which("datacore-msg", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip(f"no installed datacore-msg console script next to {sys.executable}")
    return found


# -- must-hold 2: the real console script, as Claude Code runs it ------------------------------


def assert_claimed_once(stdout: bytes, task: str) -> str:
    text = stdout.decode("utf-8")
    assert len(text) < CLAUDE_LIMIT, len(text)
    context = context_of(text)
    assert f"gregor-claude has claimed task {task}; it is now WORKING." in context
    return context


@pytest.mark.slow
def test_installed_console_script_claims_and_then_stays_quiet(gregor: Any, tmp_path: Path) -> None:
    exe = console_script()
    env, cwd = hook_env(gregor, tmp_path), elsewhere(tmp_path)
    # a long text: the output is still one JSON object under Claude Code's limit
    task = new_task(gregor, "Write the report.\n" + "word " * 9_000, "--priority", "A")
    first = run_hook([exe, "hook", "prompt"], env, cwd, session("sess-1"))
    assert first.returncode == 0 and first.stderr == b"", first
    context = assert_claimed_once(first.stdout, task)
    assert f"`datacore-msg task show {task}` shows all of it." in context
    assert claims(gregor) == {task: 1}
    assert states(gregor)[task] == "WORKING"
    again = run_hook([exe, "hook", "prompt"], env, cwd, session("sess-1"))
    assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    # the session-start hook of a new session: the digest once
    start = run_hook([exe, "hook", "session-start"], env, cwd, session("sess-2"))
    assert start.returncode == 0 and start.stderr == b"", start
    digest = json.loads(start.stdout)["hookSpecificOutput"]
    assert digest["hookEventName"] == "SessionStart"
    assert f"gregor-claude has 1 task WORKING ({task})" in digest["additionalContext"]
    again = run_hook([exe, "hook", "session-start"], env, cwd, session("sess-2"))
    assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    assert os.listdir(cwd) == []  # nothing written where Claude Code runs it


@pytest.mark.slow
def test_python_dash_m_runs_the_same_hook(gregor: Any, tmp_path: Path) -> None:
    env, cwd = hook_env(gregor, tmp_path), elsewhere(tmp_path)
    command = [sys.executable, "-m", "datacore_msg", "hook", "prompt"]
    task = new_task(gregor, "Tidy the inbox")
    first = run_hook(command, env, cwd, session("sess-m"))
    assert first.returncode == 0 and first.stderr == b"", first
    assert_claimed_once(first.stdout, task)
    again = run_hook(command, env, cwd, session("sess-m"))
    assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    # --root instead of DATACORE_ROOT, for a session that has not seen the task yet
    env.pop("DATACORE_ROOT")
    other = run_hook([*command, "--root", str(gregor.root)], env, cwd, session("sess-other"))
    assert other.returncode == 0 and other.stderr == b"", other
    lines = context_of(other.stdout.decode()).splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"Task {task} from gregor is WORKING"), lines
    assert claims(gregor) == {task: 1}


# -- must-hold 3: sessions prompting at the same moment ----------------------------------------


def start_at_once(env: dict[str, str], go: Path, args: list[str], stdin: bytes) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", AT_ONCE, str(go), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=go.parent,
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def start_hooks(env: dict[str, str], go: Path, sessions: list[str]) -> list[subprocess.Popen[bytes]]:
    return [start_at_once(env, go, ["hook", "prompt"], session(name)) for name in sessions]


def release(procs: list[subprocess.Popen[bytes]], go: Path) -> list[tuple[int, str, str]]:
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"ready\n", (line, proc.stderr.read() if proc.stderr else b"")
    go.touch()
    results = []
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(timeout=60)
        results.append((proc.returncode, out.decode("utf-8"), err.decode("utf-8")))
    return results


def assert_one_winner(results: list[tuple[int, str, str]], task: str) -> None:
    assert [(code, err) for code, _, err in results] == [(0, "")] * len(results), results
    contexts = [context_of(out) for _, out, _ in results]
    winners = [c for c in contexts if f"has claimed task {task}" in c]
    assert len(winners) == 1, contexts
    assert all("has claimed task" not in c for c in contexts if c is not winners[0])
    for context in contexts:
        assert len(context) < CLAUDE_LIMIT
        if context is winners[0] or not context:
            continue
        lines = context.splitlines()
        assert len(lines) == 2, lines  # the header and at most one WORKING reminder
        assert lines[1].startswith(f"Task {task} from gregor is WORKING (claimed "), lines


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("processes", [2, 8])
def test_sessions_prompting_at_once_claim_one_task_once(gregor: Any, tmp_path: Path, processes: int) -> None:
    env = hook_env(gregor, tmp_path)
    # the settings cache exists already in some rounds and not in others
    done: list[str] = []
    for round_ in range(3):
        task = new_task(gregor, f"contested {round_}")
        go = tmp_path / f"go-{round_}"
        if round_ == 1:
            shutil.rmtree(tmp_path / "xdg-cache", ignore_errors=True)
        sessions = [f"r{round_}-s{n}" for n in range(processes)]
        results = release(start_hooks(env, go, sessions), go)
        assert_one_winner(results, task)
        assert claims(gregor) == dict.fromkeys([*done, task], 1)
        assert states(gregor)[task] == "WORKING"
        complete(gregor, task)
        done.append(task)
    assert not log_file(tmp_path).exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_queued_tasks_two_sessions_at_once_start_only_one(gregor: Any, tmp_path: Path) -> None:
    env = hook_env(gregor, tmp_path)
    for round_ in range(3):
        first = new_task(gregor, f"first {round_}")
        second = new_task(gregor, f"second {round_}")
        go = tmp_path / f"go-{round_}"
        results = release(start_hooks(env, go, [f"a{round_}", f"b{round_}"]), go)
        assert_one_winner(results, first)  # the older of two equal tasks goes first
        current = states(gregor)
        assert (current[first], current[second]) == ("WORKING", "QUEUED")
        assert list(current.values()).count("WORKING") == 1
        assert second not in claims(gregor)
        complete(gregor, first)
        # the next prompt (any session) takes the second one
        go = tmp_path / f"go-{round_}-next"
        results = release(start_hooks(env, go, [f"c{round_}"]), go)
        assert_one_winner(results, second)
        complete(gregor, second)


# -- never in the way ------------------------------------------------------------------------


def assert_failure_once(
    command: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None, expected: str, tmp_path: Path
) -> str:
    first = run_hook(command, env, cwd, stdin)
    assert first.returncode == 0 and first.stderr == b"", first
    message = notice_of(first.stdout.decode())
    assert expected in message, message
    log = log_file(tmp_path)
    assert message.endswith(f"; details in {log}"), message
    details = log.read_text(encoding="utf-8")
    assert expected in details and "Traceback" in details
    return message


@pytest.mark.slow
def test_garbage_and_empty_stdin_exit_zero_with_a_notice(gregor: Any, tmp_path: Path) -> None:
    exe = console_script()
    env, cwd = hook_env(gregor, tmp_path), elsewhere(tmp_path)
    task = new_task(gregor, "not to be claimed by a broken prompt")
    cases = [
        (b"this is not json {", "stdin is not JSON"),
        (b"\xff\xfe\x00garbage", "stdin is not JSON"),
        (b"[1, 2, 3]", "stdin holds a JSON list, not an object"),
        (b'{"prompt": "hi"}', "stdin has no usable session_id"),
        (b'{"session_id": ""}', "stdin has no usable session_id"),
        (b"", "no input on stdin"),
        (None, "no input on stdin"),  # stdin closed (/dev/null)
    ]
    for stdin, expected in cases:
        assert_failure_once([exe, "hook", "prompt"], env, cwd, stdin, expected, tmp_path)
    start = run_hook([exe, "hook", "session-start"], env, cwd, b"nope")
    assert start.returncode == 0 and "stdin is not JSON" in notice_of(start.stdout.decode())
    unknown = run_hook([exe, "hook", "prompt", "--bogus"], env, cwd, session("s"))
    assert unknown.returncode == 0 and "unknown option '--bogus'" in notice_of(unknown.stdout.decode())
    assert claims(gregor) == {}
    assert states(gregor)[task] == "QUEUED"


@pytest.mark.slow
def test_missing_installation_is_reported_once_per_session(make_installation: Any, tmp_path: Path) -> None:
    exe = console_script()
    someone = make_installation("gregor")
    empty = tmp_path / "no-installation"
    empty.mkdir()
    env, cwd = hook_env(someone, tmp_path, root=empty), elsewhere(tmp_path)
    message = assert_failure_once(
        [exe, "hook", "prompt"], env, cwd, session("s1"), "this installation is not set up", tmp_path
    )
    assert str(empty) in message
    for hook in ("prompt", "session-start"):  # the same failure, the same session: said once
        again = run_hook([exe, "hook", hook], env, cwd, session("s1"))
        assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    other = run_hook([exe, "hook", "prompt"], env, cwd, session("s2"))
    assert other.returncode == 0 and "not set up" in notice_of(other.stdout.decode())
    assert len(log_file(tmp_path).read_text(encoding="utf-8").split("this installation is not set up")) > 3


@pytest.mark.slow
def test_malformed_settings_are_reported_once_then_recovered(gregor: Any, tmp_path: Path) -> None:
    exe = console_script()
    env, cwd = hook_env(gregor, tmp_path), elsewhere(tmp_path)
    command = [exe, "hook", "prompt"]
    quiet = run_hook(command, env, cwd, session("s1"))  # builds the settings cache
    assert (quiet.returncode, quiet.stdout) == (0, b"")
    settings = settings_path(gregor.root)
    good = settings.read_bytes()
    settings.write_bytes(good + b"\nmessaging: [unclosed\n  - {\n")
    message = assert_failure_once(command, env, cwd, session("s1"), str(settings), tmp_path)
    assert "details in" in message
    again = run_hook(command, env, cwd, session("s1"))
    assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    # a bad value rather than bad YAML
    settings.write_bytes(good.replace(b"messaging:", b"messaging:\n  hook:\n    auto_claim: perhaps", 1))
    bad_value = run_hook(command, env, cwd, session("s9"))
    assert bad_value.returncode == 0
    assert "auto_claim must be true or false" in notice_of(bad_value.stdout.decode())
    # fixed: the next prompt works again, and claims
    settings.write_bytes(good)
    task = new_task(gregor, "after the fix")
    fixed = run_hook(command, env, cwd, session("s1"))
    assert fixed.returncode == 0 and fixed.stderr == b""
    assert_claimed_once(fixed.stdout, task)


#: The "billion laughs" in 400 bytes: ``*i`` names 9**9 strings.
LAUGHS = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{name}: &{name} [{','.join([f'*{before}'] * 9)}]\n"
    for before, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def _cap_memory() -> None:
    """A regression must fail the test, not take the machine's memory."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["settings", "contacts"])
def test_an_alias_bomb_makes_the_hook_give_up_at_once_in_one_line(
    gregor: Any, tmp_path: Path, target: str
) -> None:
    exe = console_script()
    env, cwd = hook_env(gregor, tmp_path), elsewhere(tmp_path)
    command = [exe, "hook", "prompt"]
    quiet = run_hook(command, env, cwd, session("s1"))  # builds the settings cache
    assert (quiet.returncode, quiet.stdout) == (0, b"")
    if target == "settings":
        path, bomb = settings_path(gregor.root), LAUGHS + "identity:\n  name: *i\n  timezone: UTC\n"
    else:
        path = gregor.root / gregor.space_name / "contacts.yaml"
        bomb = LAUGHS + "actors:\n  - id: tex\n    handles: *i\n"
    good = path.read_bytes() if path.exists() else None
    path.write_text(bomb, encoding="utf-8")
    assert len(bomb) < 500
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        hostile = subprocess.run(
            command,
            input=session("s1"),
            capture_output=True,
            env=env,
            cwd=cwd,
            timeout=20,
            check=False,
            preexec_fn=_cap_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the hook hung on an alias bomb")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    assert (hostile.returncode, hostile.stderr) == (0, b""), hostile
    message = notice_of(hostile.stdout.decode())
    assert str(path) in message and "aliases (*name) expand to over" in message, message
    assert message.endswith(f"; details in {log_file(tmp_path)}"), message
    assert cpu < 2.0 and wall < 10.0, (cpu, wall)
    again = run_hook(command, env, cwd, session("s1"))  # said once per session
    assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    if good is None:
        path.unlink()
    else:
        path.write_bytes(good)
    task = new_task(gregor, "after the bomb is gone")
    fixed = run_hook(command, env, cwd, session("s1"))
    assert fixed.returncode == 0 and fixed.stderr == b""
    assert_claimed_once(fixed.stdout, task)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_task_arriving_while_sessions_prompt_never_makes_two_working(gregor: Any, tmp_path: Path) -> None:
    """Sessions prompting while a more urgent task is being sent: whichever task each session finds
    on top, one claim in all, so at most one task is WORKING."""
    env = hook_env(gregor, tmp_path)
    for round_ in range(3):
        queued = new_task(gregor, f"routine {round_}", "--priority", "C")
        before = sum(claims(gregor).values())
        go = tmp_path / f"go-{round_}"
        send = ["send", "@claude", f"urgent {round_}", "--priority", "A", "--json"]
        sender = start_at_once(env, go, send, b"")
        procs = [sender, *start_hooks(env, go, [f"u{round_}-{n}" for n in range(4)])]
        results = release(procs, go)
        assert [(code, err) for code, _, err in results] == [(0, "")] * len(results), results
        urgent = json.loads(results[0][1])["data"]["id"]
        contexts = [context_of(out) for _, out, _ in results[1:]]
        assert sum("has claimed task" in c for c in contexts) == 1, contexts
        current = states(gregor)
        assert [current[queued], current[urgent]].count("WORKING") == 1, current
        assert list(current.values()).count("WORKING") == 1, current
        assert sum(claims(gregor).values()) == before + 1
        for task in (queued, urgent):
            if current[task] == "WORKING":
                complete(gregor, task)
            else:
                ok(gregor.cli("task", "cancel", task))
