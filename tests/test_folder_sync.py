"""``sync --folder``: three installations (gregor's laptop and desktop, and tex) exchange messages and
tasks through one shared folder, run after run, until each holds every event; the second run of
everyone moves nothing; gregor's two installations render byte-identical views; and a file cut in
the middle of a line by an interrupted sync tool (a peer's, then the writer's own) loses nothing;
and, as a property, any sequence of partial copies of a file delivers every event exactly once.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.app import exchange
from datacore_msg.app.folder_cursors import STATE_FILE
from datacore_msg.app.folder_sync import LOCK_FILE, sync_folder
from peers import data, ok
from test_convergence import view_files


def sync(inst: Any, folder: Path) -> dict[str, Any]:
    """One ``sync --folder`` through the CLI (in-process), which must succeed; its JSON data."""
    moved: dict[str, Any] = data(inst, "sync", "--folder", str(folder))
    assert moved["rejected"] == [] and moved["problems"] == [], moved
    return moved


def run_all(insts: list[Any], folder: Path) -> list[tuple[int, int]]:
    """Every installation syncs once, in order: (written, received) of each."""
    return [(m["written"], m["received"]) for m in (sync(inst, folder) for inst in insts)]


def converge(insts: list[Any], folder: Path) -> None:
    """Runs until a whole round moves nothing (at most three rounds are ever needed)."""
    for _ in range(3):
        if run_all(insts, folder) == [(0, 0)] * len(insts):
            return
    raise AssertionError("the installations did not converge in three rounds")


def count(inst: Any) -> int:
    with inst.space() as space:
        return space.store.count()


def own_file(inst: Any, folder: Path) -> Path:
    return folder / f"{inst.public_key}.jsonl"


def three(make_installation: Callable[..., Any], introduce: Callable[..., None]) -> tuple[Any, Any, Any]:
    """Gregor's laptop and desktop and tex, each knowing the others' keys."""
    laptop = make_installation("gregor", tz="Europe/Ljubljana", label="laptop")
    desktop = make_installation("gregor", tz="Europe/Ljubljana", label="desktop")
    tex = make_installation("tex", tz="UTC", label="tex")
    introduce(laptop, desktop, tex)
    return laptop, desktop, tex


def assert_converged(laptop: Any, desktop: Any, tex: Any) -> None:
    assert count(laptop) == count(desktop) == count(tex)
    assert view_files(laptop.views) == view_files(desktop.views)
    for inst in (laptop, desktop, tex):
        ok(inst.cli("rebuild", "--check"))
        ok(inst.cli("verify"))


def test_three_installations_converge_through_a_folder_and_a_second_run_moves_nothing(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    laptop, desktop, tex = three(make_installation, introduce)
    (tmp_path / "team").mkdir()
    folder = tmp_path / "team" / "messaging-sync"  # created by the first sync (its parent exists)

    first = data(laptop, "send", "@tex", "from the laptop")["id"]
    ok(desktop.cli("send", "@tex", "from the desktop"))
    task = data(tex, "send", "@gregor-claude", "look at the build", "--tokens", "500")["id"]
    # laptop writes 1; desktop writes 1, receives the laptop's; tex writes 1, receives both
    assert run_all([laptop, desktop, tex], folder) == [(1, 0), (1, 1), (1, 2)]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{inst.public_key}.jsonl" for inst in (laptop, desktop, tex)
    )
    # the second round: the laptop receives the desktop's and tex's (and its governor may decide
    # tex's task: that decision is an event of its own, written in a later round)
    second = run_all([laptop, desktop, tex], folder)
    assert second[0][1] == 2, second
    ok(tex.cli("reply", first, "got it"))
    ok(desktop.cli("mark", first, "archive"))
    converge([laptop, desktop, tex], folder)
    assert_converged(laptop, desktop, tex)
    # A second run of everyone moves nothing, and says so.
    for inst in (laptop, desktop, tex):
        result = ok(inst.cli("sync", "--folder", str(folder)))
        assert result.out.strip().endswith("written 0, received 0, rejected 0 (nothing moved)")
        assert result.err == ""
    assert "got it" in laptop.read("inbox.org") and "got it" in desktop.read("inbox.org")
    assert task in json.dumps(data(laptop, "tasks", "--all"))
    # The files hold each installation's own events, once each, in seq order.
    for inst in (laptop, desktop, tex):
        lines = own_file(inst, folder).read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines]
        assert {e["origin"] for e in events} == {inst.public_key}
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # Nothing of the state (cursors, lock) is left in the shared folder.
    assert not [p for p in folder.iterdir() if p.name in (STATE_FILE, LOCK_FILE) or p.name.startswith(".")]


def test_a_file_cut_mid_line_by_an_interrupted_sync_tool_loses_nothing(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    laptop, desktop, tex = three(make_installation, introduce)
    folder = tmp_path / "sync"
    folder.mkdir()
    ok(laptop.cli("send", "@tex", "hello"))
    converge([laptop, desktop, tex], folder)

    # A peer's file cut mid-line (a sync tool interrupted while it copied the file in): its
    # complete lines are taken, the partial one is left, and taken once the tool has finished.
    for text in ("one", "two", "three"):
        ok(tex.cli("send", "@gregor", text))
    assert sync(tex, folder)["written"] == 3
    tex_file = own_file(tex, folder)
    whole = tex_file.read_bytes()
    cut_at = whole.rindex(b"\n", 0, len(whole) - 1) + 40  # 40 bytes into the last line
    tex_file.write_bytes(whole[:cut_at])
    result = ok(laptop.cli("sync", "--folder", str(folder)))
    assert "written 0, received 2, rejected 0" in result.out
    assert "partial last line" in result.err and tex_file.name in result.err
    assert "three" not in laptop.read("inbox.org") and "two" in laptop.read("inbox.org")
    assert tex_file.read_bytes() == whole[:cut_at]  # a peer's file is never written to
    tex_file.write_bytes(whole)  # the sync tool finishes
    assert sync(laptop, folder)["received"] == 1
    assert "three" in laptop.read("inbox.org")

    # The writer's own file cut mid-line (an interrupted git checkout, or a crash in an append):
    # the partial line is cut back to the last newline and its event written again; the peers,
    # whose cursors now point past the end of the shorter file, read it again without loss.
    for text in ("four", "five"):
        ok(tex.cli("send", "@gregor", text))
    assert sync(tex, folder)["written"] == 2
    whole = tex_file.read_bytes()
    cut_at = whole.rindex(b"\n", 0, len(whole) - 1) - 25  # inside "four", before "five"
    tex_file.write_bytes(whole[:cut_at])
    assert sync(laptop, folder)["received"] == 0  # "four" is partial: left for later
    result = ok(tex.cli("sync", "--folder", str(folder)))
    assert "written 2, received 0, rejected 0" in result.out
    assert "cut" in result.err and "partial last line" in result.err
    assert tex_file.read_bytes() == whole  # the same lines again, byte for byte
    converge([laptop, desktop, tex], folder)
    assert_converged(laptop, desktop, tex)
    for text in ("four", "five"):
        assert text in desktop.read("inbox.org")


def test_a_deleted_own_file_is_written_again_and_a_rewritten_peer_file_is_read_again(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    """Cursors are only a shortcut: a file removed, or replaced by other bytes, is read from its start
    (the events already held skipped), so nothing is lost and nothing is taken twice."""
    gregor = make_installation("gregor", label="gregor")
    tex = make_installation("tex", label="tex")
    introduce(gregor, tex)
    folder = tmp_path / "sync"
    folder.mkdir()
    for text in ("one", "two"):
        ok(tex.cli("send", "@gregor", text))
    converge([gregor, tex], folder)
    tex_file = own_file(tex, folder)
    saved = tex_file.read_bytes()
    tex_file.unlink()
    assert sync(tex, folder)["written"] == 2  # written again from seq 1
    assert tex_file.read_bytes() == saved
    # a sync tool replaces the file (another inode), with one more event at its end
    ok(tex.cli("send", "@gregor", "three"))
    shutil.copy(tex_file, tmp_path / "copy")
    assert sync(tex, folder)["written"] == 1
    (tmp_path / "copy").write_bytes(tex_file.read_bytes())
    (tmp_path / "copy").replace(tex_file)
    assert sync(gregor, folder)["received"] == 1
    assert run_all([gregor, tex], folder) == [(0, 0), (0, 0)]


def test_a_log_restored_from_an_older_backup_never_appends_a_fork_to_its_file(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    """The file holds events the log no longer has: appending after them would put a second event
    at the same seq in the file (a fork every teammate would refuse), so nothing is written and the
    command says why and what to do."""
    gregor = make_installation("gregor", label="gregor")
    tex = make_installation("tex", label="tex")
    introduce(gregor, tex)
    folder = tmp_path / "sync"
    folder.mkdir()
    ok(gregor.cli("send", "@tex", "one"))
    with gregor.space() as space:
        db = space.store.path
        space.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(db, backup)
    ok(gregor.cli("send", "@tex", "two"))
    assert sync(gregor, folder)["written"] == 2
    before = own_file(gregor, folder).read_bytes()
    with gregor.space() as space:
        space.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(backup, db)  # the log goes back to before "two"; the cursors stay
    ok(gregor.cli("send", "@tex", "three"))  # seq 2 again, another event
    result = gregor.cli("sync", "--folder", str(folder))
    assert result.code == 11, result
    assert "its last line is not an event of this installation that the log holds" in result.err
    assert own_file(gregor, folder).read_bytes() == before
    assert sync(tex, folder)["received"] == 2
    assert "three" not in tex.read("inbox.org")


_example = itertools.count()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cuts=st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_any_sequence_of_partial_copies_of_a_file_delivers_every_event_once(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path, cuts: list[float]
) -> None:
    """A sync tool shows the receiver any prefix of the writer's file, growing or (a rewrite in
    progress) shrinking, cut anywhere in a line: each run takes the complete lines, rejects nothing,
    and once the whole file is there every event has arrived exactly once."""
    n = next(_example)
    gregor = make_installation("gregor", label=f"p{n}-gregor")
    tex = make_installation("tex", label=f"p{n}-tex")
    introduce(gregor, tex)
    for i in range(6):
        ok(tex.cli("send", "@gregor", f"message {i}"))
    with tex.space() as space:
        whole = "".join(exchange.export_lines(space)).encode("utf-8")
    folder = tmp_path / f"p{n}"
    folder.mkdir()
    peer_file = folder / f"{tex.public_key}.jsonl"
    received = 0
    with gregor.space() as space:
        for cut in [*cuts, 1.0]:
            peer_file.write_bytes(whole[: round(cut * len(whole))])
            result = sync_folder(space, folder)
            assert result.rejected_count == 0 and result.problems == [], result
            received += result.received
            complete = whole[: round(cut * len(whole))].count(b"\n")
            assert space.store.heads().get(tex.public_key, 0) >= complete
        assert received == 6
        assert space.store.heads()[tex.public_key] == 6


def test_the_decision_a_run_caused_is_written_in_that_run(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    """tex asks gregor's agent for a task; gregor's one sync receives it, its governor decides, and
    the decision is in gregor's file when that sync returns (not one run later), so tex's next sync
    already sees the task QUEUED."""
    gregor, tex = make_installation("gregor", label="gregor"), make_installation("tex", label="tex")
    introduce(gregor, tex)
    folder = tmp_path / "share"
    task = data(tex, "send", "@gregor-claude", "summarise the notes")["id"]
    sync(tex, folder)
    got = sync(gregor, folder)
    assert got["received"] == 1
    assert got["written"] >= 1, "the governor's decision stayed behind"
    sync(tex, folder)
    assert data(tex, "task", "show", task)["state"] == "QUEUED"
    again = sync(gregor, folder)
    assert (again["written"], again["received"]) == (0, 0)
