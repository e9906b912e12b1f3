"""Committed means done: a command whose events reached the log succeeds, even if the disk fills
before the views are written (issue 10, item 3).

Before, ``send`` appended its event, then failed to write the views and exited 13 ("the disk is
full; nothing was stored") without printing the id; a retry stored a second copy. Now each command
that changes something, once its events are committed, prints its normal output, warns in one line
on stderr that the views could not be updated, and exits 0; the next command, once there is room
again, repairs the views.

Every command under test runs as its own process (``python -m datacore_msg``), as a user or Claude
Code runs it. The disk fills in one of two places, both strictly after the log's commit:

``views-disk-full``
    The views folder (``<root>/<space>/org/messaging``) is a real 128 KiB tmpfs, filled to the last
    block by a filler file; the event log lives in the state folder, on another file system. The
    append commits, the derived rows are stored, and the writer's ``atomic_write`` of the first
    view gets a real ``ENOSPC``. "Room again" is deleting the filler. Mounting needs root (and the
    right to mount); elsewhere these cases are skipped.

``rows-disk-full``
    The derived-rows transaction -- the one that moves the views' checkpoint, right after the
    commit -- fails with SQLite's own "database or disk is full", raised by a trigger on
    ``view_checkpoints`` that the test adds to the database (nothing in datacore-msg writes that
    table before the log's commit). Works for any user, root included (where ``chmod`` stops no
    write). "Room again" is dropping the trigger.

For each of ``send``, ``task claim``, ``task complete``, ``reply --complete`` and ``import`` (and
the prompt hook's claim): exit 0, the id printed, exactly one warning line, exactly one new event
of the command's type in the log, ``rebuild --check`` saying the views are behind, and after room
is made, ``inbox`` repairing them (``rebuild --check`` clean, the id in the view). A failure before
the commit -- the log itself full -- still fails, stores nothing and prints no id.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from peers import ok

WARNING = re.compile(
    r"^datacore-msg: warning: .+ is stored, but the views could not be updated: .+; "
    r"the next command repairs them$"
)
TABLE = "view_checkpoints"


# -- the two ways the disk fills -----------------------------------------------------------------


@attrs.define
class Full:
    """The disk is full somewhere after the log's commit until :meth:`make_room`."""

    kind: str
    make_room: Callable[[], None]


def _db(inst: Any) -> Path:
    return inst.state / "spaces" / inst.space_name / "events.sqlite3"


