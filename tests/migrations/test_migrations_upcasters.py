"""Old payload versions are never rewritten: checked on their stored bytes, upgraded on read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from datacore_msg.app.exchange import parse_lines
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import Event, check_seal, seal
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.migrations.upcasters import upcast, upcast_message_sent_v1_v2

NOW = 1_750_000_000_000
V1_ID = "msg-20250615-120000-0000beef"


def v1_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": V1_ID,
        "from": "gregor",
        "to": "tex",
        "body": "Release notes are ready for review",
        "priority": "high",
        "reply_to": None,
    }
    data.update(over)
    return data


def v1_event(key: Any, seq: int = 1, prev: str | None = None, **over: Any) -> Event:
    return seal(
        key,
        seq=seq,
        prev=prev,
        hlc=(NOW + seq) << 16,
        actor="gregor",
        type_name="message.sent",
        version=1,
        data=v1_data(**over),
    )


def line(event: Event) -> bytes:
    return (canonical_text(event.to_json()) + "\n").encode("utf-8")


# -- the upcaster itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "letter"), [("high", "A"), ("normal", "B"), ("low", "C")])
def test_v1_priority_words_become_letters(word: str, letter: str) -> None:
    version, data = upcast("message.sent", 1, v1_data(priority=word))
    assert version == 2
    assert data["priority"] == letter


@pytest.mark.parametrize("word", [None, "urgent", 3])
def test_v1_unknown_or_missing_priority_becomes_none(word: Any) -> None:
    _, data = upcast("message.sent", 1, v1_data(priority=word))
    assert data["priority"] is None


def test_v1_body_becomes_text_and_reply_to_becomes_the_thread() -> None:
    parent = "msg-20250615-110000-0000cafe"
    version, data = upcast("message.sent", 1, v1_data(reply_to=parent))
    assert version == 2
    assert data == {
        "id": V1_ID,
        "from": "gregor",
        "to": "tex",
        "text": "Release notes are ready for review",
        "priority": "A",
        "reply_to": parent,
        "thread": parent,
    }


def test_upcasting_does_not_change_the_stored_dict() -> None:
    original = v1_data()
    snapshot = json.loads(json.dumps(original))
    upcast_message_sent_v1_v2(original)
    assert original == snapshot


def test_current_versions_and_other_types_pass_through_unchanged() -> None:
    v2 = {"id": V1_ID, "from": "a", "to": "b", "text": "x"}
    assert upcast("message.sent", 2, v2) == (2, v2)
    assert upcast("message.marked", 1, {"message": V1_ID, "mark": "read"}) == (
        1,
        {"message": V1_ID, "mark": "read"},
    )
    assert upcast("poll.voted", 1, {"subject": "t"}) == (1, {"subject": "t"})


# -- a real v1 event through a store and a user's view ---------------------------------------------


def test_v1_event_ingested_verifies_on_its_stored_bytes_and_decodes_as_v2(gregor, tex) -> None:  # type: ignore[no-untyped-def]
    with gregor.space() as g, tex.space() as t:
        old = v1_event(g.signing_key())
        check_seal(old)
        report = t.store.ingest(parse_lines([line(old)]), NOW + 60_000)
        assert report.rejected == []
        assert [e.id for e in report.accepted] == [old.id]

        stored = next(e for e in t.store.read_since(0) if e.id == old.id)
        # Stored as written: v1, body, the word priority; so id and signature still verify.
        assert stored.v == 1
        assert stored.data == v1_data()
        assert t.store.verify() == []

        payload = t.store.decode(stored)
        assert payload == MessageSent(
            id=V1_ID,
            sender="gregor",
            to="tex",
            text="Release notes are ready for review",
            reply_to=None,
            thread=None,
            priority="A",
        )


def test_v1_event_is_shown_to_its_recipient_in_inbox_and_show(gregor, tex) -> None:  # type: ignore[no-untyped-def]
    with gregor.space() as g:
        old = v1_event(g.signing_key())
    path = tex.root.parent / "old-export.jsonl"
    path.write_bytes(line(old))
    imported = tex.cli("import", str(path), "--json")
    assert imported.code == 0, imported.err + imported.out
    assert json.loads(imported.out)["data"]["accepted"] == 1

    inbox = tex.cli("inbox", "--json")
    assert inbox.code == 0, inbox.err
    items = json.loads(inbox.out)["data"]
    assert [(m["id"], m["from"], m["text"], m["priority"]) for m in items] == [
        (V1_ID, "gregor", "Release notes are ready for review", "A")
    ]

    shown = tex.cli("show", V1_ID[-8:], "--json")
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)["data"]
    assert data["text"] == "Release notes are ready for review"
    assert data["priority"] == "A"
    assert data["status"] == "unread"

    # The rendered org view carries it too.
    inbox_org = tex.read("inbox.org")
    assert "Release notes are ready for review" in inbox_org
    assert V1_ID in inbox_org

    verify = tex.cli("verify", "--json")
    assert verify.code == 0, verify.out
    assert json.loads(verify.out)["data"]["problems"] == []


def test_v1_reply_is_read_with_its_parent_as_thread_root(gregor, tex) -> None:  # type: ignore[no-untyped-def]
    parent_id = "msg-20250615-110000-0000cafe"
    with gregor.space() as g, tex.space() as t:
        key = g.signing_key()
        first = v1_event(key, id=parent_id, body="first")
        second = v1_event(key, seq=2, prev=first.id, reply_to=parent_id, body="second")
        report = t.store.ingest(parse_lines([line(first), line(second)]), NOW + 60_000)
        assert report.rejected == []
        decoded = t.store.decode(report.accepted[1])
        assert isinstance(decoded, MessageSent)
        assert (decoded.reply_to, decoded.thread, decoded.text) == (parent_id, parent_id, "second")


def test_thread_of_a_v1_conversation_lists_the_v1_reply(gregor, tex) -> None:  # type: ignore[no-untyped-def]
    """``thread`` must read old replies the way ``decode`` does (reply_to is the thread root)."""
    parent_id = "msg-20250615-110000-0000cafe"
    with gregor.space() as g:
        key = g.signing_key()
        first = v1_event(key, id=parent_id, body="first")
        second = v1_event(key, seq=2, prev=first.id, reply_to=parent_id, body="second")
    path = tex.root.parent / "old-export.jsonl"
    path.write_bytes(line(first) + line(second))
    assert tex.cli("import", str(path)).code == 0
    result = tex.cli("thread", parent_id, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)["data"]
    assert data["root"] == parent_id
    assert [m["text"] for m in data["messages"]] == ["first", "second"]


def test_v1_event_with_invalid_content_is_rejected_after_upcasting(gregor, tex) -> None:  # type: ignore[no-untyped-def]
    with gregor.space() as g, tex.space() as t:
        bad = v1_event(g.signing_key(), body="   ")
        report = t.store.ingest(parse_lines([line(bad)]), NOW + 60_000)
        assert report.accepted == []
        assert [n for n, _ in report.rejected] == [1]
        assert "text" in report.rejected[0][1]
