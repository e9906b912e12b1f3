"""Running a Claude Code hook as a process: stdin in, one JSON object (or nothing) out, exit 0.

The command layer of :mod:`datacore_msg.hooks.prompt`, kept free of click so that a prompt costs
little more than starting Python. A prompt first asks its session's stamp (:mod:`datacore_msg.hooks.quiet`)
whether anything can be new; when it says no, the process exits having imported next to nothing.
Whatever happens, the exit status is 0: Claude Code blocks the user's prompt on status 2 and shows
an error on any other, and an inbox must never do either.
"""

from __future__ import annotations

import os
import sys
import time

from datacore_msg.hooks import quiet

TYPE_CHECKING = False
if TYPE_CHECKING:  # the types only: a prompt with nothing new imports no more than it must
    from collections.abc import Sequence


def program_name(argv0: str, path: str, python: str = sys.executable) -> str:
    """How the agent should call us, ready for a shell: ``datacore-msg`` when PATH finds this
    script (or, run as ``python -m``, any script of that name), else this script's full path, else
    ``<python> -m datacore_msg``."""
    folders = [folder for folder in path.split(os.pathsep) if folder]
    if os.path.basename(argv0) == "datacore-msg":
        here = os.path.dirname(os.path.abspath(argv0))
        return "datacore-msg" if here in folders else _quoted(os.path.abspath(argv0))
    if any(os.access(os.path.join(folder, "datacore-msg"), os.X_OK) for folder in folders):
        return "datacore-msg"
    return f"{_quoted(python)} -m datacore_msg"


def _quoted(word: str) -> str:
    import shlex

    return shlex.quote(word)


def read_stdin() -> bytes:
    """Claude Code's JSON; nothing from a terminal or a closed or unreadable stdin (the hook then
    reports that it had no input)."""
    stream = sys.stdin
    try:
        if stream is None or stream.isatty():
            return b""
        return stream.buffer.read(quiet.MAX_INPUT_BYTES + 1)
    except (OSError, ValueError):
        return b""


def run(hook: str, argv: Sequence[str], resident: bool = False) -> int:
    """Run hook ``hook``; its exit status. ``resident``: when something may be new, the hook may be
    handed to the resident process (:mod:`datacore_msg.cli.resident_client`), with what this
    process already read from standard input."""
    raw = None
    if hook == "prompt":
        options = quiet.parse_args(argv)
        if not isinstance(options, str) and not options[2]:
            raw = read_stdin()
            if quiet.nothing_new(options[0], options[1], raw, os.environ, time.time_ns() // 1_000_000):
                return 0
    if resident:
        from datacore_msg.cli import resident_client

        words = ["hook", hook, *argv]
        if resident_client.eligible(words, os.environ):
            status = resident_client.run(words, os.environ, raw)
            if status is None:
                status = _run(hook, argv, raw)
                resident_client.spawn(os.environ)
            return status
    return _run(hook, argv, raw)


def _run(hook: str, argv: Sequence[str], raw: bytes | None) -> int:
    from datacore_msg.hooks.prompt import Outcome, parse_args, prompt, session_start

    args = parse_args(argv)
    if isinstance(args, str):
        from datacore_msg.hooks import compose

        problem = f"datacore-msg hook {hook}: unknown option {args[:80]!r}; nothing was checked"
        outcome = Outcome(compose.notice(problem))
    else:
        handler = prompt if hook == "prompt" else session_start
        prog = program_name(sys.argv[0], os.environ.get("PATH", ""))
        stdin = read_stdin() if raw is None else raw
        outcome = handler(args, stdin, os.environ, time.time_ns() // 1_000_000, prog)
    if outcome.stdout:
        try:
            sys.stdout.write(outcome.stdout + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
    return outcome.exit_code