def _mount_tmpfs(folder: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k,mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _fill(folder: Path) -> Path:
    """Fill ``folder``'s file system to the last byte (big writes, then single bytes)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler


@pytest.fixture(params=["views-disk-full", "rows-disk-full"])
def fill_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[Any], Full]]:
    """``fill_disk(inst)``: from now on, the disk is full after the commit (see the module)."""
    mounted: list[Path] = []

    def views_disk_full(inst: Any) -> Full:
        views = inst.views
        saved = tmp_path / f"views-before-{inst.name}"
        shutil.copytree(views, saved, symlinks=True)
        if not _mount_tmpfs(views):
            pytest.skip("mounting a tmpfs needs root and the right to mount")
        mounted.append(views)
        shutil.copytree(saved, views, symlinks=True, dirs_exist_ok=True)
        filler = _fill(views)
        return Full(request.param, filler.unlink)

    def rows_disk_full(inst: Any) -> Full:
        conn = sqlite3.connect(_db(inst))
        with conn:
            for when in ("INSERT", "UPDATE"):
                conn.execute(
                    f"CREATE TRIGGER disk_full_{when.lower()} BEFORE {when} ON {TABLE} "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                )
        conn.close()

        def make_room() -> None:
            conn = sqlite3.connect(_db(inst))
            with conn:
                conn.execute("DROP TRIGGER disk_full_insert")
                conn.execute("DROP TRIGGER disk_full_update")
            conn.close()

        return Full(request.param, make_room)

    yield views_disk_full if request.param == "views-disk-full" else rows_disk_full
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


# -- helpers -------------------------------------------------------------------------------------


def events_of(inst: Any, type_name: str) -> list[dict[str, Any]]:
    """The log's events of one type (``log`` reads the log only; it writes no view)."""
    result = ok(inst.run("log", "--type", type_name, "--json"))
    data: list[dict[str, Any]] = json.loads(result.out)["data"]
    return data


def new_task(inst: Any, text: str) -> str:
    """A task to the user's own agent (decided QUEUED in the same command)."""
    return str(json.loads(ok(inst.cli("send", "@claude", text, "--json")).out)["data"]["id"])


def assert_stored_with_one_warning(result: Any, stdout: str) -> None:
    assert result.code == 0, result
    assert re.search(stdout, result.out), result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert WARNING.match(lines[0]), lines[0]


def assert_repaired(inst: Any, full: Full, view: str, needle: str) -> None:
    """Behind until room is made; then the next command (``inbox``) writes the views."""
    behind = inst.run("rebuild", "--check")
    assert behind.code == 14, behind  # VIEWS_DIFFER: the views are behind the log, nothing lost
    full.make_room()
    repaired = inst.run("inbox")
    assert (repaired.code, repaired.err) == (0, ""), repaired
    assert (inst.views / view).read_text(encoding="utf-8").count(needle) >= 1
    check = inst.run("rebuild", "--check")
    assert check.code == 0, check


# -- one case per command ------------------------------------------------------------------------


def know_tex(inst: Any) -> None:
    """tex in contacts.yaml (no key needed): ``send @tex`` warns of no unknown name, so the only
    warning is the one these tests are about."""
    (inst.root / inst.space_name / "contacts.yaml").write_text("actors:\n  - id: tex\n", encoding="utf-8")


@pytest.mark.slow
def test_send_prints_the_id_and_stores_one_message(gregor: Any, fill_disk: Any) -> None:
    know_tex(gregor)
    full = fill_disk(gregor)
    result = gregor.run("send", "@tex", "The numbers are in.")
    assert_stored_with_one_warning(result, r"^Sent: msg-\S+\n$")
    message = result.out.split()[1]
    sent = events_of(gregor, "message.sent")
    assert [e["data"]["id"] for e in sent] == [message]  # one copy: nothing to retry
    assert_repaired(gregor, full, "outbox.org", message)


@pytest.mark.slow
def test_send_json_says_ok_with_the_id(gregor: Any, fill_disk: Any) -> None:
    know_tex(gregor)
    full = fill_disk(gregor)
    result = gregor.run("send", "@tex", "Numbers, as JSON.", "--json")
    assert_stored_with_one_warning(result, r"^\{.*\}\n$")
    envelope = json.loads(result.out)
    assert envelope["ok"] is True
    message = envelope["data"]["id"]
    assert [e["data"]["id"] for e in events_of(gregor, "message.sent")] == [message]
    assert_repaired(gregor, full, "outbox.org", message)


@pytest.mark.slow
def test_task_claim_moves_the_task_once(gregor: Any, fill_disk: Any) -> None:
    task = new_task(gregor, "Draft the memo")
    full = fill_disk(gregor)
    result = gregor.run("task", "claim", task)
    assert_stored_with_one_warning(result, rf"^Claim: {task} is now WORKING\n$")
    assert [e["data"]["task"] for e in events_of(gregor, "task.claimed")] == [task]
    assert_repaired(gregor, full, "agents/gregor-claude.org", 'State "WORKING"')


@pytest.mark.slow
def test_task_complete_completes_once(gregor: Any, fill_disk: Any) -> None:
    task = new_task(gregor, "Draft the memo")
    ok(gregor.cli("task", "claim", task))
    full = fill_disk(gregor)
    result = gregor.run("task", "complete", task, "--tokens", "1200")
    assert_stored_with_one_warning(result, rf"^Complete: {task} is now DONE\n$")
    assert [e["data"]["task"] for e in events_of(gregor, "task.completed")] == [task]
    assert_repaired(gregor, full, "agents/gregor-claude.org", 'State "DONE"')


@pytest.mark.slow
def test_reply_complete_sends_and_completes_once(gregor: Any, fill_disk: Any) -> None:
    task = new_task(gregor, "Summarise the thread")
    ok(gregor.cli("task", "claim", task))
    full = fill_disk(gregor)
    result = gregor.run("reply", task, "Summary: all agreed.", "--complete", "--tokens", "900")
    expected = (
        rf"^Sent: msg-\S+\n  from gregor-claude to gregor, in reply to {task}\n"
        rf"Completed: {task} \(DONE\)\n$"
    )
    assert_stored_with_one_warning(result, expected)
    message = result.out.split()[1]
    assert [e["data"]["id"] for e in events_of(gregor, "message.sent")] == [message]
    assert [e["data"]["task"] for e in events_of(gregor, "task.completed")] == [task]
    assert_repaired(gregor, full, "inbox.org", message)


@pytest.mark.slow
def test_import_reports_what_it_stored(gregor: Any, tex: Any, fill_disk: Any, tmp_path: Path) -> None:
    message = json.loads(ok(tex.cli("send", "@gregor", "From tex", "--json")).out)["data"]["id"]
    exported = tmp_path / "from-tex.jsonl"
    ok(tex.cli("export", str(exported)))
    full = fill_disk(gregor)
    result = gregor.run("import", str(exported))
    assert_stored_with_one_warning(result, r"^Imported 1 new event\(s\), 0 already present, 0 rejected\.\n$")
    assert [e["data"]["id"] for e in events_of(gregor, "message.sent")] == [message]
    again = gregor.run("import", str(exported))  # what a user does after an error: nothing new
    assert again.code == 0 and "Imported 0 new event(s), 1 already present" in again.out, again
    assert_repaired(gregor, full, "inbox.org", message)


@pytest.mark.slow
def test_the_prompt_hook_tells_the_agent_of_its_claim(gregor: Any, fill_disk: Any, tmp_path: Path) -> None:
    task = new_task(gregor, "Tidy the inbox")
    full = fill_disk(gregor)
    env = gregor.env()
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    stdin = json.dumps({"session_id": "s1", "hook_event_name": "UserPromptSubmit", "prompt": "go"})
    hook = subprocess.run(
        [sys.executable, "-m", "datacore_msg", "hook", "prompt"],
        input=stdin.encode(),
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert hook.returncode == 0 and hook.stderr == b"", hook
    context = json.loads(hook.stdout)["hookSpecificOutput"]["additionalContext"]
    assert f"gregor-claude has claimed task {task}; it is now WORKING." in context
    assert [e["data"]["task"] for e in events_of(gregor, "task.claimed")] == [task]
    assert_repaired(gregor, full, "agents/gregor-claude.org", 'State "WORKING"')


# -- a failure before the commit still fails -----------------------------------------------------


@pytest.mark.slow
def test_a_full_log_still_fails_and_prints_no_id(gregor: Any) -> None:
    """The log itself full (SQLite's error, from a trigger on ``events``): nothing is stored, the
    command fails with STORAGE (13) and prints no id, so running it again is right."""
    conn = sqlite3.connect(_db(gregor))
    with conn:
        conn.execute(
            "CREATE TRIGGER disk_full BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    conn.close()
    result = gregor.run("send", "@tex", "Not stored.")
    assert (result.code, result.out) == (13, ""), result
    assert "the disk is full" in result.err and "warning" not in result.err
    assert events_of(gregor, "message.sent") == []
