"""The commands as a user runs them: what each prints, and what it changes.

Two installations (gregor in Europe/Ljubljana, tex in UTC) exchange events by ``export`` /
``import``, the way the README shows before a relay exists.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.app import messages
from datacore_msg.cli.exit_codes import Exit
from datacore_msg.cli.main import main
from datacore_msg.eventlog.names import MAX_TEXT_BYTES

SENT = re.compile(r"^Sent: (msg-\d{8}-\d{6}-[0-9a-f]{8})\n$")


@pytest.fixture(autouse=True)
def _no_state_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """$DATACORE_MSG_STATE would send every test installation to one state folder."""
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def send(inst: Any, *args: str, stdin: bytes = b"") -> str:
    result = ok(inst.cli("send", *args, stdin=stdin))
    match = SENT.match(result.out)
    assert match, result.out
    return match.group(1)


def reply(inst: Any, *args: str) -> str:
    result = ok(inst.cli("reply", *args))
    match = SENT.match(result.out)
    assert match, result.out
    return match.group(1)


def carry(src: Any, dst: Any) -> str:
    exported = ok(src.cli("export", "-"))
    return str(ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8"))).out)


def count(inst: Any) -> int:
    with inst.space() as sp:
        return int(sp.store.count())


def inbox_ids(inst: Any, *extra: str) -> list[str]:
    out = ok(inst.cli("inbox", *extra)).out
    return [line.split()[0] for line in out.splitlines() if line.startswith("msg-")]


# -- send, reply, inbox --------------------------------------------------------------------------


def test_send_prints_the_new_id_and_stores_one_event(gregor: Any) -> None:
    before = count(gregor)
    message = send(gregor, "@tex", "hello")
    assert count(gregor) == before + 1
    assert message in gregor.read("outbox.org")


def test_send_accepts_a_name_without_at(gregor: Any) -> None:
    message = send(gregor, "tex", "hello")
    assert "  to:       tex" in ok(gregor.cli("show", message)).out


def test_send_reads_standard_input_for_dash(gregor: Any) -> None:
    text = "line one\nline two\n"
    message = send(gregor, "@tex", "-", stdin=text.encode("utf-8"))
    assert json.loads(ok(gregor.cli("show", message, "--json")).out)["data"]["text"] == text


def test_send_accepts_text_of_exactly_64_kib(gregor: Any) -> None:
    send(gregor, "@tex", "x" * MAX_TEXT_BYTES)
    send(gregor, "@tex", "-", stdin=b"y" * MAX_TEXT_BYTES)


def test_inbox_lists_unread_and_todo_only(gregor: Any, tex: Any) -> None:
    ids = [send(gregor, "@tex", f"message {n}") for n in range(5)]
    carry(gregor, tex)
    assert inbox_ids(tex) == ids
    ok(tex.cli("mark", ids[0], "read"))
    ok(tex.cli("mark", ids[1], "todo"))
    ok(tex.cli("mark", ids[2], "done"))
    ok(tex.cli("mark", ids[3], "archive"))
    assert inbox_ids(tex) == [ids[1], ids[4]]
    assert inbox_ids(tex, "--all") == ids
    lines = ok(tex.cli("inbox", "--all")).out.splitlines()
    statuses = [line.split()[4] for line in lines]
    assert statuses == ["read", "todo", "done", "archived", "unread"]


def test_inbox_line_shows_sender_recipient_priority_and_first_line(gregor: Any, tex: Any) -> None:
    tex.pin(gregor)  # an unpinned sender is labelled "(unverified)" (tests/security)
    message = send(gregor, "@tex", "first line\nsecond line", "--priority", "A")
    carry(gregor, tex)
    (line,) = ok(tex.cli("inbox")).out.splitlines()
    assert line.startswith(f"{message}  [")
    assert "unread" in line
    assert "gregor → tex [#A]: first line" in line
    assert "second line" not in line


def test_inbox_lists_only_messages_to_me(gregor: Any, tex: Any) -> None:
    send(gregor, "@tex", "to tex")
    assert ok(gregor.cli("inbox")).out == "Nothing unread.\n"
    assert ok(gregor.cli("inbox", "--all")).out == "No messages.\n"


def test_inbox_shows_times_in_the_users_zone(gregor: Any, tex: Any) -> None:
    message = send(tex, "@gregor", "hi")
    carry(tex, gregor)
    gregor_time = ok(gregor.cli("show", message)).out.split("created:  ")[1][:23]
    tex_time = ok(tex.cli("show", message)).out.split("created:  ")[1][:23]
    assert gregor_time != tex_time  # Ljubljana is UTC+1 or +2, never UTC


def test_reply_goes_to_the_other_party_in_the_same_thread(gregor: Any, tex: Any) -> None:
    question = send(gregor, "@tex", "question?")
    carry(gregor, tex)
    answer = reply(tex, question, "answer.")
    carry(tex, gregor)
    assert inbox_ids(gregor) == [answer]
    block = ok(gregor.cli("show", answer)).out
    assert "  from:     tex" in block and "  to:       gregor" in block
    assert f"  reply to: {question}" in block
    assert f"  thread:   {question}" in block


def test_reply_reads_standard_input_for_dash(gregor: Any) -> None:
    question = send(gregor, "@tex", "question?")
    result = ok(gregor.cli("reply", question, "-", "--json", stdin=b"from stdin"))
    answer = json.loads(result.out)["data"]["id"]
    shown = json.loads(ok(gregor.cli("show", answer, "--json")).out)["data"]
    assert shown["text"] == "from stdin"
    assert shown["to"] == "tex"  # replying to my own message goes to its recipient


def test_send_reply_to_by_unique_prefix(gregor: Any) -> None:
    first = send(gregor, "@tex", "first")
    hexpart = first.rsplit("-", 1)[1]
    follow = send(gregor, "@tex", "second", "--reply-to", hexpart[:5])
    assert f"  reply to: {first}" in ok(gregor.cli("show", follow)).out


# -- show and thread -----------------------------------------------------------------------------


def test_show_prints_the_whole_message(gregor: Any) -> None:
    message = send(gregor, "@tex", "line one\nline two", "--priority", "C")
    out = ok(gregor.cli("show", message)).out
    assert out.splitlines()[:3] == [f"{message}  (sent)", "  from:     gregor", "  to:       tex"]
    assert re.search(r"  created:  \[\d{4}-\d\d-\d\d \w{3} \d\d:\d\d\]", out)
    assert "  priority: C" in out
    assert out.endswith("\n    line one\n    line two\n")


def test_thread_marks_the_asked_message(gregor: Any, tex: Any) -> None:
    question = send(gregor, "@tex", "question?")
    carry(gregor, tex)
    answer = reply(tex, question, "answer.")
    carry(tex, gregor)
    follow = reply(gregor, answer, "thanks!")
    out = ok(gregor.cli("thread", answer)).out
    heads = [line for line in out.splitlines() if "msg-" in line and "(" in line]
    assert heads == [
        f"  {question}  (sent)",
        f"> {answer}  (unread)",
        f"  {follow}  (sent)",
    ]
    asked_root = ok(gregor.cli("thread", question)).out
    assert asked_root.splitlines()[0] == f"> {question}  (sent)"


def test_a_message_alone_is_a_thread_of_one(gregor: Any) -> None:
    message = send(gregor, "@tex", "alone")
    out = ok(gregor.cli("thread", message)).out
    assert out.startswith(f"> {message}  (sent)\n")
    assert out.count("msg-") == 1


# -- mark ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "status"), [("read", "read"), ("todo", "todo"), ("done", "done"), ("archive", "archived")]
)
def test_mark_each_way_and_already(gregor: Any, tex: Any, how: str, status: str) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    before = count(tex)
    assert ok(tex.cli("mark", message, how)).out == f"Marked {message} {how}\n"
    assert count(tex) == before + 1
    assert ok(tex.cli("mark", message, how)).out == f"Marked {message} {how} (already)\n"
    assert count(tex) == before + 1  # repeating a mark stores nothing
    assert f"({status})" in ok(tex.cli("show", message)).out


def test_marks_are_per_user(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    ok(tex.cli("mark", message, "done"))
    carry(tex, gregor)
    assert "(sent)" in ok(gregor.cli("show", message)).out
    assert "(done)" in ok(tex.cli("show", message)).out


def test_marks_move_between_states_until_archived(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    for how in ("read", "todo", "done", "todo", "read", "archive"):
        ok(tex.cli("mark", message, how))
    result = tex.cli("mark", message, "todo")
    assert result.code == Exit.TRANSITION
    assert "archived" in result.err


def test_archived_messages_leave_the_live_view(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    assert message in tex.read("inbox.org")
    ok(tex.cli("mark", message, "archive"))
    assert message not in tex.read("inbox.org")
    archives = list((tex.views / "archive").glob("inbox-*.org_archive"))
    assert len(archives) == 1 and message in archives[0].read_text(encoding="utf-8")


# -- log -----------------------------------------------------------------------------------------


def test_log_shows_who_did_what_from_which_origin(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    ok(tex.cli("mark", message, "read"))
    lines = ok(tex.cli("log")).out.splitlines()
    assert len(lines) == 2
    assert re.match(r"\[\d{4}-\d\d-\d\d \w{3} \d\d:\d\d\]  gregor +message\.sent ", lines[0])
    assert f"{message} → tex" in lines[0]
    assert "tex" in lines[1].split()[3] and "message.marked" in lines[1]
    assert f"{message} read" in lines[1]
    with gregor.space() as sp:
        assert f"(origin {sp.signing_key().public_hex[:12]} #1)" in lines[0]


def test_log_filters_by_actor_and_type(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello")
    carry(gregor, tex)
    ok(tex.cli("mark", message, "read"))
    ok(tex.cli("mark", message, "done"))
    by_tex = ok(tex.cli("log", "--actor", "tex")).out.splitlines()
    assert len(by_tex) == 2 and all("message.marked" in line for line in by_tex)
    by_gregor = ok(tex.cli("log", "--actor", "gregor")).out.splitlines()
    assert len(by_gregor) == 1 and "message.sent" in by_gregor[0]
    sent = ok(tex.cli("log", "--type", "message.sent")).out.splitlines()
    assert len(sent) == 1 and "gregor" in sent[0]
    assert ok(tex.cli("log", "--actor", "nobody")).out == "No events.\n"


def test_log_limit_gives_the_last_events(gregor: Any) -> None:
    ids = [send(gregor, "@tex", f"m{n}") for n in range(4)]
    (last,) = ok(gregor.cli("log", "--limit", "1")).out.splitlines()
    assert ids[-1] in last
    two = ok(gregor.cli("log", "--limit", "2")).out.splitlines()
    assert [ids[2] in two[0], ids[3] in two[1]] == [True, True]


def test_log_since_a_duration_or_a_date(gregor: Any) -> None:
    three_hours_ago = int(time.time() * 1000) - 3 * 3600 * 1000
    with gregor.space(clock=lambda: three_hours_ago) as sp:
        old = messages.send(sp, "@tex", "old news").message_id
    new = send(gregor, "@tex", "fresh")
    recent = ok(gregor.cli("log", "--since", "1h")).out
    assert new in recent and old not in recent
    both = ok(gregor.cli("log", "--since", "4h")).out
    assert new in both and old in both
    assert ok(gregor.cli("log", "--since", "2000-01-01")).out.count("message.sent") == 2
    assert ok(gregor.cli("log", "--since", "2999-01-01T00:00:00+00:00")).out == "No events.\n"


# -- export and import ---------------------------------------------------------------------------


def test_export_to_a_file_and_to_stdout_agree(gregor: Any, tmp_path: Path) -> None:
    ids = [send(gregor, "@tex", f"m{n}") for n in range(3)]
    target = tmp_path / "out.jsonl"
    result = ok(gregor.cli("export", str(target)))
    assert result.out == ""
    assert result.err == f"Exported 3 event(s) to {target}\n"
    written = target.read_text(encoding="utf-8")
    assert [json.loads(line)["data"]["id"] for line in written.splitlines()] == ids
    assert ok(gregor.cli("export", "-")).out == written
    assert not list(tmp_path.glob(".*partial*")), "the temporary file was left behind"


def test_export_since_a_position(gregor: Any) -> None:
    ids = [send(gregor, "@tex", f"m{n}") for n in range(3)]
    out = ok(gregor.cli("export", "-", "--since", "2")).out
    assert [json.loads(line)["data"]["id"] for line in out.splitlines()] == ids[2:]


def test_export_replaces_an_existing_file_whole(gregor: Any, tmp_path: Path) -> None:
    send(gregor, "@tex", "m")
    target = tmp_path / "out.jsonl"
    target.write_text("old content that is longer than the new one\n" * 100, encoding="utf-8")
    ok(gregor.cli("export", str(target)))
    assert target.read_text(encoding="utf-8") == ok(gregor.cli("export", "-")).out


def test_import_from_a_file_is_idempotent(gregor: Any, tex: Any, tmp_path: Path) -> None:
    for n in range(3):
        send(gregor, "@tex", f"m{n}")
    path = tmp_path / "gregor.jsonl"
    ok(gregor.cli("export", str(path)))
    first = ok(tex.cli("import", str(path))).out
    assert first == "Imported 3 new event(s), 0 already present, 0 rejected.\n"
    before = count(tex)
    second = ok(tex.cli("import", str(path))).out
    assert "Imported 0 new event(s), 3 already present" in second
    assert count(tex) == before


def test_import_from_stdin_is_idempotent(gregor: Any, tex: Any) -> None:
    send(gregor, "@tex", "m")
    data = ok(gregor.cli("export", "-")).out.encode("utf-8")
    assert "Imported 1 new event(s)" in ok(tex.cli("import", "-", stdin=data)).out
    assert "Imported 0 new event(s)" in ok(tex.cli("import", "-", stdin=data)).out


def test_import_brings_messages_into_the_inbox_and_views(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", "hello tex")
    carry(gregor, tex)
    assert inbox_ids(tex) == [message]
    assert message in tex.read("inbox.org")
    assert "hello tex" in tex.read("inbox.org")


def test_exchanging_back_and_forth_converges(gregor: Any, tex: Any) -> None:
    question = send(gregor, "@tex", "q")
    carry(gregor, tex)
    reply(tex, question, "a")
    carry(tex, gregor)
    carry(gregor, tex)
    g = json.loads(ok(gregor.cli("log", "--json")).out)["data"]
    t = json.loads(ok(tex.cli("log", "--json")).out)["data"]
    assert [e["id"] for e in g] == [e["id"] for e in t]


# -- migrate, verify, rebuild --------------------------------------------------------------------


def test_migrate_status_lists_the_applied_migrations(gregor: Any) -> None:
    out = ok(gregor.cli("migrate", "--status")).out
    lines = out.splitlines()
    assert lines[0].startswith("0001_events") and " applied " in lines[0]
    assert lines[1].startswith("0002_view_cache") and " applied " in lines[1]
    assert "pending" not in out
    assert "applied now" not in out


def test_migrate_on_an_up_to_date_log_applies_nothing(gregor: Any) -> None:
    out = ok(gregor.cli("migrate")).out
    assert "applied now" not in out
    assert "0001_events" in out


def test_verify_counts_the_events(gregor: Any) -> None:
    assert ok(gregor.cli("verify")).out == "All 0 events verify.\n"
    for n in range(3):
        send(gregor, "@tex", f"m{n}")
    assert ok(gregor.cli("verify")).out == "All 3 events verify.\n"


def test_verify_finds_an_event_edited_behind_the_log(gregor: Any) -> None:
    message = send(gregor, "@tex", "original")
    send(gregor, "@tex", "second")
    db = gregor.state / "spaces" / gregor.space_name / "events.sqlite3"
    conn = sqlite3.connect(db)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute(
            "UPDATE events SET data = replace(data, 'original', 'forged') WHERE subject = ?",
            (message,),
        )
        conn.commit()
    finally:
        conn.close()
    result = gregor.cli("verify")
    assert result.code == Exit.INTEGRITY
    assert "bad event at position 1" in result.out
    assert "id does not match its content" in result.out


def test_rebuild_rewrites_missing_views_byte_for_byte(gregor: Any, tex: Any) -> None:
    send(gregor, "@tex", "out")
    send(tex, "@gregor", "in")
    carry(tex, gregor)
    inbox, outbox = gregor.read("inbox.org"), gregor.read("outbox.org")
    (gregor.views / "inbox.org").unlink()
    (gregor.views / "outbox.org").unlink()
    assert ok(gregor.cli("rebuild")).out == "Rebuilt; 2 file(s) written.\n"
    assert (gregor.read("inbox.org"), gregor.read("outbox.org")) == (inbox, outbox)
    assert ok(gregor.cli("rebuild")).out == "Views up to date.\n"
    assert ok(gregor.cli("rebuild", "--check")).out == "Views match the log.\n"


def test_rebuild_check_reports_a_hand_edit_and_rebuild_keeps_it_aside(gregor: Any) -> None:
    send(gregor, "@tex", "hello")
    outbox = gregor.views / "outbox.org"
    original = outbox.read_text(encoding="utf-8")
    outbox.write_text(original + "* my own note\n", encoding="utf-8")
    check = gregor.cli("rebuild", "--check")
    assert check.code == Exit.VIEWS_DIFFER
    assert check.out == "Views differ from the log: outbox.org\n"
    assert outbox.read_text(encoding="utf-8").endswith("* my own note\n")  # --check writes nothing
    result = ok(gregor.cli("rebuild"))
    assert result.err.startswith("datacore-msg: warning: outbox.org was edited by hand")
    assert outbox.read_text(encoding="utf-8") == original
    (aside,) = gregor.views.glob("outbox.org.edited-*")
    assert aside.read_text(encoding="utf-8").endswith("* my own note\n")


# -- demo ----------------------------------------------------------------------------------------


def run_demo(*args: str) -> str:
    """``datacore-msg demo`` in-process (it takes no --root: it makes its own installations)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(["demo", *args])
    finally:
        sys.stdout, sys.stderr = saved
    assert code == 0, (code, err.getvalue())
    assert err.getvalue() == ""
    return out.getvalue()


