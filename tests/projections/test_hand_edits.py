"""Hand edits of a view are never lost: the edited copy is kept aside (``<name>.edited-<stamp>``)
with a warning, and the view is written again from the log. What the writer itself left behind
(a deleted file, a write interrupted by a crash) is repaired silently."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.projections.drivers import writer
from datacore_msg.readmodels.viewcache import ViewCache
from peers import rewrite_in_place


def asides(inst: Any, name: str = "inbox.org") -> list[Path]:
    folder = (inst.views / name).parent
    return sorted(folder.glob(f"{Path(name).name}.edited-*"))


def send(inst: Any, to: str, text: str) -> str:
    result = inst.cli("send", to, text, "--json")
    assert result.code == 0, result
    return str(json.loads(result.out)["data"]["id"])


def to_self(gregor: Any, text: str = "note to self") -> str:
    """A message gregor sends himself lands in his inbox and his outbox."""
    return send(gregor, "@gregor", text)


def edit_keyword(path: Path) -> bytes:
    """What a person does in Emacs: switch the first entry's keyword (and add a note)."""
    text = path.read_text(encoding="utf-8")
    assert "* TODO " in text
    edited = text.replace("* TODO ", "* DONE ", 1) + "  a note typed by hand\n"
    path.write_text(edited, encoding="utf-8")
    return edited.encode("utf-8")


def assert_view_matches_log(inst: Any) -> None:
    check = inst.cli("rebuild", "--check")
    assert check.code == 0, check


def test_an_edited_inbox_is_kept_aside_with_a_warning_and_rewritten(gregor: Any) -> None:
    first = to_self(gregor, "first")
    inbox = gregor.views / "inbox.org"
    edited = edit_keyword(inbox)
    result = gregor.cli("send", "@gregor", "second")  # a command that changes the inbox
    assert result.code == 0
    (aside,) = asides(gregor)
    assert aside.read_bytes() == edited
    assert "warning" in result.err and "inbox.org" in result.err and aside.name in result.err
    text = gregor.read("inbox.org")
    assert "a note typed by hand" not in text
    assert text.count("* TODO ") == 2 and first in text
    assert_view_matches_log(gregor)
    # nothing more to warn about afterwards
    again = gregor.cli("send", "@gregor", "third")
    assert again.err == ""
    assert len(asides(gregor)) == 1


@pytest.mark.parametrize(
    "command",
    [
        ("send", "@gregor", "more"),
        ("mark", "{id}", "read"),
        ("reply", "{id}", "answer"),
        ("inbox",),
        ("inbox", "--all"),
        ("show", "{id}"),
        ("thread", "{id}"),
        ("rebuild",),
        ("rebuild", "--check"),
        ("log",),
        ("verify",),
        ("export", "-"),
    ],
    ids=" ".join,
)
def test_whatever_command_runs_next_a_hand_edit_is_never_dropped_silently(
    gregor: Any, command: tuple[str, ...]
) -> None:
    message_id = to_self(gregor)
    inbox = gregor.views / "inbox.org"
    edited = edit_keyword(inbox)
    result = gregor.cli(*(part.replace("{id}", message_id) for part in command))
    assert result.code in (0, 14), result
    kept = asides(gregor)
    if kept:
        (aside,) = kept
        assert aside.read_bytes() == edited
        assert aside.name in result.err, f"kept aside without a warning: {result}"
    else:
        assert inbox.read_bytes() == edited
        assert result.err == ""


def test_an_edited_outbox_and_an_edited_archive_are_kept_aside_too(gregor: Any) -> None:
    message_id = to_self(gregor, "archived")
    to_self(gregor, "live")
    assert gregor.cli("mark", message_id, "archive").code == 0
    (archive,) = (gregor.views / "archive").glob("inbox-*.org_archive")
    archive_edit = archive.read_bytes() + b"* TODO typed in the archive\n"
    archive.write_bytes(archive_edit)
    outbox = gregor.views / "outbox.org"
    outbox_edit = outbox.read_bytes().replace(b"* DONE", b"* WAITING", 1)
    assert b"* WAITING" in outbox_edit
    outbox.write_bytes(outbox_edit)
    result = gregor.cli("rebuild")
    assert result.code == 0
    (outbox_aside,) = asides(gregor, "outbox.org")
    (archive_aside,) = asides(gregor, f"archive/{archive.name}")
    assert outbox_aside.read_bytes() == outbox_edit
    assert archive_aside.read_bytes() == archive_edit
    assert outbox_aside.name in result.err and archive_aside.name in result.err
    assert_view_matches_log(gregor)


