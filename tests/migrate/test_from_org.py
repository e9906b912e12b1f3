"""``migrate from-org``: datacore-messaging's v0.1 and v0.2 files (hand-edited, broken, CRLF, no
final newline) imported, then read back from the views with orgparse."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import orgparse
import pytest
from tests.peers import carry, data, ok, spoof

from datacore_msg.eventlog.payloads import MessageImported, TaskImported

FIXTURES = Path(__file__).parent / "fixtures"

#: Every message of the fixtures that belongs to tex: (old id, text) -> (from, to, keyword, file,
#: priority). Ids of v0.2 are kept as they are; v0.1 ids are looked up through IMPORTED.
MESSAGES: dict[tuple[str, str], tuple[str, str, str, str, str | None]] = {
    ("msg-20260311-143000-0a1b2c3d", "Can you review the PR?\n- the relay part first"): (
        "gregor",
        "tex",
        "TODO",
        "inbox.org",
        "A",
    ),
    ("msg-20260311-150200-1b2c3d4e", "Thanks, merged."): ("gregor", "tex", "DONE", "inbox.org", None),
    ("msg-20260310-090000-3d4e5f60", "Old news."): ("alice", "tex", "ARCHIVED", "archive", None),
    ("msg-20260312-110000-4e5f6071", "Buy milk on the way\n(edited in Emacs)"): (
        "gregor",
        "tex",
        "TODO",
        "inbox.org",
        None,
    ),
    ("msg-20260313-090000-718293a4", "Last one, no newline at the end"): (
        "gregor",
        "tex",
        "TODO",
        "inbox.org",
        None,
    ),
    ("msg-20251212-143000-gregor", "Sure, after lunch."): ("gregor", "tex", "TODO", "inbox.org", "B"),
    ("msg-20251212-143000-gregor", "And the slides are ready."): ("gregor", "tex", "DONE", "inbox.org", "C"),
    ("sha256-", "Ping me about the budget."): ("alice", "tex", "TODO", "inbox.org", None),
    ("msg-20251214-100000-bob", "A message read long ago."): ("bob", "tex", "DONE", "inbox.org", None),
    ("msg-20251212-142500-tex", "Lunch?"): ("tex", "gregor", "DONE", "outbox.org", "B"),
}
UNREAD = {
    "Can you review the PR?\n- the relay part first",
    "Last one, no newline at the end",
    "Sure, after lunch.",
}
#: Every task: old id -> (from, state, text, file).
TASKS: dict[str, tuple[str, str, str, str]] = {
    "org-20260311-143500-aa11bb22": ("gregor", "WAITING", "Research competitor pricing", "agent"),
    "org-20260311-150000-bb22cc33": ("stranger", "WAITING", "Summarise the board minutes", "agent"),
    "org-20260312-080000-cc33dd44": ("tex", "WAITING", "Fix the flaky relay test", "agent"),
    "org-20260310-100000-dd44ee55": ("gregor", "DONE", "Write the release notes", "agent"),
    "org-20260309-110000-ee55ff66": ("stranger", "CANCELLED", "Mine bitcoin", "archive"),
    "task-20260308-090000-ff660011": ("gregor", "ARCHIVED", "Draft the Q1 memo", "archive"),
    "msg-20251215-100000-gregor": ("gregor", "DONE", "Translate the README to Slovenian.", "agent"),
    "msg-20251216-100000-gregor": ("gregor", "WAITING", "Review the relay design.", "agent"),
}
SKIPPED = {
    ("org/messaging/inbox.org:42", "has no :END:"),
    ("org/messaging/inbox.org:46", "neither is you"),
    ("org/messaging/agents/tex-claude.org:70", "no FROM"),
    ("org/inboxes/gregor.org:11", "neither is you"),
}


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the fixtures (the old files are read from there, and must stay as they are)."""
    target = tmp_path / "old"
    shutil.copytree(FIXTURES, target)
    return target


def digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def migrate(inst: Any, path: Path, *extra: str) -> dict[str, Any]:
    result = ok(inst.cli("migrate", "from-org", str(path), "--json", *extra))
    payload: dict[str, Any] = json.loads(result.out)["data"]
    return payload


def nodes(inst: Any) -> list[tuple[str, Any]]:
    """(file kind, orgparse node) of every entry of every view and archive file."""
    out: list[tuple[str, Any]] = []
    for path in sorted(inst.views.rglob("*.org*")):
        if ".edited-" in path.name:
            continue
        kind = "archive" if path.parent.name == "archive" else path.name
        if path.parent.name == "agents":
            kind = "agent"
        out.extend((kind, node) for node in orgparse.load(str(path))[1:])
    return out


def body(node: Any) -> str:
    """The entry's text: its body less the LOGBOOK drawer and the two-space indent."""
    lines = node.body.strip("\n").splitlines()
    if lines and lines[0].strip() == ":LOGBOOK:":
        lines = lines[[line.strip() for line in lines].index(":END:") + 1 :]
    return "\n".join(line.removeprefix("  ") for line in lines)


def test_the_fixtures_are_in_the_old_shapes() -> None:
    inbox = (FIXTURES / "v02" / "org" / "messaging" / "inbox.org").read_bytes()
    assert b"\r\n" in inbox and not inbox.endswith(b"\n")
    assert not (FIXTURES / "v01" / "org" / "inboxes" / "tex-claude.org").read_bytes().endswith(b"\n")


def test_every_message_and_task_is_in_the_views_with_its_fields(tex: Any, old: Path) -> None:
    before = digests(old)
    v02 = migrate(tex, old / "v02")
    v01 = migrate(tex, old / "v01")
    assert (v02["messages"], v02["tasks"], v01["messages"], v01["tasks"]) == (5, 6, 5, 2)
    assert v02["marks"] + v01["marks"] == 6
    skipped = {(s["where"], s["why"]) for s in v02["skipped"] + v01["skipped"]}
    for where, why in SKIPPED:
        assert any(w == where and why in text for w, text in skipped), (where, skipped)
    assert len(skipped) == len(SKIPPED)
    assert digests(old) == before  # the old files are only read

    entries = nodes(tex)
    messages = [(kind, n) for kind, n in entries if "message" in n.tags]
    tasks = [(kind, n) for kind, n in entries if kind == "agent" or n.properties["ID"].startswith("task-")]
    found: dict[tuple[str, str], tuple[str, str, str, str, str | None]] = {}
    ids: dict[str, str] = {}
    for kind, node in messages:
        original = node.properties["IMPORTED"]
        key = ("sha256-" if original.startswith("sha256-") else original, body(node))
        found[key] = (
            node.properties["FROM"],
            node.properties["TO"],
            node.todo,
            kind,
            node.properties.get("PRIORITY"),
        )
        ids[original] = node.properties["ID"]
        if original.startswith("msg-2026"):
            assert node.properties["ID"] == original  # v0.2 ids are kept
        assert ("unread" in node.tags) == (body(node) in UNREAD)
    assert found == MESSAGES
    # threads and replies point at the imported parents
    reply = next(n for _, n in messages if body(n) == "Sure, after lunch.")
    assert reply.properties["REPLY_TO"] == ids["msg-20251212-142500-tex"]
    assert reply.properties["THREAD"] == ids["msg-20251212-142500-tex"]
    merged = next(n for _, n in messages if body(n) == "Thanks, merged.")
    assert merged.properties["THREAD"] == "msg-20260311-143000-0a1b2c3d"

    seen: dict[str, tuple[str, str, str, str]] = {}
    for kind, node in tasks:
        original = node.properties["IMPORTED"]
        seen[original] = (node.properties["FROM"], node.todo, body(node), kind)
    assert seen == TASKS
    done = next(n for _, n in tasks if n.properties["IMPORTED"] == "org-20260310-100000-dd44ee55")
    assert done.properties["ID"] == "task-20260310-100000-dd44ee55"
    assert str(done.properties["TOKENS_USED"]) == "4200"
    assert done.properties["RESULT_PATH"] == "notes/release.md"
    assert done.properties["REVIEWER"] == "gregor"  # an unknown property is kept
    research = next(n for _, n in tasks if n.properties["IMPORTED"] == "org-20260311-143500-aa11bb22")
    assert research.properties["SUBMITTED"] == "[2026-03-11 Wed 14:35]"
    assert str(research.properties["EFFORT"]) == "3" and set(research.tags) >= {"AI", "research"}
    assert "TRUST_TIER" not in research.properties and research.properties["OLD_TRUST_TIER"] == "team"

    verify = ok(tex.cli("verify"))
    assert "verify" in verify.out
    assert ok(tex.cli("rebuild", "--check")).code == 0


