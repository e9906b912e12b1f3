"""``--json``: one JSON document on stdout in a versioned envelope, for results and errors alike.

Success: ``{"version": 1, "ok": true, "data": ...}``; error: ``{"version": 1, "ok": false,
"error": {"code": ..., "message": ...}}`` with the typed exit status and nothing on stderr.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import BY_CODE, Exit

MESSAGE_ID = re.compile(r"msg-\d{8}-\d{6}-[0-9a-f]{8}")
HEX64 = re.compile(r"[0-9a-f]{64}")
MESSAGE_KEYS = {"id", "from", "to", "text", "reply_to", "thread", "priority", "status", "created"}
EVENT_KEYS = {
    "position",
    "id",
    "time",
    "physical_ms",
    "actor",
    "origin",
    "seq",
    "type",
    "v",
    "data",
    "superseded",
}


@pytest.fixture(autouse=True)
def _no_state_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """$DATACORE_MSG_STATE would send every test installation to one state folder."""
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)


def data_of(result: Any) -> Any:
    """The ``data`` of a successful --json result (and the envelope checked on the way)."""
    assert result.code == 0, result
    assert result.out.endswith("\n") and result.out.count("\n") == 1, result.out
    envelope = json.loads(result.out)
    assert set(envelope) == {"version", "ok", "data"}, envelope
    assert envelope["version"] == 1
    assert envelope["ok"] is True
    return envelope["data"]


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def error_of(result: Any, code: int) -> dict[str, Any]:
    assert result.code == code, result
    assert result.err == "", result.err
    envelope = json.loads(result.out)
    assert set(envelope) == {"version", "ok", "error"}, envelope
    assert envelope["version"] == 1
    assert envelope["ok"] is False
    error = envelope["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert BY_CODE.get(error["code"]) == code, error
    return dict(error)


def public_key(inst: Any) -> str:
    with inst.space() as sp:
        return str(sp.signing_key().public_hex)


def send(inst: Any, *args: str, stdin: bytes = b"") -> str:
    data = data_of(inst.cli("send", *args, "--json", stdin=stdin))
    return str(data["id"])


def carry(src: Any, dst: Any) -> None:
    """Move every event of ``src`` to ``dst`` by ``export -`` / ``import -``."""
    exported = src.cli("export", "-")
    assert exported.code == 0, exported
    imported = dst.cli("import", "-", stdin=exported.out.encode("utf-8"))
    assert imported.code == 0, imported


# -- results -------------------------------------------------------------------------------------


def test_send_json_gives_the_message_id_and_its_event(gregor: Any) -> None:
    data = data_of(gregor.cli("send", "@tex", "hello", "--priority", "A", "--json"))
    assert set(data) == {"id", "event"}
    assert MESSAGE_ID.fullmatch(data["id"])
    assert HEX64.fullmatch(data["event"])
    log = data_of(gregor.cli("log", "--json"))
    assert [(e["id"], e["type"], e["data"]["id"]) for e in log] == [
        (data["event"], "message.sent", data["id"])
    ]


def test_reply_json_threads_under_the_root(gregor: Any, tex: Any) -> None:
    root = send(gregor, "@tex", "question")
    carry(gregor, tex)
    data = data_of(tex.cli("reply", root, "answer", "--json"))
    assert set(data) == {"id", "event", "from", "to", "reply_to", "completed"}
    assert MESSAGE_ID.fullmatch(data["id"])
    assert (data["from"], data["to"], data["reply_to"], data["completed"]) == ("tex", "gregor", root, None)
    shown = data_of(tex.cli("show", data["id"], "--json"))
    assert shown["reply_to"] == root
    assert shown["thread"] == root
    assert (shown["from"], shown["to"]) == ("tex", "gregor")
    # a reply to the reply stays in the root's thread
    carry(tex, gregor)
    again = data_of(gregor.cli("reply", data["id"], "thanks", "--json"))
    shown = data_of(gregor.cli("show", again["id"], "--json"))
    assert shown["reply_to"] == data["id"]
    assert shown["thread"] == root


def test_inbox_json_lists_messages_with_their_status(gregor: Any, tex: Any) -> None:
    tex.pin(gregor)  # an unpinned sender adds "verified" and "looks_like" (tests/security)
    first = send(gregor, "@tex", "one")
    second = send(gregor, "@tex", "two\nlines", "--priority", "B")
    carry(gregor, tex)
    items = data_of(tex.cli("inbox", "--json"))
    assert [item["id"] for item in items] == [first, second]
    for item in items:
        assert set(item) == MESSAGE_KEYS
        assert (item["from"], item["to"], item["status"]) == ("gregor", "tex", "unread")
        assert item["created"].endswith("+00:00")  # tex's views are in UTC
    assert items[1]["text"] == "two\nlines"
    assert items[1]["priority"] == "B"
    assert items[0]["priority"] is None
    ok(tex.cli("mark", first, "read"))
    assert [item["id"] for item in data_of(tex.cli("inbox", "--json"))] == [second]
    everything = data_of(tex.cli("inbox", "--all", "--json"))
    assert [(i["id"], i["status"]) for i in everything] == [(first, "read"), (second, "unread")]


def test_inbox_json_is_an_empty_list_when_nothing_is_there(gregor: Any) -> None:
    assert data_of(gregor.cli("inbox", "--json")) == []
    assert data_of(gregor.cli("inbox", "--all", "--json")) == []


def test_show_json_uses_the_users_time_zone(gregor: Any) -> None:
    message = send(gregor, "@tex", "hi")
    shown = data_of(gregor.cli("show", message, "--json"))
    assert set(shown) == MESSAGE_KEYS
    assert shown["id"] == message
    assert shown["status"] == "sent"
    # gregor's settings say Europe/Ljubljana: +01:00 in winter, +02:00 in summer
    assert re.search(r"\+0[12]:00$", shown["created"]), shown["created"]


def test_show_json_by_unique_prefix(gregor: Any) -> None:
    message = send(gregor, "@tex", "hi")
    suffix = message.rsplit("-", 1)[1]
    assert data_of(gregor.cli("show", suffix[:6], "--json"))["id"] == message
    assert data_of(gregor.cli("show", message[:-2], "--json"))["id"] == message


def test_thread_json_names_root_and_asked(gregor: Any, tex: Any) -> None:
    gregor.pin(tex)  # an unpinned sender adds "verified" and "looks_like" (tests/security)
    root = send(gregor, "@tex", "question")
    carry(gregor, tex)
    answer = data_of(tex.cli("reply", root, "answer", "--json"))["id"]
    carry(tex, gregor)
    data = data_of(gregor.cli("thread", answer, "--json"))
    assert set(data) == {"root", "asked", "messages"}
    assert data["root"] == root
    assert data["asked"] == answer
    assert [m["id"] for m in data["messages"]] == [root, answer]
    assert [m["status"] for m in data["messages"]] == ["sent", "unread"]
    assert all(set(m) == MESSAGE_KEYS for m in data["messages"])


def test_log_json_names_actor_type_and_origin(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    ok(tex.cli("mark", message, "todo"))
    events = data_of(tex.cli("log", "--json"))
    assert [(e["actor"], e["type"], e["origin"], e["seq"]) for e in events] == [
        ("gregor", "message.sent", public_key(gregor), 1),
        ("tex", "message.marked", public_key(tex), 1),
    ]
    for event in events:
        assert set(event) == EVENT_KEYS
        assert HEX64.fullmatch(event["id"])
        assert event["time"].endswith("+00:00")
        assert isinstance(event["physical_ms"], int)
    assert events[0]["data"]["id"] == message
    assert events[0]["data"]["text"] == "hello"
    assert events[1]["data"] == {"message": message, "mark": "todo"}
    assert events[0]["position"] < events[1]["position"]


def test_log_json_filters(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    ok(tex.cli("mark", message, "read"))
    ok(tex.cli("mark", message, "done"))
    by_tex = data_of(tex.cli("log", "--actor", "tex", "--json"))
    assert [e["data"]["mark"] for e in by_tex] == ["read", "done"]
    sent = data_of(tex.cli("log", "--type", "message.sent", "--json"))
    assert [e["actor"] for e in sent] == ["gregor"]
    last = data_of(tex.cli("log", "--limit", "1", "--json"))
    assert [e["data"].get("mark") for e in last] == ["done"]
    assert data_of(tex.cli("log", "--actor", "nobody", "--json")) == []


def test_mark_json_says_whether_it_changed(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    assert data_of(tex.cli("mark", message, "read", "--json")) == {
        "id": message,
        "mark": "read",
        "changed": True,
    }
    assert data_of(tex.cli("mark", message, "read", "--json")) == {
        "id": message,
        "mark": "read",
        "changed": False,
    }


def test_verify_json_counts_events_and_lists_no_problems(gregor: Any) -> None:
    send(gregor, "@tex", "one")
    send(gregor, "@tex", "two")
    assert data_of(gregor.cli("verify", "--json")) == {"events": 2, "problems": []}


def test_migrate_json_lists_applied_migrations(gregor: Any) -> None:
    for extra in ((), ("--status",)):
        data = data_of(gregor.cli("migrate", *extra, "--json"))
        assert data["applied_now"] == []
        names = [name for name, _ in data["migrations"]]
        assert names[:2] == ["0001_events", "0002_view_cache"]
        assert all(applied_at for _, applied_at in data["migrations"])


def test_rebuild_json_lists_written_and_differing_files(gregor: Any) -> None:
    send(gregor, "@tex", "hello")
    (gregor.views / "outbox.org").unlink()
    check = gregor.cli("rebuild", "--check", "--json")
    assert check.code == Exit.VIEWS_DIFFER
    assert json.loads(check.out)["data"] == {
        "checked": True,
        "differing": ["outbox.org"],
        "written": [],
    }
    data = data_of(gregor.cli("rebuild", "--json"))
    assert data["checked"] is False and data["differing"] == []
    assert "outbox.org" in data["written"]
    assert data_of(gregor.cli("rebuild", "--check", "--json")) == {
        "checked": True,
        "differing": [],
        "written": [],
    }


def test_import_json_counts_new_and_known_events(gregor: Any, tex: Any) -> None:
    send(gregor, "@tex", "one")
    send(gregor, "@tex", "two")
    lines = gregor.cli("export", "-").out.encode("utf-8")
    first = data_of(tex.cli("import", "-", "--json", stdin=lines))
    assert first == {"accepted": 2, "duplicates": 0, "rejected": []}
    again = data_of(tex.cli("import", "-", "--json", stdin=lines))
    assert again == {"accepted": 0, "duplicates": 2, "rejected": []}


def test_json_carries_text_exactly(gregor: Any) -> None:
    text = "\x1b[31mred\x1b[0m \u202egnp.exe\u202c tab\there\r\nline two \u2028 ✓ 🙂\x00end"
    message = send(gregor, "@tex", "-", stdin=text.encode("utf-8"))
    assert data_of(gregor.cli("show", message, "--json"))["text"] == text
    log = data_of(gregor.cli("log", "--json"))
    assert log[0]["data"]["text"] == text


# -- errors --------------------------------------------------------------------------------------

ERRORS = [
    (("show", "msg-nope"), Exit.NOT_FOUND),
    (("thread", "msg-nope"), Exit.NOT_FOUND),
    (("mark", "msg-nope", "read"), Exit.NOT_FOUND),
    (("reply", "msg-nope", "hi"), Exit.NOT_FOUND),
    (("send", "@tex", ""), Exit.INVALID_INPUT),
    (("send", "@bad name", "hi"), Exit.INVALID_INPUT),
    (("log", "--since", "garbage"), Exit.INVALID_INPUT),
    (("log", "--limit", "0"), Exit.INVALID_INPUT),
    (("import", "/no/such/file.jsonl"), Exit.INVALID_INPUT),
    (("inbox", "--space", ".hidden"), Exit.INVALID_INPUT),
]


@pytest.mark.parametrize(("args", "code"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_errors_with_json_are_json_on_stdout(gregor: Any, args: tuple[str, ...], code: int) -> None:
    error_of(gregor.cli(*args, "--json"), code)


def test_ambiguous_json_error_lists_candidates(gregor: Any) -> None:
    first = send(gregor, "@tex", "one")
    second = send(gregor, "@tex", "two")
    error = error_of(gregor.cli("show", "msg-", "--json"), Exit.AMBIGUOUS)
    assert first in error["message"] and second in error["message"]


def test_transition_json_error(gregor: Any) -> None:
    message = send(gregor, "@tex", "one")
    data_of(gregor.cli("mark", message, "archive", "--json"))
    error = error_of(gregor.cli("mark", message, "todo", "--json"), Exit.TRANSITION)
    assert error["code"] == "transition"


def test_key_json_error(gregor: Any) -> None:
    (gregor.state / "signing.key").unlink()
    error = error_of(gregor.cli("send", "@tex", "hi", "--json"), Exit.KEY)
    assert str(gregor.state / "signing.key") in error["message"]


def test_config_json_error(gregor: Any) -> None:
    settings = gregor.root / ".datacore" / "settings.local.yaml"
    settings.write_text("identity: [\n", encoding="utf-8")
    error = error_of(gregor.cli("inbox", "--json"), Exit.CONFIG)
    assert "settings.local.yaml:" in error["message"]


def test_import_rejected_json_error_lists_lines(gregor: Any, tex: Any) -> None:
    send(gregor, "@tex", "one")
    send(gregor, "@tex", "two")
    lines = gregor.cli("export", "-").out.splitlines(keepends=True)
    data = "".join(reversed(lines)).encode("utf-8")
    error = error_of(tex.cli("import", "-", "--json", stdin=data), Exit.IMPORT_REJECTED)
    assert [(r["line"], "predecessor" in r["reason"]) for r in error["rejected"]] == [(1, True)]


def test_a_word_json_inside_text_is_not_the_json_flag(gregor: Any) -> None:
    """``--json`` as message text (after ``--``) must not turn a human error into JSON."""
    result = gregor.cli("send", "@bad name", "--", "--json")
    assert result.code == Exit.INVALID_INPUT
    assert result.out == ""
    assert result.err.startswith("datacore-msg: error: ")