@pytest.fixture
def demo_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the demo's throwaway folder is made (so the test can see it go)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)
    return folder


def _demo_folder(out: str) -> Path:
    first = out.splitlines()[0]
    assert first.startswith("Demo folder: "), first
    return Path(first.removeprefix("Demo folder: "))


def test_demo_runs_and_cleans_up(demo_tmp: Path) -> None:
    out = run_demo()
    folder = _demo_folder(out)
    assert folder.parent == demo_tmp
    for user in ("gregor", "tex"):
        assert f"--- {folder / user / '0-personal' / 'org' / 'messaging' / 'inbox.org'}" in out
        assert f"--- {folder / user / '0-personal' / 'org' / 'messaging' / 'outbox.org'}" in out
    assert out.count("rebuild --check: clean") == 2
    assert "0 problems" in out
    assert "#+TODO: TODO WAITING QUEUED WORKING | DONE CANCELLED ARCHIVED" in out
    assert "(demo folder removed" in out
    assert "1-team" not in out  # the space of the quick start (and of init without --space)
    assert not folder.exists()
    assert list(demo_tmp.iterdir()) == []


def test_demo_keeps_its_folder_when_asked(demo_tmp: Path, tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    out = run_demo("--keep", str(keep))
    assert _demo_folder(out) == keep
    assert (keep / "gregor" / "0-personal" / "org" / "messaging" / "inbox.org").is_file()
    assert (keep / "tex" / "0-personal" / "org" / "messaging" / "inbox.org").is_file()
    assert "removed" not in out


def test_demo_stays_in_its_folder_whatever_the_environment(
    demo_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$DATACORE_MSG_STATE names the user's real state folder: the demo must not write there,
    and its two users must get two keys and two logs."""
    real_state = tmp_path / "users-real-state"
    monkeypatch.setenv("DATACORE_MSG_STATE", str(real_state))
    out = run_demo("--keep", str(tmp_path / "demo"))
    keys = re.findall(r"# key ([0-9a-f]{16})…", out)
    assert len(keys) == 2 and keys[0] != keys[1], out
    assert out.count("rebuild --check: clean") == 2, out
    assert not real_state.exists(), "the demo wrote into $DATACORE_MSG_STATE"


# -- text from users cannot drive the terminal ---------------------------------------------------

HOSTILE = "\x1b[31mred\x1b[0m \x1b]0;title\x07 \u202eevil\u202c \x08\x7f \x9b31m"


def test_control_characters_are_escaped_in_human_output(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", HOSTILE)
    carry(gregor, tex)
    outputs = {
        "inbox": ok(tex.cli("inbox")).out,
        "show": ok(tex.cli("show", message)).out,
        "thread": ok(tex.cli("thread", message)).out,
    }
    for name, out in outputs.items():
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, name
        assert "\x08" not in out and "\x7f" not in out and "\x9b" not in out, name
        assert "\\u001b[31mred" in out, name
        assert "\\u202eevil" in out, name


def test_control_characters_are_exact_in_json(gregor: Any, tex: Any) -> None:
    message = send(gregor, "@tex", HOSTILE)
    carry(gregor, tex)
    shown = json.loads(ok(tex.cli("show", message, "--json")).out)["data"]
    assert shown["text"] == HOSTILE
    items = json.loads(ok(tex.cli("inbox", "--json")).out)["data"]
    assert items[0]["text"] == HOSTILE


def test_hostile_ids_in_errors_are_escaped(gregor: Any) -> None:
    result = gregor.cli("show", "\x1b[2Jmsg")
    assert result.code == Exit.NOT_FOUND
    assert "\x1b" not in result.err