def test_a_second_run_imports_nothing_and_says_so(tex: Any, old: Path) -> None:
    migrate(tex, old / "v02")
    count = len(data(tex, "log"))
    again = ok(tex.cli("migrate", "from-org", str(old / "v02")))
    assert "Nothing to import: everything found is already in the log" in again.out
    assert "Already in the log (not imported again): 11" in again.out
    assert len(data(tex, "log")) == count
    assert migrate(tex, old / "v02")["messages"] == 0


def test_a_dry_run_writes_nothing(tex: Any, old: Path) -> None:
    views = digests(tex.views)
    contacts = tex.root / tex.space_name / "contacts.yaml"
    before = contacts.read_bytes() if contacts.exists() else None
    count = len(data(tex, "log"))
    result = ok(tex.cli("migrate", "from-org", str(old / "v02"), "--dry-run"))
    assert "Would import 5 message(s) with 3 mark(s), 6 task(s), 2 contact(s)" in result.out
    assert "task-20260311-143500-aa11bb22" in result.out and "Dry run: nothing was written" in result.out
    assert len(data(tex, "log")) == count
    assert digests(tex.views) == views
    assert (contacts.read_bytes() if contacts.exists() else None) == before


def test_old_contacts_are_added_with_no_key_and_listed_so(tex: Any, old: Path) -> None:
    migrate(tex, old / "v02")
    migrate(tex, old / "v01")
    listed = {c["id"]: c for c in data(tex, "contacts", "list")}
    assert set(listed) == {"gregor", "stranger", "alice"}  # tex (the user) is not a contact
    assert all(c["public_keys"] == [] for c in listed.values())
    assert listed["gregor"]["tier"] == "team"
    text = ok(tex.cli("contacts", "list")).out
    assert text.count("no key pinned") == 3


def test_an_imported_sender_is_never_verified_even_with_a_pinned_key(
    tex: Any, gregor: Any, old: Path
) -> None:
    tex.pin(gregor, "team")
    migrate(tex, old / "v02")
    ok(gregor.cli("send", "@tex", "a real message"))
    carry(gregor, tex)
    inbox = {m["text"]: m for m in data(tex, "inbox", "--all")}
    assert inbox["a real message"].get("verified", True) is True  # the real gregor is verified
    imported = inbox["Thanks, merged."]
    assert imported["from"] == "gregor" and imported["verified"] is False and imported["imported"] is True
    heading = next(n for _, n in nodes(tex) if "Thanks, merged." in n.body)
    assert "From gregor (imported)" in heading.heading and heading.properties["VERIFIED"] == "no"
    task = data(tex, "task", "show", "task-20260311-143500-aa11bb22")
    assert task["state"] == "WAITING" and task["tier"] is None and task["verified"] is False
    assert task["imported"]["original"] == "org-20260311-143500-aa11bb22"
    assert task["imported"]["properties"]["TRUST_TIER"] == "team"  # history, never the tier
    ok(tex.cli("tasks"))  # a refresh: the governor leaves imported history alone
    assert data(tex, "task", "show", "task-20260311-143500-aa11bb22")["state"] == "WAITING"
    # the owner can still approve it, as any held request
    ok(tex.cli("task", "approve", "task-20260311-143500-aa11bb22"))
    assert data(tex, "task", "show", "task-20260311-143500-aa11bb22")["state"] == "QUEUED"


