"""The commands people type most, run without loading the command framework.

Theory of operation
-------------------
Importing click and every command module costs more than starting Python. ``send``, ``inbox``,
``mark`` and ``chat`` (``gui``) therefore have a small parser here that accepts only the plain
spelling of their arguments: the positional arguments, and each option as ``--name VALUE`` or a
flag, with values click would accept unchanged (a choice in its list, a whole number of plain digits
in range). For anything else -- ``--help``, ``--name=VALUE``, ``--``, an unknown option, a missing
or extra argument, a value click would convert or refuse -- :func:`parse` returns None and the
command goes to click, which gives the same result or the same error as always. Whenever
:func:`parse` accepts an argument list, click parses it to the same values
(``tests/cli/test_fastpath.py`` checks this against click itself), and the command runs the same
body (:mod:`datacore_msg.cli.message_run`, :mod:`datacore_msg.cli.chat_run`) inside the same error
boundary.
"""

from __future__ import annotations

import os

from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    #: Per command: its positional parameters, its options with a value (name -> parameter,
    #: converter, repeatable) and its flags (name -> parameter).
    Spec = tuple[
        tuple[str, ...],
        Mapping[str, tuple[str, Callable[[str], Any], bool]],
        Mapping[str, str],
    ]

ROOT_ENV = "DATACORE_ROOT"
PRIORITIES = ("A", "B", "C")
MARKS = ("read", "todo", "done", "archive")


def _choice(choices: tuple[str, ...]) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        if value not in choices:
            raise ValueError(value)
        return value

    return convert


def _whole(low: int, high: int) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        if not (value.isascii() and value.isdigit()):
            raise ValueError(value)
        number = int(value)
        if not low <= number <= high:
            raise ValueError(value)
        return number

    return convert


def _text(value: str) -> Any:
    return value


_COMMON: dict[str, tuple[str, Callable[[str], Any], bool]] = {
    "--space": ("space", _text, False),
    "--root": ("root", _text, False),
}
SPECS: dict[str, Spec] = {
    "send": (
        ("to", "text"),
        {
            **_COMMON,
            "--priority": ("priority", _choice(PRIORITIES), False),
            "--reply-to": ("reply_to", _text, False),
            "--tag": ("tags", _text, True),
            "--effort": ("effort", _whole(1, 100), False),
            "--tokens": ("tokens", _whole(1, 100_000_000), False),
        },
        {"--json": "as_json", "--strict": "strict"},
    ),
    "inbox": ((), _COMMON, {"--json": "as_json", "--all": "include_all"}),
    "mark": (("message_id", "how"), _COMMON, {"--json": "as_json"}),
    "chat": ((), _COMMON, {"--no-relay": "no_relay"}),
    "gui": ((), _COMMON, {"--no-relay": "no_relay"}),
}
_CHECKED = {"how": _choice(MARKS)}


def parse(argv: list[str], env: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """The command and its parameters (as click would pass them), or None to leave it to click."""
    if not argv or argv[0] not in SPECS:
        return None
    command = argv[0]
    positional_names, options, flags = SPECS[command]
    params: dict[str, Any] = {}
    for name, repeatable in ((p, r) for p, _, r in options.values()):
        params[name] = () if repeatable else None
    params.update({name: False for name in flags.values()})
    positional: list[str] = []
    rest = argv[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in flags:
            params[flags[arg]] = True
        elif arg in options:
            if i + 1 >= len(rest):
                return None
            name, convert, repeatable = options[arg]
            try:
                value = convert(rest[i + 1])
            except ValueError:
                return None
            params[name] = (*params[name], value) if repeatable else value
            i += 1
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            positional.append(arg)
        i += 1
    if len(positional) != len(positional_names):
        return None
    for name, value in zip(positional_names, positional, strict=True):
        check = _CHECKED.get(name)
        if check is not None:
            try:
                check(value)
            except ValueError:
                return None
        params[name] = value
    if params.get("root") is None and "root" in params:
        params["root"] = env.get(ROOT_ENV) or None
    return command, params


def dispatch(argv: list[str], env: Mapping[str, str] | None = None) -> int | None:
    """Run ``argv`` here and return its exit status, or None when click must run it."""
    parsed = parse(argv, os.environ if env is None else env)
    if parsed is None:
        return None
    command, params = parsed
    from datacore_msg.cli.boundary import run_guarded

    if command in ("chat", "gui"):
        from datacore_msg.cli.chat_run import run_chat

        return run_guarded(lambda: run_chat(params["root"], params["space"], not params["no_relay"]), argv)
    from datacore_msg.cli import message_run

    bodies: dict[str, Callable[..., None]] = {
        "send": message_run.run_send,
        "inbox": message_run.run_inbox,
        "mark": message_run.run_mark,
    }
    body = bodies[command]
    return run_guarded(lambda: body(**params), argv)
