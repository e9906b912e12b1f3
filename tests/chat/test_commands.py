"""The chat window's input line: each form parsed into its command (table-driven), completion."""

from __future__ import annotations

import pytest

from datacore_msg.chat.commands import (
    Clear,
    Command,
    Context,
    Help,
    Invalid,
    Quit,
    Reply,
    Send,
    Status,
    TaskRequest,
    View,
    complete,
    parse,
)

ROWS: list[tuple[str, Command | None]] = [
    ("", None),
    ("   ", None),
    ("@gregor hello", Send("gregor", "hello")),
    ("  @gregor   hello there  ", Send("gregor", "hello there")),
    ("@gregor line one\nline two", Send("gregor", "line one\nline two")),
    ("@gregor\nfirst line", Send("gregor", "first line")),
    ("@claude summarise the thread", TaskRequest("claude", "summarise the thread")),
    ("@gregor-claude review the PR", TaskRequest("gregor-claude", "review the PR")),
    ("@gregor >a1b2 sounds good", Reply("gregor", "a1b2", "sounds good")),
    ("@gregor >msg-20260311-143000-a1b2c3d4 ok", Reply("gregor", "msg-20260311-143000-a1b2c3d4", "ok")),
    ("@gregor >a1b2", Invalid("@gregor >a1b2: nothing to send")),
    ("@gregor > text", Invalid("@gregor >ID text: the message id is missing")),
    ("@gregor-claude >a1b2 do", Invalid("a task request to an agent cannot reply to a message")),
    ("@gregor", Invalid("@gregor: nothing to send")),
    ("@ hello", Invalid("@ needs a name: @user text")),
    ("hello", Invalid("start with @user to send, or /help for the commands")),
    ("/mine", View("mine")),
    ("/MINE", View("mine")),
    ("/todos", View("todos")),
    ("/tasks", View("tasks")),
    ("/online", View("online")),
    ("/relay", View("relay")),
    ("/mine now", Invalid("/mine takes no argument")),
    ("/context a1b2", Context("a1b2")),
    ("/context", Invalid("/context needs one message id (a unique prefix is enough)")),
    ("/context a b", Invalid("/context needs one message id (a unique prefix is enough)")),
    ("/status", Status(None)),
    ("/status busy", Status("busy")),
    ("/status Focusing", Status("focusing")),
    ("/status asleep", Invalid("/status: 'asleep' is not one of online, busy, away, focusing")),
    ("/clear", Clear()),
    ("/help", Help()),
    ("/?", Help()),
    ("/quit", Quit()),
    ("/frobnicate", Help(unknown="/frobnicate")),
    ("/x y", Help(unknown="/x")),
]


@pytest.mark.parametrize(("line", "expected"), ROWS, ids=[repr(row[0]) for row in ROWS])
def test_parse(line: str, expected: Command | None) -> None:
    assert parse(line) == expected


COMPLETIONS = [
    ("@gr", ["gregor", "tex"], [], "@gregor "),
    ("@g", ["gregor", "greta"], [], "@gre"),
    ("@gre", ["gregor", "greta"], [], None),
    ("@z", ["gregor"], [], None),
    (">a1", [], ["a1b2c3d4", "ffff0000"], ">a1b2c3d4 "),
    (">a", [], ["a1b2c3d4", "a1b2eeee"], ">a1b2"),
    ("/to", [], [], "/todos "),
    ("/st", [], [], "/status "),
    ("/q", [], [], "/quit "),
    ("hello", ["hello"], [], None),
]


@pytest.mark.parametrize(("word", "names", "ids", "expected"), COMPLETIONS)
def test_complete(word: str, names: list[str], ids: list[str], expected: str | None) -> None:
    assert complete(word, names, ids) == expected
