"""The tolerant reader of datacore-messaging's files and the mapping of its entries: line ends,
broken entries, bounds, ids and times; and that no text makes either raise."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.eventlog.names import MESSAGE_ID_RE, TASK_ID_RE
from datacore_msg.legacy import orgread
from datacore_msg.legacy.orgread import read_org
from datacore_msg.legacy.plan import (
    AGENT,
    INBOX,
    V01,
    SourceFile,
    message_id_for,
    parent_id_for,
    plan,
    task_id_for,
    time_ms,
)

ENTRY = """* TODO [2026-03-11 Wed 14:30] :unread:message:
  :PROPERTIES:
  :ID: msg-20260311-143000-0a1b2c3d
  :FROM: gregor
  :TO: tex
  :END:
  hello
  world
"""
UTC = timezone.utc


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("final", [True, False])
def test_line_ends_and_a_missing_final_newline_read_the_same(newline: str, final: bool) -> None:
    text = (ENTRY + ENTRY.replace("0a1b2c3d", "0a1b2c3e")).replace("\n", newline)
    if not final:
        text = text.removesuffix(newline)
    parsed = read_org(text)
    assert parsed.problems == ()
    assert [e.line for e in parsed.entries] == [1, 9]
    assert [e.body for e in parsed.entries] == ["hello\nworld", "hello\nworld"]
    assert parsed.entries[1].properties["ID"] == "msg-20260311-143000-0a1b2c3e"


def test_a_broken_entry_is_reported_by_line_and_the_others_are_read() -> None:
    broken = "* TODO [2026-03-12 Thu 12:00]\n  :PROPERTIES:\n  :ID: msg-20260312-120000-5f607182\n"
    parsed = read_org(ENTRY + broken + ENTRY)
    assert [e.line for e in parsed.entries] == [1, 12]
    assert [(p.line, "no :END:" in p.why) for p in parsed.problems] == [(10, True)]


def test_a_huge_line_breaks_only_its_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orgread, "MAX_LINE_CHARS", 100)
    parsed = read_org(ENTRY + "* TODO x\n  " + "y" * 200 + "\n" + ENTRY)
    assert [e.line for e in parsed.entries] == [1, 11]
    assert parsed.problems[0].line == 10 and "202 characters" in parsed.problems[0].why


def test_at_most_max_entries_are_read_and_the_rest_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orgread, "MAX_ENTRIES", 2)
    parsed = read_org(ENTRY * 5)
    assert [e.line for e in parsed.entries] == [1, 9]
    assert [(p.line, "more than 2 entries" in p.why) for p in parsed.problems] == [(17, True)]
    assert parsed.entries[1].body == "hello\nworld"


def test_hand_edits_are_read_lowercase_drawers_other_indents_repeats_and_logbooks() -> None:
    text = (
        "* DONE [#A] Write it :docs:x:\n"
        "CLOSED: [2026-03-09 Mon 12:00]\n"
        ":properties:\n"
        ":ID:    org-1\n"
        ":ID: org-2\n"
        "not a property\n"
        ":end:\n"
        "  :LOGBOOK:\n"
        '  - State "DONE" from "WORKING" [2026-03-09 Mon 11:00]\n'
        "  :END:\n"
        "** a deeper heading is text\n"
    )
    (entry,) = read_org(text).entries
    assert (entry.keyword, entry.priority, entry.title, entry.tags) == (
        "DONE",
        "A",
        "Write it",
        ("docs", "x"),
    )
    assert entry.planning == {"CLOSED": "[2026-03-09 Mon 12:00]"}
    assert entry.properties == {"ID": "org-1"}
    assert entry.body == "** a deeper heading is text"
    assert [p.line for p in entry.problems] == [5, 6, 8]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("msg-20260311-143000-0a1b2c3d", "msg-20260311-143000-0a1b2c3d"),  # v0.2: kept
        ("msg-20251212-143000-gregor", "msg-20251212-143000-"),  # v0.1: same time, hashed suffix
        ("thread-msg-20251212-142500-tex", "msg-20251212-142500-"),
        ("hello", "msg-19700101-000000-"),
    ],
)
def test_message_ids_map_to_valid_ids_deterministically(old: str, new: str) -> None:
    mapped = message_id_for(old)
    assert MESSAGE_ID_RE.fullmatch(mapped) and mapped.startswith(new)
    assert mapped == message_id_for(old)
    assert message_id_for(old, copy=1) != mapped
    assert parent_id_for(old) == message_id_for(old.removeprefix("thread-"))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("task-20260308-090000-ff660011", "task-20260308-090000-ff660011"),
        ("org-20260311-143500-aa11bb22", "task-20260311-143500-aa11bb22"),
        ("msg-20251215-100000-gregor", "task-20251215-100000-"),
    ],
)
def test_task_ids_map_to_valid_ids(old: str, new: str) -> None:
    mapped = task_id_for(old)
    assert TASK_ID_RE.fullmatch(mapped) and mapped.startswith(new)


@pytest.mark.parametrize(
    ("value", "zone", "iso"),
    [
        ("[2026-03-11 Wed 14:30]", "UTC", "2026-03-11T14:30:00+00:00"),
        ("[2026-03-11 Wed 14:30]", "Europe/Ljubljana", "2026-03-11T13:30:00+00:00"),
        ("<2026-03-11 Wed>", "UTC", "2026-03-11T00:00:00+00:00"),
        ("2025-12-15T10:05:00", "UTC", "2025-12-15T10:05:00+00:00"),
        ("2025-12-15T10:05:00Z", "Europe/Ljubljana", "2025-12-15T10:05:00+00:00"),
        ("[1969-01-01 Wed 00:00]", "UTC", None),
        ("[2026-02-30 Mon 10:00]", "UTC", None),
        ("yesterday", "UTC", None),
    ],
)
def test_times_are_read_in_the_users_zone(value: str, zone: str, iso: str | None) -> None:
    from datetime import datetime

    got = time_ms(value, ZoneInfo(zone))
    want = None if iso is None else int(datetime.fromisoformat(iso).timestamp()) * 1000
    assert got == want


def test_entries_of_other_people_are_skipped_with_their_line() -> None:
    other = ENTRY.replace(":TO: tex", ":TO: alice")
    agent = "* QUEUED Do it\n  :PROPERTIES:\n  :ID: org-20260311-143500-aa11bb22\n  :FROM: tex\n  :END:\n"
    result = plan(
        [
            SourceFile("inbox.org", INBOX, None, ENTRY + other),
            SourceFile("agents/gregor-claude.org", AGENT, "gregor-claude", agent),
        ],
        "tex",
        UTC,
    )
    assert len(result.messages) == 1 and not result.tasks
    assert [s.where for s in result.skipped] == ["inbox.org:9", "agents/gregor-claude.org:1"]


def test_marks_follow_the_old_keywords_and_tags() -> None:
    def mark(heading: str) -> str | None:
        text = ENTRY.replace("* TODO [2026-03-11 Wed 14:30] :unread:message:", heading)
        (message,) = plan([SourceFile("f.org", V01, "tex", text)], "tex", UTC).messages
        return message.mark

    assert mark("* TODO [2026-03-11 Wed 14:30] :unread:message:") is None
    assert mark("* TODO [2026-03-11 Wed 14:30] :message:") == "todo"
    assert mark("* DONE [2026-03-11 Wed 14:30] :message:") == "read"
    assert mark("* ARCHIVED [2026-03-11 Wed 14:30] :message:") == "archive"
    assert mark("* MESSAGE [2026-03-11 Wed 14:30] :unread:") is None
    assert mark("* MESSAGE [2026-03-11 Wed 14:30] :todo:") == "todo"
    assert mark("* MESSAGE [2026-03-11 Wed 14:30] :done:") == "done"
    assert mark("* MESSAGE [2026-03-11 Wed 14:30]") == "read"


_PIECES = [
    *"* :\r\n\t-[]#abcXYZ019",
    ":PROPERTIES:",
    ":END:",
    ":ID:",
    ":FROM:",
    ":TO:",
    "TODO ",
    "tex",
    "@gregor",
]
_ORGISH = st.lists(st.sampled_from(_PIECES), max_size=300).map("".join)


@settings(max_examples=200, deadline=None)
@given(_ORGISH)
def test_no_text_makes_the_reader_or_the_mapping_raise(text: str) -> None:
    parsed = read_org(text)
    lines = orgread.split_lines(text)
    for entry in parsed.entries:
        assert lines[entry.line - 1].startswith("*")
    result = plan(
        [SourceFile("f.org", INBOX, None, text), SourceFile("a.org", AGENT, "tex-claude", text)], "tex", UTC
    )
    assert len(result.messages) + len(result.tasks) <= 2 * len(parsed.entries)
