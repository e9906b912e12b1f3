"""A message TEXT that begins with ``-`` (a list item, ``-x``) is the text, not an option; the
command's own options still work before, after and between the arguments, and ``--`` still ends
the options. Through the real CLI (``send``, ``reply``, ``send-reply``) and the word sorter itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from datacore_msg.cli.dashtext import sort_words
from datacore_msg.cli.exit_codes import Exit

#: (arguments after ``send``, the text stored, the priority stored)
SENDS = [
    pytest.param(["@claude", "- fix the build"], "- fix the build", None, id="list-item"),
    pytest.param(["@claude", "-x"], "-x", None, id="not-an-option"),
    pytest.param(["@claude", "--not-an-option"], "--not-an-option", None, id="long-not-an-option"),
    pytest.param(["@claude", "-5"], "-5", None, id="negative-number"),
    pytest.param(["--priority", "A", "@claude", "- item"], "- item", "A", id="option-first"),
    pytest.param(["@claude", "--priority", "B", "- item"], "- item", "B", id="option-between"),
    pytest.param(["@claude", "- item", "--priority", "C"], "- item", "C", id="option-after"),
    pytest.param(["@claude", "- item", "--priority=A"], "- item", "A", id="option-equals"),
    pytest.param(["@claude", "--", "--priority"], "--priority", None, id="double-dash"),
    pytest.param(["@claude", "plain text", "--priority", "B"], "plain text", "B", id="no-dash-unchanged"),
]


@pytest.mark.parametrize(("args", "text", "priority"), SENDS)
def test_send_takes_a_dash_text_as_the_text(gregor: Any, args: list[str], text: str, priority: str) -> None:
    result = gregor.cli("send", "--json", *args)
    assert result.code == 0, result
    task = json.loads(result.out)["data"]["id"]
    shown = json.loads(gregor.cli("task", "show", task, "--json").out)["data"]
    assert (shown["text"], shown["priority"]) == (text, priority)


def test_reply_and_send_reply_take_a_dash_text(gregor: Any) -> None:
    sent = json.loads(gregor.cli("send", "@gregor", "a note to self", "--json").out)["data"]["id"]
    replied = gregor.cli("reply", sent, "- first point", "--json")
    assert replied.code == 0, replied
    reply_id = json.loads(replied.out)["data"]["id"]
    assert json.loads(gregor.cli("show", reply_id, "--json").out)["data"]["text"] == "- first point"
    task = json.loads(gregor.cli("send", "@claude", "do it", "--json").out)["data"]["id"]
    answered = gregor.cli("send-reply", task, "- done, see the PR", "--json")
    assert answered.code == 0, answered


def test_real_options_still_parse_and_bad_values_still_fail(gregor: Any) -> None:
    bad = gregor.cli("send", "@claude", "- item", "--priority", "Z")
    assert bad.code == Exit.USAGE
    too_many = gregor.cli("send", "@claude", "- item", "-y")  # two texts
    assert too_many.code == Exit.USAGE and "extra argument" in too_many.err
    helped = gregor.cli("send", "-h")
    assert helped.code == 0 and "Usage:" in helped.out


SORTS = [
    (["@t", "- a"], ["--", "@t", "- a"]),
    (["@t", "a"], ["@t", "a"]),
    (["@t", "-", "--json"], ["@t", "-", "--json"]),  # '-' alone: standard input, not a dash text
    (["@t", "-x", "--priority", "-A"], ["--priority", "-A", "--", "@t", "-x"]),  # a value may start with -
    (["--json", "@t", "-x"], ["--json", "--", "@t", "-x"]),
    (["@t", "--", "-x", "--json"], ["--", "@t", "-x", "--json"]),
]


@pytest.mark.parametrize(("words", "sorted_words"), SORTS)
def test_sort_words(words: list[str], sorted_words: list[str]) -> None:
    assert sort_words(words, {"--priority": True, "--json": False, "-h": False}) == sorted_words
