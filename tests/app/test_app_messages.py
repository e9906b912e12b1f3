"""Message behaviour users rely on, through the real CLI: reply threads, personal marks, archiving,
id prefixes, the settings' time zone, and views that hold only the user's own messages."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orgparse
import pytest

from datacore_msg.app import messages
from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.projections.render import FILE_HEADER
from datacore_msg.projections.timefmt import org_inactive


def sent_id(result: Any) -> str:
    assert result.code == 0, result
    return str(json.loads(result.out)["data"]["id"])


def send(inst: Any, to: str, text: str, *extra: str) -> str:
    return sent_id(inst.cli("send", to, text, "--json", *extra))


def reply(inst: Any, ref: str, text: str) -> str:
    return sent_id(inst.cli("reply", ref, text, "--json"))


def carry(src: Any, dst: Any) -> None:
    """Everything ``src`` holds, exported and imported into ``dst`` (through the CLI)."""
    exported = src.cli("export", "-")
    assert exported.code == 0, exported
    imported = dst.cli("import", "-", stdin=exported.out.encode("utf-8"))
    assert imported.code == 0, imported


def entries(inst: Any, name: str) -> dict[str, Any]:
    """The org entries of a view file by message id (orgparse nodes)."""
    root = orgparse.load(str(inst.views / name))
    return {node.properties["ID"]: node for node in root[1:]}


def show(inst: Any, ref: str) -> dict[str, Any]:
    result = inst.cli("show", ref, "--json")
    assert result.code == 0, result
    data: dict[str, Any] = json.loads(result.out)["data"]
    return data


# -- threads -----------------------------------------------------------------------------------


def test_replies_carry_reply_to_the_parent_and_thread_the_root(gregor: Any, tex: Any) -> None:
    root = send(gregor, "@tex", "root question")
    carry(gregor, tex)
    first = reply(tex, root, "first answer")
    carry(tex, gregor)
    second = reply(gregor, first, "follow-up")
    carry(gregor, tex)
    third = reply(tex, second, "last word")
    carry(tex, gregor)

    assert show(gregor, root)["reply_to"] is None and show(gregor, root)["thread"] is None
    for child, parent in ((first, root), (second, first), (third, second)):
        for inst in (gregor, tex):
            data = show(inst, child)
            assert (data["reply_to"], data["thread"]) == (parent, root)
    # reply goes to the other party, whoever wrote the parent
    assert show(gregor, first)["to"] == "gregor" and show(gregor, second)["to"] == "tex"
    # and the views carry the same properties, in the right file
    inbox, outbox = entries(gregor, "inbox.org"), entries(gregor, "outbox.org")
    assert set(inbox) == {first, third} and set(outbox) == {root, second}
    assert "REPLY_TO" not in outbox[root].properties
    assert "THREAD" not in outbox[root].properties
    assert inbox[third].properties["REPLY_TO"] == second
    assert inbox[third].properties["THREAD"] == root
    assert outbox[second].properties["REPLY_TO"] == first
    assert outbox[second].properties["THREAD"] == root
    assert list(outbox[second].properties) == ["ID", "FROM", "TO", "REPLY_TO", "THREAD", "CREATED"]


def test_thread_lists_the_whole_thread_and_marks_the_asked_message(gregor: Any, tex: Any) -> None:
    root = send(gregor, "@tex", "root")
    other = send(gregor, "@tex", "another thread")
    carry(gregor, tex)
    answer = reply(tex, root, "answer")
    carry(tex, gregor)
    follow = reply(gregor, answer, "follow")

    for asked in (root, answer, follow):
        result = gregor.cli("thread", asked, "--json")
        assert result.code == 0
        data = json.loads(result.out)["data"]
        assert data["root"] == root and data["asked"] == asked
        assert [m["id"] for m in data["messages"]] == [root, answer, follow]
        assert other not in result.out
    text = gregor.cli("thread", answer)
    assert text.code == 0
    marked = [line for line in text.out.splitlines() if line.startswith(("> ", "  msg-"))]
    assert marked == [f"  {root}  (sent)", f"> {answer}  (unread)", f"  {follow}  (sent)"]


# -- marks -------------------------------------------------------------------------------------


def test_a_mark_changes_only_the_marking_users_views(gregor: Any, tex: Any) -> None:
    tex.pin(gregor)  # an unpinned sender's entry carries the tag "unverified" (tests/security)
    message = send(gregor, "@tex", "please read")
    carry(gregor, tex)
    gregor_before = {name: gregor.read(name) for name in ("inbox.org", "outbox.org")}
    tex_outbox_before = tex.read("outbox.org")

    node = entries(tex, "inbox.org")[message]
    assert node.todo == "TODO" and node.shallow_tags == {"unread", "message"}
    assert tex.cli("mark", message, "read").code == 0
    node = entries(tex, "inbox.org")[message]
    assert node.todo == "DONE" and node.shallow_tags == {"message"}
    assert tex.read("outbox.org") == tex_outbox_before

    carry(tex, gregor)  # gregor now holds tex's mark ...
    assert {name: gregor.read(name) for name in gregor_before} == gregor_before  # ... unchanged
    assert show(gregor, message)["status"] == "sent"
    assert show(tex, message)["status"] == "read"

    tex_inbox = tex.read("inbox.org")
    assert gregor.cli("mark", message, "todo").code == 0  # gregor's own mark on his copy
    assert entries(gregor, "outbox.org")[message].todo == "TODO"
    carry(gregor, tex)
    assert tex.read("inbox.org") == tex_inbox


@pytest.mark.parametrize(
    ("mark", "keyword", "tags"),
    [("read", "DONE", {"message"}), ("todo", "TODO", {"message"}), ("done", "DONE", {"message"})],
)
def test_each_mark_renders_its_keyword(
    gregor: Any, tex: Any, mark: str, keyword: str, tags: set[str]
) -> None:
    tex.pin(gregor)  # an unpinned sender's entry carries the tag "unverified" (tests/security)
    message = send(gregor, "@tex", "x")
    carry(gregor, tex)
    result = tex.cli("mark", message, mark, "--json")
    assert result.code == 0
    assert json.loads(result.out)["data"] == {"id": message, "mark": mark, "changed": True}
    node = entries(tex, "inbox.org")[message]
    assert (node.todo, node.shallow_tags) == (keyword, tags)
    again = tex.cli("mark", message, mark)
    assert again.code == 0 and "(already)" in again.out
    listed = json.loads(tex.cli("inbox", "--json").out)["data"]
    assert [m["id"] for m in listed] == ([message] if mark == "todo" else [])
    listed_all = json.loads(tex.cli("inbox", "--all", "--json").out)["data"]
    assert [(m["id"], m["status"]) for m in listed_all] == [(message, mark)]


def test_archive_moves_the_entry_to_the_months_archive_file(gregor: Any, tex: Any) -> None:
    keep = send(gregor, "@tex", "stays")
    gone = send(gregor, "@tex", "goes")
    carry(gregor, tex)
    result = tex.cli("mark", gone, "archive")
    assert result.code == 0, result
    assert set(entries(tex, "inbox.org")) == {keep}
    archives = sorted((tex.views / "archive").glob("*.org_archive"))
    assert len(archives) == 1
    (archive,) = archives
    with tex.space() as space:
        state = messages.load_message(space, gone)
        assert state is not None
        archived_hlc = state.archived_at("tex")
        assert archived_hlc is not None
        month = datetime.fromtimestamp(physical_ms(archived_hlc) / 1000, tz=timezone.utc)
        closed = org_inactive(archived_hlc, space.tz)
    assert archive.name == f"inbox-{month:%Y-%m}.org_archive"
    text = archive.read_text(encoding="utf-8")
    # the header (an Emacs mode line may come first), then the entry, ARCHIVED and CLOSED
    lines = text.splitlines()
    header = lines.index(FILE_HEADER.rstrip("\n"))
    assert header <= 1
    assert lines[header + 1].startswith("* ARCHIVED [")
    assert lines[header + 2] == f"  CLOSED: {closed}"
    node = orgparse.load(str(archive))[1]
    assert node.todo == "ARCHIVED" and node.properties["ID"] == gone
    assert node.closed.start is not None
    # the sender's outbox is not archived: marks are personal
    carry(tex, gregor)
    assert set(entries(gregor, "outbox.org")) == {keep, gone}
    assert not any((gregor.views / "archive").glob("*.org_archive"))
    assert tex.cli("rebuild", "--check").code == 0


def test_an_archived_message_is_final(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "x")
    carry(gregor, tex)
    assert tex.cli("mark", message, "archive").code == 0
    snapshot = {p: p.read_bytes() for p in tex.views.rglob("*") if p.is_file()}
    for how in ("read", "todo", "done"):
        result = tex.cli("mark", message, how)
        assert result.code == 6, result
        assert "archived" in result.err
        as_json = tex.cli("mark", message, how, "--json")
        assert as_json.code == 6
        assert json.loads(as_json.out)["error"]["code"] == "transition"
    again = tex.cli("mark", message, "archive")
    assert again.code == 0 and "(already)" in again.out
    assert {p: p.read_bytes() for p in tex.views.rglob("*") if p.is_file()} == snapshot
    assert len(json.loads(tex.cli("log", "--json").out)["data"]) == 2


def test_time_zone_of_the_archive_month_is_the_users(make_installation: Any) -> None:
    """An archive made at 23:30 UTC on 31 January is filed under February in Tokyo."""
    tokyo = make_installation("gregor", tz="Asia/Tokyo", label="tokyo")
    utc = make_installation("gregor", tz="UTC", label="utc")
    moment = int(datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc).timestamp() * 1000)
    ids = []
    for inst in (tokyo, utc):
        with inst.space(clock=lambda: moment) as space:
            ids.append(messages.send(space, "@gregor", "x").message_id)
            messages.mark(space, ids[-1], "archive")
    assert sorted(p.name for p in (tokyo.views / "archive").iterdir()) == [
        "inbox-2026-02.org_archive",
        "outbox-2026-02.org_archive",
    ]
    assert sorted(p.name for p in (utc.views / "archive").iterdir()) == [
        "inbox-2026-01.org_archive",
        "outbox-2026-01.org_archive",
    ]
    archived = (tokyo.views / "archive" / "inbox-2026-02.org_archive").read_text()
    assert "CLOSED: [2026-02-01 Sun 08:30]" in archived


# -- id prefixes -------------------------------------------------------------------------------


def test_a_unique_prefix_finds_the_message(gregor: Any) -> None:
    message = send(gregor, "@tex", "x")
    hex_part = message.rsplit("-", 1)[1]
    for ref in (message, hex_part[:4], hex_part, message[:-2], f"  {hex_part[:5]}  "):
        assert show(gregor, ref)["id"] == message


def test_an_ambiguous_prefix_lists_the_candidates_and_exits_5(gregor: Any) -> None:
    ids = [send(gregor, "@tex", f"m{i}") for i in range(3)]
    result = gregor.cli("mark", "msg-", "read")
    assert result.code == 5, result
    for message in ids:
        assert message in result.err
    as_json = gregor.cli("show", "msg-", "--json")
    assert as_json.code == 5
    error = json.loads(as_json.out)["error"]
    assert error["code"] == "ambiguous"
    assert all(message in error["message"] for message in ids)
    # nothing was marked
    assert all(show(gregor, message)["status"] == "sent" for message in ids)


def test_an_unknown_id_exits_4(gregor: Any) -> None:
    send(gregor, "@tex", "x")
    for command in (("show", "ffffffff"), ("mark", "ffffffff", "read"), ("reply", "zz", "t")):
        result = gregor.cli(*command)
        assert result.code == 4, (command, result)


# -- time zone from the settings, not the machine ----------------------------------------------


def test_views_use_the_settings_time_zone_whatever_the_machine_tz(
    make_installation: Any, introduce: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    laptop = make_installation("gregor", tz="Europe/Ljubljana", label="laptop")
    desktop = make_installation("gregor", tz="Europe/Ljubljana", label="desktop")
    introduce(laptop, desktop, tier="owner")
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    result = laptop.run("send", "@tex", "hello", "--json")
    assert result.code == 0, result.err
    message = json.loads(result.out)["data"]["id"]
    export = tmp_path / "events.jsonl"
    assert laptop.run("export", str(export)).code == 0
    monkeypatch.setenv("TZ", "America/Adak")  # UTC-10 (-9 in summer)
    imported = desktop.run("import", str(export))
    assert imported.code == 0, imported.err
    assert laptop.read("outbox.org") == desktop.read("outbox.org")
    with laptop.space() as space:
        state = messages.load_message(space, message)
        assert state is not None
        moment = datetime.fromtimestamp(physical_ms(state.sent_hlc) / 1000, tz=timezone.utc)
    local = moment.astimezone(ZoneInfo("Europe/Ljubljana"))
    stamp = f"[{local:%Y-%m-%d} {local:%a} {local:%H:%M}]"
    outbox = laptop.read("outbox.org")
    assert f"* DONE {stamp} :message:" in outbox
    assert f":CREATED:  {stamp}" in outbox
    # the CLI's own listing of times uses the settings' zone too
    shown = json.loads(desktop.run("show", message, "--json").out)["data"]
    assert shown["created"] == local.isoformat(timespec="seconds")


# -- views belong to one user ------------------------------------------------------------------


def test_a_message_between_two_others_appears_in_neither_of_the_users_views(
    gregor: Any, tex: Any, make_installation: Any
) -> None:
    alice = make_installation("alice", tz="UTC")
    mine = send(gregor, "@tex", "for tex")
    carry(gregor, tex)
    private = send(tex, "@alice", "between tex and alice")
    from_alice = send(alice, "@tex", "alice to tex")
    carry(alice, tex)
    before = {name: gregor.read(name) for name in ("inbox.org", "outbox.org")}
    carry(tex, gregor)  # gregor now holds tex's and alice's events too
    assert {name: gregor.read(name) for name in before} == before
    files = sorted(p.relative_to(gregor.views).as_posix() for p in gregor.views.rglob("*.org*"))
    assert files == ["agents/gregor-claude.org", "inbox.org", "outbox.org"]
    everything = "".join(p.read_text() for p in gregor.views.rglob("*") if p.is_file())
    assert private not in everything and from_alice not in everything
    assert mine in everything
    for ref in (private, from_alice):
        assert gregor.cli("show", ref).code == 4
        assert gregor.cli("mark", ref, "read").code == 4
        assert gregor.cli("thread", ref).code == 4
    listed = json.loads(gregor.cli("inbox", "--all", "--json").out)["data"]
    assert listed == []
    log = json.loads(gregor.cli("log", "--json").out)["data"]
    assert len(log) == 3  # the audit trail holds them all; the views do not
    assert gregor.cli("rebuild", "--check").code == 0


def test_a_message_to_oneself_is_in_both_views(gregor: Any) -> None:
    message = send(gregor, "@gregor", "reminder")
    assert message in gregor.read("inbox.org") and message in gregor.read("outbox.org")
    assert re.search(r"^\* TODO \[.*\] :unread:message:$", gregor.read("inbox.org"), re.M)
    assert re.search(r"^\* DONE \[.*\] :message:$", gregor.read("outbox.org"), re.M)


def test_a_prefix_unique_among_the_users_messages_finds_it_among_many_others(gregor: Any, tex: Any) -> None:
    """Messages between others held in the log (imported) do not hide the user's own message,
    however many of them match the prefix and sort before it."""
    january = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
    june = int(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp() * 1000)
    with tex.space(clock=lambda: january) as space:
        for i in range(520):  # more than any fixed cap on the candidates looked at
            messages.send(space, "@alice", f"not for gregor {i}")
    carry(tex, gregor)
    with gregor.space(clock=lambda: june) as space:
        mine = messages.send(space, "@tex", "mine").message_id
    assert mine.startswith("msg-20260601-")
    assert show(gregor, "msg-2026")["id"] == mine
    assert gregor.cli("mark", "msg-", "todo").code == 0
    assert show(gregor, mine)["status"] == "todo"


def test_a_hex_prefix_matches_the_random_part_not_the_date_or_time(gregor: Any) -> None:
    """``1054`` is the start of one message's random part; another message was merely sent at
    10:54 -- that one must not make the prefix ambiguous (nor must every message of 2026 for
    ``2026``)."""
    wanted = "msg-20260101-090000-10540000"
    decoys = ["msg-20260101-105400-abcdef01", "msg-20260102-090000-2026beef"]
    with gregor.space() as space:
        for message_id in (wanted, *decoys):
            payload = MessageSent(id=message_id, sender="gregor", to="tex", text="x")
            space.store.append(space.signing_key(), space.user, payload, space.clock())
    assert show(gregor, "1054")["id"] == wanted
    assert show(gregor, "2026b")["id"] == decoys[1]
    assert show(gregor, "2026")["id"] == decoys[1]
