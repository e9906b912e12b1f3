"""The click-free fast path of send, inbox, mark and chat (gui) parses exactly as click does, or
leaves it to click: for any argument list it accepts, click gives the same parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.cli.fastpath import SPECS, parse
from datacore_msg.cli.main import cli

TOKENS = (
    "@tex", "hi", "-", "--", "-x", "--json", "--all", "--space", "--root", "--priority", "A", "B",
    "D", "a", "--reply-to", "msg-1", "--tag", "ci", "--effort", "1", "100", "101", "0", "007",
    "1_0", " 5", "+5", "--tokens", "100000000", "100000001", "read", "archive", "Read",
    "--priority=A", "-h", "--help", "--unknown", "--traceback", "", "--no-relay",
)  # fmt: skip
ENV = {"DATACORE_ROOT": "/from/env"}


def click_params(argv: list[str], env: dict[str, str]) -> dict[str, Any] | None:
    command = cli.commands[argv[0]]
    # under the group's context, as the command line runs it: a context made without it would give
    # the command (and click's cached help option, shared by every later test here) only --help
    parent = cli.make_context("datacore-msg", [], resilient_parsing=True)
    try:
        ctx = command.make_context(argv[0], list(argv[1:]), parent=parent, default_map=None)
    except (click.ClickException, click.exceptions.Exit):
        return None
    return dict(ctx.params)


def agree(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = parse(argv, env)
    if fast is None:
        return
    command, params = fast
    assert command == argv[0]
    with monkeypatch.context() as patch:
        patch.delenv("DATACORE_ROOT", raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        assert click_params(argv, env) == params, argv


@pytest.mark.parametrize(
    ("argv", "taken"),
    [
        (["send", "@tex", "hi"], True),
        (["send", "@tex", "-"], True),
        (["send", "@claude", "do it", "--tag", "ci", "--tag", "x", "--effort", "5", "--json"], True),
        (["send", "@tex", "hi", "--reply-to", "--json"], True),
        (["send", "@tex", "hi", "--priority", "D"], False),
        (["send", "@tex", "hi", "--effort", "1_0"], False),
        (["send", "@tex", "hi", "--priority=A"], False),
        (["send", "@tex"], False),
        (["send", "@tex", "hi", "--help"], False),
        (["send", "--", "@tex", "-x"], False),
        (["inbox"], True),
        (["inbox", "--all", "--json", "--root", "/r"], True),
        (["inbox", "extra"], False),
        (["mark", "msg-1", "read"], True),
        (["mark", "msg-1", "Read"], False),
        (["--traceback", "send", "@tex", "hi"], False),
        (["show", "msg-1"], False),
        (["chat"], True),
        (["chat", "--no-relay", "--space", "0-personal", "--root", "/r"], True),
        (["gui", "--no-relay"], True),
        (["chat", "extra"], False),
        (["chat", "--no-relay=1"], False),
        (["gui", "--help"], False),
    ],
)
def test_the_plain_spellings_are_taken_and_agree_with_click(
    argv: list[str], taken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (parse(argv, ENV) is not None) == taken
    agree(argv, ENV, monkeypatch)
    agree(argv, {}, monkeypatch)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(SPECS)),
    st.lists(st.sampled_from(TOKENS), max_size=7),
    st.booleans(),
)
def test_whatever_the_fast_path_takes_click_parses_the_same(
    command: str, rest: list[str], with_env: bool
) -> None:
    env = ENV if with_env else {}
    with pytest.MonkeyPatch.context() as patch:
        agree([command, *rest], env, patch)


@pytest.mark.parametrize(
    "argv",
    [
        ("send", "@tex", "hi"),
        ("send", "@claude", "look into it"),
        ("inbox",),
        ("inbox", "--json"),
        ("mark", "MSG", "todo"),
    ],
    ids=" ".join,
)
def test_everyday_commands_import_no_class_or_typing_framework(gregor: Any, argv: tuple[str, ...]) -> None:
    """Importing attrs, cattrs, click, typing, dataclasses or inspect costs a whole process more than
    the work it does: the plain spellings of the everyday commands need none of them."""
    sent = gregor.cli("send", "@gregor", "a note to self", "--json")
    assert sent.code == 0, sent.err
    message = json.loads(sent.out)["data"]["id"]
    argv = tuple(message if arg == "MSG" else arg for arg in argv)
    code = (
        f"import sys; sys.argv = ['datacore-msg', *{list(argv)!r}]; "
        "from datacore_msg.cli.entry import main; status = main(); "
        "heavy = {'attr', 'attrs', 'cattrs', 'click', 'typing', 'dataclasses', 'inspect'}; "
        "print(status, sorted(heavy & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=gregor.env(), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stdout
