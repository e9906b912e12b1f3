"""The README's quick start, run as a user types it: every ``$ `` line of the ``console`` blocks of
its "Quick start" section, in order, in a shell, with the installed ``datacore-msg`` console script
and a fresh folder in place of ``/tmp/qs``. ``export`` lines carry on to the next commands, as in one
terminal. Each command must exit 0 and print what the README shows, once the parts that differ on
every run are set aside: ids, keys, the state folder's hash and times. The ids and keys a command
types (``show 3db2e430``, ``contacts add gregor 3fba…``) are the README's; they are replaced with the
ones this run printed where the README printed them, as a user copies them from the screen. A
``  ...`` line in the README ends what is compared of that command's output."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
#: What differs on every run, in the order it is replaced (longest first).
VARYING = [
    (re.compile(r"\b(msg|task)-\d{8}-\d{6}-[0-9a-f]{8}\b"), r"<\1>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<key>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<origin>"),
    (re.compile(r"-[0-9a-f]{10}/"), "-<hash>/"),
    (re.compile(r"\[\d{4}-\d{2}-\d{2} [A-Z][a-z]{2} \d{2}:\d{2}\]"), "<time>"),
]
IDS = re.compile(r"\b(?:msg|task)-\d{8}-\d{6}-([0-9a-f]{8})\b|\b([0-9a-f]{64})\b")


def quick_start_steps(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown after it) for every ``$ `` line of the section's blocks."""
    section = text[text.index("\n## Quick start") : text.index("\n## ", text.index("\n## Quick start") + 5)]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        shown = line
        for pattern, replacement in VARYING:
            shown = pattern.sub(replacement, shown)
        out.append(shown)
    return out


def learn(expected: list[str], actual: list[str], seen: dict[str, str]) -> None:
    """Pair the ids and keys the README printed with those this run printed, line by line."""
    for want, got in zip(expected, actual, strict=False):
        for theirs, ours in zip(IDS.finditer(want), IDS.finditer(got), strict=False):
            old, new = theirs.group(1) or theirs.group(2), ours.group(1) or ours.group(2)
            seen.setdefault(old, new)


def as_typed(command: str, seen: dict[str, str]) -> str:
    """``command`` with the README's ids and keys (whole or a prefix of 4+) replaced by this run's."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        for old, new in seen.items():
            if old.startswith(word):
                return new[: len(word)]
        return word

    return re.sub(r"\b[0-9a-f]{4,64}\b", swap, command)


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    steps = quick_start_steps(README.read_text(encoding="utf-8"))
    assert len(steps) >= 15, "the quick start lost its commands"
    script = Path(sys.executable).with_name("datacore-msg")
    assert script.exists(), f"{script}: the console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATACORE_", "XDG_"))}
    env["PATH"] = f"{script.parent}{os.pathsep}{env.get('PATH', '')}"
    # As a user runs it: the resident process on (the default), in a folder of this test's own.
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        _run_steps(steps, tmp_path, env)
    finally:
        stop = [str(script), "resident", "stop"]
        subprocess.run(stop, env=env, capture_output=True, timeout=60, check=False)


def _run_steps(steps: list[tuple[str, list[str]]], tmp_path: Path, env: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for command, shown in steps:
        typed = as_typed(command.replace("/tmp/qs", str(tmp_path)), seen)
        if typed.startswith("export "):
            for assignment in shlex.split(typed)[1:]:
                name, _, value = assignment.partition("=")
                env[name] = value
            continue
        # what the terminal shows: standard output and error together
        proc = subprocess.run(
            ["bash", "-c", typed],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, (command, proc.stdout)
        assert "warning:" not in proc.stdout, (command, proc.stdout)  # none in the happy path
        expected = [line.replace("/tmp/qs", str(tmp_path)) for line in shown]
        if "  ..." in expected:
            expected = expected[: expected.index("  ...")]
            actual = proc.stdout.splitlines()[: len(expected)]
        else:
            actual = proc.stdout.splitlines()
        learn(expected, actual, seen)
        assert normalise(actual) == normalise(expected), command


def test_the_steps_are_read_from_the_readme() -> None:
    """The parser (fast, in the default run): the quick start has the commands the slow test runs."""
    steps = quick_start_steps(README.read_text(encoding="utf-8"))
    commands = [command for command, _ in steps]
    assert commands[0].startswith("export DATACORE_ROOT=/tmp/qs/gregor")
    assert any(c.startswith("datacore-msg contacts add gregor ") for c in commands)
    assert "datacore-msg verify" in commands and "datacore-msg rebuild --check" in commands
    assert as_typed("datacore-msg show 3db2", {"3db2e430": "0a1b2c3d"}) == "datacore-msg show 0a1b"