def test_two_edits_in_a_row_keep_two_copies(gregor: Any) -> None:
    to_self(gregor, "one")
    inbox = gregor.views / "inbox.org"
    first = edit_keyword(inbox)
    assert gregor.cli("send", "@gregor", "two").code == 0
    second = edit_keyword(inbox)
    assert gregor.cli("send", "@gregor", "three").code == 0
    kept = asides(gregor)
    assert len(kept) == 2
    assert {path.read_bytes() for path in kept} == {first, second}


def test_saving_the_same_bytes_again_is_not_an_edit(gregor: Any) -> None:
    to_self(gregor)
    inbox = gregor.views / "inbox.org"
    inbox.write_bytes(inbox.read_bytes())  # saved unchanged: new mtime, same bytes
    os.utime(inbox, ns=(1, 1))
    result = gregor.cli("send", "@gregor", "next")
    assert result.err == ""
    assert asides(gregor) == []
    assert_view_matches_log(gregor)


@pytest.mark.parametrize("name", ["inbox.org", "outbox.org"])
def test_a_deleted_view_is_recreated_by_the_next_command_without_warning(gregor: Any, name: str) -> None:
    to_self(gregor)
    before = (gregor.views / name).read_bytes()
    (gregor.views / name).unlink()
    result = gregor.cli("inbox")
    assert result.code == 0 and result.err == ""
    assert (gregor.views / name).read_bytes() == before
    assert asides(gregor, name) == []
    assert_view_matches_log(gregor)