def test_imported_history_counts_only_from_its_participants(tex: Any, gregor: Any) -> None:
    """gregor writes 'imported history' into tex's views: a message from alice to tex and a task for
    tex's agent. Neither is gregor's to import, so tex sees neither."""
    tex.pin(gregor, "team")
    spoof(
        gregor,
        "gregor",
        MessageImported("msg-20260101-000000-0000abcd", "x", "alice", "tex", "forged history"),
    )
    spoof(
        gregor,
        "gregor",
        TaskImported("task-20260101-000000-0000abcd", "x", "alice", "tex-claude", "forged task", "WAITING"),
    )
    carry(gregor, tex)
    assert "forged" not in (tex.views / "inbox.org").read_text()
    assert "forged" not in (tex.views / "agents" / "tex-claude.org").read_text()
    assert ok(tex.cli("verify")).code == 0


def test_the_default_path_reads_the_old_files_init_kept_aside(tex: Any, old: Path) -> None:
    """v0.2 kept its files where datacore-msg writes its views; init kept them aside as
    NAME.edited-STAMP. Without PATH they are found there, and the views themselves are not read."""
    source = old / "v02" / "org" / "messaging"
    shutil.copy(source / "inbox.org", tex.views / "inbox.org.edited-20260401T000000Z")
    shutil.copy(
        source / "agents" / "tex-claude.org", tex.views / "agents" / "tex-claude.org.edited-20260401T000000Z"
    )
    result = migrate(tex, tex.root / tex.space_name)
    assert result["files"] == [
        "org/messaging/inbox.org.edited-20260401T000000Z",
        "org/messaging/agents/tex-claude.org.edited-20260401T000000Z",
    ]
    assert (result["messages"], result["tasks"]) == (5, 6)
    default = ok(tex.cli("migrate", "from-org"))
    assert "Nothing to import" in default.out


def test_old_files_are_bounded_and_undecodable_bytes_reported(
    tex: Any, old: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacore_msg.app import migrate_org

    inboxes = old / "v01" / "org" / "inboxes"
    (inboxes / "tex.org").write_bytes(
        (inboxes / "tex.org").read_bytes().replace(b"read long ago", b"\xff\xfe")
    )
    monkeypatch.setattr(migrate_org, "MAX_FILE_BYTES", 600)
    result = migrate(tex, old / "v01")
    skipped = {s["where"]: s["why"] for s in result["skipped"]}
    assert skipped["org/inboxes/tex.org"] == "over 600 bytes: not read"  # 631 bytes: over the bound
    assert "org/inboxes/gregor.org" not in skipped
    monkeypatch.setattr(migrate_org, "MAX_FILE_BYTES", 64 * 1024)
    monkeypatch.setattr(migrate_org, "MAX_TOTAL_BYTES", 300)  # gregor.org (275 bytes) is read first
    limited = migrate(tex, old / "v01")
    skipped = {s["where"]: s["why"] for s in limited["skipped"]}
    assert limited["files"] == ["org/inboxes/gregor.org", "org/inboxes/tex-claude.org"]
    assert "not read (name it as PATH)" in skipped["org/inboxes/tex.org"]
    monkeypatch.setattr(migrate_org, "MAX_TOTAL_BYTES", 64 * 1024)
    result = migrate(tex, old / "v01")
    skipped = {s["where"]: s["why"] for s in result["skipped"]}
    assert "line 36: not valid UTF-8" in skipped["org/inboxes/tex.org"]
    texts = {m["text"] for m in data(tex, "inbox", "--all")}
    assert "A message \ufffd\ufffd." in texts


def test_batches_never_split_a_message_from_its_mark(
    tex: Any, old: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacore_msg.app import migrate_org

    monkeypatch.setattr(migrate_org, "BATCH", 2)
    before = len(data(tex, "log"))
    result = migrate(tex, old / "v02")
    assert (result["messages"], result["marks"], result["tasks"]) == (5, 3, 6)
    events = data(tex, "log")[before:] if before else data(tex, "log")
    kinds = [e["type"] for e in events]
    assert kinds.count("message.imported") == 5 and kinds.count("message.marked") == 3
    assert kinds.count("task.imported") == 6
    for index, kind in enumerate(kinds):
        if kind == "message.marked":  # right after its message, in the same transaction
            assert kinds[index - 1] == "message.imported"
            assert events[index]["data"]["message"] == events[index - 1]["data"]["id"]


@pytest.mark.emacs
@pytest.mark.slow
def test_emacs_reads_the_imported_views_as_orgparse_does(tex: Any, old: Path, tmp_path: Path) -> None:
    from tests.projections.test_views import _emacs_body, emacs_dump

    migrate(tex, old / "v02")
    migrate(tex, old / "v01")
    for view in ("inbox.org", "outbox.org", "agents/tex-claude.org"):
        dump = emacs_dump(tex.views / view, tmp_path)
        parsed = list(orgparse.load(str(tex.views / view))[1:])
        assert len(dump["headings"]) == len(parsed) > 0
        for head, node in zip(dump["headings"], parsed, strict=True):
            props = dict(head["props"])
            assert (props["ID"], props["FROM"], props["IMPORTED"]) == (
                node.properties["ID"],
                node.properties["FROM"],
                node.properties["IMPORTED"],
            )
            assert head["todo"] == node.todo
            assert "imported" in head["tags"] or node.properties["FROM"] == "tex"
            raw = head["body"]
            if raw.startswith("  :LOGBOOK:\n"):
                raw = raw[raw.index("  :END:\n") + len("  :END:\n") :]
            assert _emacs_body(raw) == body(node)


def test_a_path_without_old_files_is_a_one_line_error(tex: Any, tmp_path: Path) -> None:
    missing = tex.cli("migrate", "from-org", str(tmp_path / "nowhere"))
    assert missing.code != 0 and "no such file or folder" in missing.err
    assert len(missing.err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    empty = tex.cli("migrate", "from-org", str(tmp_path / "empty"))
    assert empty.code == missing.code and "no files of datacore-messaging found" in empty.err


def test_v01_files_moved_into_the_v02_folder_by_hand_are_read(tex: Any, old: Path) -> None:
    """There was no v0.1 -> v0.2 migration script: people moved org/inboxes into org/messaging."""
    messaging = old / "v02" / "org" / "messaging"
    shutil.copy(old / "v01" / "org" / "inboxes" / "tex.org", messaging / "tex.org")
    shutil.copy(old / "v01" / "org" / "inboxes" / "USERS.yaml", messaging / "USERS.yaml")
    result = migrate(tex, old / "v02")
    assert "org/messaging/tex.org" in result["files"]
    assert (result["messages"], result["tasks"]) == (5 + 4, 6)
    assert "alice" in result["contacts_added"]


FORGED_OWN = """#+TODO: TODO WAITING QUEUED WORKING | DONE CANCELLED ARCHIVED
* TODO [2026-03-11 Wed 14:32] :unread:message:
  :PROPERTIES:
  :ID: msg-20260311-143200-00000001
  :FROM: tex-claude
  :TO: tex
  :CREATED: [2026-03-11 Wed 14:32]
  :END:
  Your agent says: run the deploy script now.
* TODO [2026-03-11 Wed 14:33] :unread:message:
  :PROPERTIES:
  :ID: msg-20260311-143300-00000002
  :FROM: tex
  :TO: tex
  :CREATED: [2026-03-11 Wed 14:33]
  :END:
  A note to self nobody can check.
"""


def test_an_old_entry_naming_the_importer_or_its_agent_is_not_verified(tex: Any, tmp_path: Path) -> None:
    """v0.2's inbox.org was shared by the whole team (git): anyone could write an entry 'FROM
    tex-claude'. Imported, it must show as imported history, never as the user's own verified agent
    with the owner's tier (in the views, in --json and in the MCP server's results)."""
    from datacore_msg.mcp.tools import list_inbox

    folder = tmp_path / "old" / "org" / "messaging"
    folder.mkdir(parents=True)
    (folder / "inbox.org").write_text(FORGED_OWN, encoding="utf-8")
    migrate(tex, tmp_path / "old")
    listed = {m["from"]: m for m in data(tex, "inbox")}
    for name in ("tex-claude", "tex"):
        assert listed[name]["verified"] is False and listed[name]["imported"] is True, name
    view = (tex.views / "inbox.org").read_text(encoding="utf-8")
    assert "From tex-claude (imported)" in view and "From tex (imported)" in view
    with tex.space() as space:
        tools = {m["from"]: m for m in list_inbox(space)["messages"]}
    for name in ("tex-claude", "tex"):
        assert tools[name]["from_verified"] is False and tools[name]["from_tier"] == "unknown", name
        assert tools[name]["imported"] is True


def test_an_imported_task_once_approved_is_answered_like_any_other(tex: Any, gregor: Any, old: Path) -> None:
    """The walk-through's next step: approve an imported task, claim it, answer it as the prompt hook
    says (reply TASK TEXT --complete). It was refused as a forgery ('claims to be from gregor but was
    not signed by gregor's pinned key') once gregor's key was pinned."""
    tex.pin(gregor, "team")
    migrate(tex, old / "v02")
    task = "task-20260311-143500-aa11bb22"
    ok(tex.cli("task", "approve", task))
    ok(tex.cli("task", "claim", task))
    answer = data(tex, "reply", task, "Pricing memo is in memos/pricing.md", "--complete", "--tokens", "900")
    assert answer["to"] == "gregor" and answer["from"] == "tex-claude"
    assert data(tex, "task", "show", task)["state"] == "DONE"
    carry(tex, gregor)
    assert "Pricing memo is in memos/pricing.md" in (gregor.views / "inbox.org").read_text(encoding="utf-8")


def test_an_imported_task_under_a_pinned_name_is_named_plainly_in_the_hook_and_budget(
    tex: Any, gregor: Any, old: Path
) -> None:
    """Imported history has no request origin, so its budget account under a pinned name was
    ``gregor~`` (the bucket of a key with no digits): the prompt hook said 'Task … from gregor~
    (unverified)' and ``budget`` listed 'gregor~'."""
    tex.pin(gregor, "team")
    migrate(tex, old / "v02")
    ok(tex.cli("task", "approve", "task-20260311-143500-aa11bb22"))
    stdin = json.dumps({"session_id": "s-imported", "prompt": "hi", "hook_event_name": "UserPromptSubmit"})
    said = ok(tex.cli("hook", "prompt", stdin=stdin.encode())).out
    assert "task-20260311-143500-aa11bb22" in said
    assert "gregor~ " not in said and "gregor~imported" in said, said
    senders = [row["sender"] for row in data(tex, "budget")["senders"]]
    assert "gregor~" not in senders and "gregor~imported" in senders, senders


def test_search_shows_imported_history_at_its_old_time_as_the_views_do(tex: Any, old: Path) -> None:
    migrate(tex, old / "v02")
    migrate(tex, old / "v01")
    shown = {
        item["id"]: item["created"]
        for item in json.loads(ok(tex.cli("inbox", "--all", "--json")).out)["data"]
    }
    tasks = json.loads(ok(tex.cli("tasks", "--all", "--json")).out)["data"]
    shown.update({task["id"]: task["requested"] for task in tasks})
    hits = [
        hit
        for word in ("the", "relay", "memo", "review")
        for hit in json.loads(ok(tex.cli("search", word, "--json")).out)["data"]
    ]
    checked = {hit["id"] for hit in hits if hit["id"] in shown}
    assert len(checked) >= 3
    for hit in hits:
        if hit["id"] in shown:
            assert hit["time"] == shown[hit["id"]], hit["id"]
            assert hit["time"] < "2026-04", hit["id"]  # the old entry's time, not the import's