def test_a_deleted_views_folder_is_recreated_by_the_next_change(gregor: Any) -> None:
    to_self(gregor, "one")
    for path in sorted(gregor.views.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    gregor.views.rmdir()
    result = gregor.cli("send", "@gregor", "two")
    assert result.code == 0 and result.err == ""
    assert gregor.read("inbox.org").count("* TODO ") == 2
    assert_view_matches_log(gregor)


class Killed(BaseException):
    """Stands for SIGKILL at one point of the writer (propagates through the CLI's boundary)."""


def killed_writing_tail(monkeypatch: pytest.MonkeyPatch, part: float, inst: Any, *args: str) -> None:
    """``inst.cli(*args)``, killed after writing ``part`` of a view's new tail, before recording it."""

    def die_midway(path: Path, offset: int, tail: bytes) -> bool:
        with path.open("r+b") as handle:
            handle.truncate(offset)
            handle.seek(offset)
            handle.write(tail[: int(len(tail) * part)])
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(writer, "_write_tail", die_midway)
        with pytest.raises(Killed):
            inst.cli(*args)


def test_a_write_interrupted_after_the_rename_is_not_taken_for_a_hand_edit(
    gregor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_self(gregor, "one")

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(ViewCache, "set_written", die)
        with pytest.raises(Killed):
            gregor.cli("send", "@gregor", "two")
    # the new bytes are on disk, but the writer never recorded them as written
    assert "two" in gregor.read("inbox.org")
    result = gregor.cli("send", "@gregor", "three")
    assert result.code == 0
    assert result.err == ""
    assert asides(gregor) == [] and asides(gregor, "outbox.org") == []
    assert_view_matches_log(gregor)


def test_a_write_interrupted_before_the_rename_is_repaired_by_the_next_command(
    gregor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_self(gregor, "one")
    real_write = writer.atomic_write

    def die_midway(path: Path, data: bytes, *args: Any, **kwargs: Any) -> None:
        temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        temp.write_bytes(data[: len(data) // 2])  # half a temp file, never renamed
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(writer, "atomic_write", die_midway)
        patch.setattr(writer, "_write_tail", lambda path, offset, tail: False)  # a whole-file write
        with pytest.raises(Killed):
            gregor.cli("send", "@gregor", "two")
    assert "two" not in gregor.read("inbox.org")  # the old view is intact
    assert gregor.cli("rebuild", "--check").code == 14  # and known to be behind
    monkeypatch.setattr(writer, "atomic_write", real_write)
    result = gregor.cli("inbox")
    assert result.code == 0 and result.err == ""
    assert "two" in gregor.read("inbox.org")
    assert asides(gregor) == []
    assert_view_matches_log(gregor)


def test_a_send_appends_in_place_and_leaves_the_bytes_of_a_rebuild(gregor: Any) -> None:
    to_self(gregor, "one")
    inbox = gregor.views / "inbox.org"
    before = inbox.stat()
    old = inbox.read_bytes()
    to_self(gregor, "two")
    after = inbox.stat()
    assert after.st_ino == before.st_ino  # appended to, not replaced
    assert inbox.read_bytes().startswith(old) and after.st_size > before.st_size
    assert_view_matches_log(gregor)


@pytest.mark.parametrize("part", [0.0, 0.5, 1.0])
def test_an_append_interrupted_midway_is_repaired_not_kept_aside(
    gregor: Any, monkeypatch: pytest.MonkeyPatch, part: float
) -> None:
    """Killed after writing none, half or all of the new entry's bytes, before recording them."""
    to_self(gregor, "one")

    killed_writing_tail(monkeypatch, part, gregor, "send", "@gregor", "two")
    result = gregor.cli("inbox")
    assert result.code == 0 and result.err == ""
    assert "two" in gregor.read("inbox.org") and "two" in gregor.read("outbox.org")
    assert asides(gregor) == [] and asides(gregor, "outbox.org") == []
    assert_view_matches_log(gregor)


def test_a_mark_rewrites_the_view_from_the_changed_entry_in_place(gregor: Any) -> None:
    first, _, last = (to_self(gregor, text) for text in ("one", "two", "three"))
    inbox = gregor.views / "inbox.org"
    inode = inbox.stat().st_ino
    for message in (last, first):
        result = gregor.cli("mark", message, "read")
        assert result.code == 0 and result.err == "", result
        assert inbox.stat().st_ino == inode  # rewritten in place, not replaced
        assert_view_matches_log(gregor)


@pytest.mark.parametrize("part", [0.0, 0.5])
def test_a_mark_interrupted_while_rewriting_the_tail_is_repaired(
    gregor: Any, monkeypatch: pytest.MonkeyPatch, part: float
) -> None:
    first, _, _ = (to_self(gregor, text) for text in ("one", "two", "three"))

    killed_writing_tail(monkeypatch, part, gregor, "mark", first, "read")
    result = gregor.cli("inbox")
    assert result.code == 0 and result.err == "", result
    assert asides(gregor) == [] and asides(gregor, "outbox.org") == []
    assert_view_matches_log(gregor)


def test_a_torn_append_edited_by_hand_is_kept_aside(gregor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the old bytes plus a prefix of the pending entry count as the writer's own."""
    to_self(gregor, "one")

    killed_writing_tail(monkeypatch, 0.5, gregor, "send", "@gregor", "two")
    inbox = gregor.views / "inbox.org"
    with inbox.open("ab") as handle:
        handle.write(b"typed after the crash\n")
    result = gregor.cli("inbox")
    assert result.code == 0 and "warning" in result.err
    (aside,) = asides(gregor)
    assert aside.read_bytes().endswith(b"typed after the crash\n")
    assert_view_matches_log(gregor)


def test_views_lagging_behind_the_log_are_caught_up_not_kept_aside(gregor: Any) -> None:
    """Events stored by a process that died before catching up: the next command writes them."""
    to_self(gregor, "one")
    payload = MessageSent(id="msg-20260101-000000-0123abcd", sender="gregor", to="gregor", text="stored only")
    with gregor.space() as space:  # appended to the log; the views are not caught up
        space.store.append(space.signing_key(), space.user, payload, space.clock())
    assert "stored only" not in gregor.read("inbox.org")
    result = gregor.cli("inbox")
    assert result.code == 0 and result.err == ""
    assert "stored only" in gregor.read("inbox.org")
    assert asides(gregor) == []
    assert_view_matches_log(gregor)


@pytest.mark.parametrize(
    "command", [("mark", "{last}", "read"), ("mark", "{first}", "read"), ("send", "@gregor", "four")]
)
def test_an_edit_in_place_of_the_same_size_with_its_mtime_set_back_is_kept_aside(
    gregor: Any, command: tuple[str, ...]
) -> None:
    """A tool that writes the file in place (same inode), keeps its size and sets its mtime back
    left the size, mtime and inode the writer trusts as "as last written": the next mark rewrote
    the tail from the edited bytes (the edit lost without a copy, or kept in the view so that it
    no longer matched the log). The ctime, which no tool can set back, now tells."""
    ids = {"first": to_self(gregor, "one"), "last": to_self(gregor, "two")}
    to_self(gregor, "three")
    inbox = gregor.views / "inbox.org"
    rewrite_in_place(inbox, b"two", b"TWO")
    edited = inbox.read_bytes()

    result = gregor.run(*(part.format(**ids) for part in command))
    assert result.code == 0, result.err
    assert "warning" in result.err and "inbox.org" in result.err
    (aside,) = asides(gregor)
    assert aside.read_bytes() == edited
    assert b"TWO" not in inbox.read_bytes()
    check = gregor.run("rebuild", "--check")
    assert check.code == 0 and "Views match the log." in check.out, check


def recorded_as_by_an_earlier_version(inst: Any) -> None:
    """Rewrite each view's record as a version before block-listed digests and the ctime wrote it:
    the plain SHA-256 of the file, and its size, mtime and inode."""
    db = inst.state / "spaces" / inst.space_name / "events.sqlite3"
    conn = sqlite3.connect(db)
    try:
        with conn:
            for name, stat in conn.execute("SELECT file, written_stat FROM view_files").fetchall():
                path = inst.views / name
                if path.exists():
                    plain = hashlib.sha256(path.read_bytes()).hexdigest()
                    old_stat = ":".join(stat.split(":")[:3])
                    conn.execute(
                        "UPDATE view_files SET written_hash = ?, written_stat = ? WHERE file = ?",
                        (plain, old_stat, name),
                    )
    finally:
        conn.close()


@pytest.mark.parametrize("edited", [False, True])
def test_views_recorded_by_an_earlier_version_are_its_own_and_an_edit_of_them_is_kept_aside(
    gregor: Any, edited: bool
) -> None:
    first = to_self(gregor, "one")
    to_self(gregor, "two")
    recorded_as_by_an_earlier_version(gregor)
    inbox = gregor.views / "inbox.org"
    if edited:
        before = inbox.stat()
        with inbox.open("r+b") as handle:
            handle.seek(inbox.read_bytes().rfind(b"two"))
            handle.write(b"TWO")
        os.utime(inbox, ns=(before.st_atime_ns, before.st_mtime_ns))
    result = gregor.run("mark", first, "read")
    assert result.code == 0, result.err
    assert len(asides(gregor)) == int(edited) and asides(gregor, "outbox.org") == []
    assert ("warning" in result.err) == edited, result.err
    again = gregor.run("send", "@gregor", "three")
    assert again.code == 0 and again.err == "", again.err
    assert_view_matches_log(gregor)


def test_a_tail_that_cannot_be_written_in_place_is_rendered_whole(
    gregor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change placed from the end of the file (only its tail made) whose file is gone by the time
    it is written: the whole file is rendered and written instead, the same bytes."""
    first = to_self(gregor, "one")
    placed: list[str] = []
    real_edit = writer._edit_in_place

    def spy(*args: Any) -> Any:
        result = real_edit(*args)
        placed.append("placed" if result is not None else "rendered")
        return result

    monkeypatch.setattr(writer, "_edit_in_place", spy)
    monkeypatch.setattr(writer, "_write_tail", lambda path, offset, tail: False)
    assert gregor.cli("mark", first, "todo").code == 0
    assert "placed" in placed
    assert_view_matches_log(gregor)
    assert asides(gregor) == []
