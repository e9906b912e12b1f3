"""``sync --folder``'s file handling: lines read up to the last complete one, partial lines cut from
our own file, cursors used only while the file and the log still match them, and a table of hostile
folders (links, FIFOs, names that are not keys, garbage, huge lines, forged or misplaced events), each
reported with a one-line reason and nothing bad stored."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.app import exchange
from datacore_msg.app.exchange import MAX_LINE_BYTES
from datacore_msg.app.folder_cursors import (
    TAIL_BYTES,
    Cursor,
    complete_lines,
    cursor_holds,
    last_line,
    state_file,
)
from datacore_msg.app.folder_sync import MISNAMED_LISTED, FolderSyncResult, sync_folder
from datacore_msg.fsutil import append_durably, cut_partial_line
from peers import data, ok

BIG = MAX_LINE_BYTES + 100


# -- reading complete lines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"a\n", [(1, b"a\n", 2)]),
        (b"a\nbc", [(1, b"a\n", 2)]),  # the partial last line is not yielded
        (b"a\n\nb\n", [(1, b"a\n", 2), (2, b"\n", 1), (3, b"b\n", 2)]),
        (b"x" * BIG + b"\nb\n", [(1, None, BIG + 1), (2, b"b\n", 2)]),  # over-long: skipped to its end
        (b"a\n" + b"x" * BIG, [(1, b"a\n", 2)]),  # an over-long partial line: left
        (b"x" * MAX_LINE_BYTES + b"\n", [(1, None, MAX_LINE_BYTES + 1)]),  # one byte too long
        (b"x" * (MAX_LINE_BYTES - 1) + b"\n", [(1, b"x" * (MAX_LINE_BYTES - 1) + b"\n", MAX_LINE_BYTES)]),
    ],
    ids=["empty", "one", "partial", "blank", "huge", "huge-partial", "over-by-one", "at-limit"],
)
def test_complete_lines(data: bytes, expected: list[tuple[int, bytes | None, int]]) -> None:
    assert list(complete_lines(io.BytesIO(data))) == expected


def test_complete_lines_number_from_the_cursor() -> None:
    assert list(complete_lines(io.BytesIO(b"c\n"), line=41)) == [(42, b"c\n", 2)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\nbb\n", b"bb"),
        (b"bb\n", b"bb"),
        (b"\n", b""),
        (b"a\n" + b"x" * BIG + b"\n", None),
        (b"x" * MAX_LINE_BYTES + b"\n", b"x" * MAX_LINE_BYTES),
    ],
)
def test_last_line(tmp_path: Path, data: bytes, expected: bytes | None) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert last_line(fd, len(data)) == expected
    finally:
        os.close(fd)


# -- cutting a partial last line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        (b"", b""),
        (b"a\n", b"a\n"),
        (b"a\nbc", b"a\n"),
        (b"abc", b""),
        (b"a\nb\n" + b"y" * 200_000, b"a\nb\n"),  # the partial line spans several read chunks
    ],
)
def test_cut_partial_line(tmp_path: Path, data: bytes, kept: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert cut_partial_line(path) == len(data) - len(kept)
    assert path.read_bytes() == kept


def test_cut_and_append_refuse_links_and_fifos(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(OSError):
            cut_partial_line(tmp_path / name)
        with pytest.raises(OSError):
            append_durably(tmp_path / name, b"x\n")
    assert target.read_bytes() == b"keep"


def test_append_durably_appends_and_creates_an_ordinary_file(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    old = os.umask(0o022)
    try:
        append_durably(path, b"a\n")
        append_durably(path, b"b\n")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"a\nb\n"
    assert path.stat().st_mode & 0o777 == 0o644  # shared on purpose: see the module's docstring


# -- cursors -------------------------------------------------------------------------------------


def _cursor_for(data: bytes, offset: int, held: int) -> Cursor:
    tail = hashlib.sha256(data[max(0, offset - TAIL_BYTES) : offset]).hexdigest()
    return Cursor(offset=offset, line=2, tail=tail, held=held)


LINES = b"".join(b'{"n": %d, "pad": "%s"}\n' % (n, b"p" * 150) for n in range(6))
AT = LINES.index(b"\n", 500) + 1


@pytest.mark.parametrize(
    ("now", "cursor", "head", "holds"),
    [
        (LINES, Cursor(), 0, True),  # a fresh cursor starts at 0
        (LINES, _cursor_for(LINES, AT, 5), 5, True),
        (LINES + b"more\n", _cursor_for(LINES, AT, 5), 7, True),  # appended to, log moved on
        (LINES[: AT - 1], _cursor_for(LINES, AT, 5), 5, False),  # the file is now shorter
        (LINES.replace(b'"n": 2', b'"n": 9'), _cursor_for(LINES, AT, 5), 5, False),  # rewritten
        (LINES, _cursor_for(LINES, AT, 5), 4, False),  # the log holds less than it did
    ],
    ids=["fresh", "same", "appended", "shorter", "rewritten", "log-behind"],
)
def test_a_cursor_is_used_only_while_file_and_log_match_it(
    tmp_path: Path, now: bytes, cursor: Cursor, head: int, holds: bool
) -> None:
    path = tmp_path / "f"
    path.write_bytes(now)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert cursor_holds(cursor, fd, len(now), head) is holds
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "saved",
    [None, [], "x", {"offset": -1, "line": 0, "held": 0, "tail": ""}, {"offset": 1, "line": 0}],
)
def test_a_malformed_saved_cursor_is_a_fresh_one(saved: Any) -> None:
    assert Cursor.from_json(saved) == Cursor()


def test_a_cursor_survives_its_json() -> None:
    cursor = Cursor(offset=10, line=2, tail="ab", held=3, stat=(1, 2, 3))
    assert Cursor.from_json(cursor.to_json()) == cursor


# -- hostile folders -----------------------------------------------------------------------------


Setup = Callable[[Path, list[bytes], str, str], None]


def _named(name: str, content: Callable[[list[bytes]], bytes]) -> Setup:
    def setup(folder: Path, lines: list[bytes], tex: str, me: str) -> None:
        (folder / name.format(tex=tex, me=me, TEX=tex.upper())).write_bytes(content(lines))

    return setup


def _link(folder: Path, lines: list[bytes], tex: str, me: str) -> None:
    real = folder.parent / "elsewhere.jsonl"
    real.write_bytes(b"".join(lines))
    (folder / f"{tex}.jsonl").symlink_to(real)


def _own_link(folder: Path, lines: list[bytes], tex: str, me: str) -> None:
    real = folder.parent / "victim"
    real.write_bytes(b"keep\n")
    (folder / f"{me}.jsonl").symlink_to(real)


def _fifo(folder: Path, lines: list[bytes], tex: str, me: str) -> None:
    os.mkfifo(folder / f"{tex}.jsonl")


def _folder(folder: Path, lines: list[bytes], tex: str, me: str) -> None:
    (folder / f"{tex}.jsonl").mkdir()


def _forged(lines: list[bytes]) -> bytes:
    return lines[0].replace(b"first", b"FIRST")


HOSTILE: list[tuple[str, Setup, str, int]] = [
    # (case, setup, expected reason, tex events stored)
    ("link", _link, "symbolic link (not followed); not read", 0),
    ("fifo", _fifo, "not a regular file; not read", 0),
    ("folder", _folder, "not a regular file; not read", 0),
    ("capitals", _named("{TEX}.jsonl", b"".join), "not named after an installation's key", 0),
    ("conflict-copy", _named("{tex}.sync-conflict-20260101-000000-ABC.jsonl", b"".join), "not named", 0),
    ("garbage", _named("{tex}.jsonl", lambda ls: b"garbage\n\x00\xff\n[]\n" + ls[0]), ":1: not valid", 1),
    ("huge-line", _named("{tex}.jsonl", lambda ls: b"{" * BIG + b"\n" + ls[0]), ":1: line is over", 1),
    ("huge-partial", _named("{tex}.jsonl", lambda ls: ls[0] + b"{" * BIG), "", 1),
    ("misplaced", _named("f" * 64 + ".jsonl", b"".join), ":1: an event of origin", 0),
    ("forged", _named("{tex}.jsonl", _forged), ":1: event", 0),
    ("gap", _named("{tex}.jsonl", lambda ls: ls[1]), ":1: origin", 0),
    ("ours-holding-theirs", _named("{me}.jsonl", b"".join), "this installation's file): its last line", 0),
    ("ours-a-link", _own_link, "this installation's file): a symbolic link", 0),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("case", "setup", "reason", "stored"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_hostile_folder_is_reported_and_stores_nothing_bad(
    make_installation: Callable[..., Any],
    introduce: Callable[..., None],
    tmp_path: Path,
    case: str,
    setup: Setup,
    reason: str,
    stored: int,
) -> None:
    gregor = make_installation("gregor", label="gregor")
    tex = make_installation("tex", label="tex")
    introduce(gregor, tex)
    ok(tex.cli("send", "@gregor", "first"))
    ok(tex.cli("send", "@gregor", "second"))
    ok(gregor.cli("send", "@tex", "mine"))
    with tex.space() as space:
        lines = [line.encode("utf-8") for line in exchange.export_lines(space)]
    folder = tmp_path / "shared"
    folder.mkdir()
    setup(folder, lines, tex.public_key, gregor.public_key)
    before = sorted((p.name, p.is_symlink()) for p in folder.iterdir())
    victim = tmp_path / "victim"

    with gregor.space() as space:
        result: FolderSyncResult = sync_folder(space, folder)
        held = space.store.heads().get(tex.public_key, 0)
    said = [*result.problems, *(r.describe() for r in result.rejected), *result.notes]
    assert any(reason in line for line in said), said
    assert all("\n" not in line for line in said)
    assert held == stored
    assert result.received == stored
    ok(gregor.cli("verify"))
    if case.startswith("ours"):
        assert result.written == 0
        assert sorted((p.name, p.is_symlink()) for p in folder.iterdir()) == before
    else:
        assert result.written == 1
    if victim.exists():
        assert victim.read_bytes() == b"keep\n"
    # A second run reports nothing new about rejected lines (they are behind the cursor), and
    # problems with files again (they are still there), and stores nothing more.
    with gregor.space() as space:
        again = sync_folder(space, folder)
    assert again.rejected_count == 0 and not again.moved
    assert again.problems == result.problems


def test_the_cli_names_file_and_line_of_each_rejected_line_and_exits_11(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    folder = tmp_path / "shared"
    folder.mkdir()
    name = "a" * 64 + ".jsonl"
    (folder / name).write_bytes(b'\x1b]52;c;x\x07\n{"id": 1}\n')
    result = gregor.cli("sync", "--folder", str(folder))
    assert result.code == 11
    assert f"{name}:1: not valid JSON" in result.err
    assert f"{name}:2: " in result.err
    assert "\x1b" not in result.err + result.out
    assert result.err.strip().splitlines()[-1].startswith("datacore-msg: error: ")
    assert "2 line(s) rejected" in result.err
    again = gregor.cli("sync", "--folder", str(folder))
    assert again.code == 0 and "(nothing moved)" in again.out, again


def test_sync_without_a_relay_or_a_folder_says_what_is_missing(make_installation: Callable[..., Any]) -> None:
    gregor = make_installation("gregor")
    result = gregor.cli("sync")
    assert result.code == 7
    assert result.err.count("\n") == 1
    assert "no messaging.relay.url" in result.err and "--folder DIR" in result.err


def test_a_folder_that_cannot_be_one_is_one_line(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    (tmp_path / "file").write_bytes(b"")
    for where, says in ((tmp_path / "file", "not a folder"), (tmp_path / "no" / "such", "no such folder")):
        result = gregor.cli("sync", "--folder", str(where))
        assert result.code == 3 and says in result.err and result.err.count("\n") == 1, result


def test_a_folder_full_of_misnamed_files_lists_a_few_and_counts_the_rest(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    folder = tmp_path / "shared"
    folder.mkdir()
    for i in range(MISNAMED_LISTED + 30):
        (folder / f"x{i:03}.jsonl").write_bytes(b"{}\n")
    (folder / "README.md").write_bytes(b"# not ours\n")
    (folder / ".git").mkdir()
    with gregor.space() as space:
        result = sync_folder(space, folder)
    assert len(result.problems) == MISNAMED_LISTED + 1
    assert result.problems[-1].startswith("and 30 more .jsonl files")
    assert not any("README" in p or ".git" in p for p in result.problems)


def test_events_already_held_are_never_verified_again(
    make_installation: Callable[..., Any],
    introduce: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cheap path of a re-run: an unchanged file is not read; a touched one is read from its
    cursor; with the cursors lost it is read from the start, and its held lines skipped unverified."""
    from datacore_msg.eventlog import store as store_module

    gregor = make_installation("gregor", label="gregor")
    tex = make_installation("tex", label="tex")
    introduce(gregor, tex)
    for i in range(5):
        ok(tex.cli("send", "@gregor", f"m{i}"))
    folder = tmp_path / "shared"
    folder.mkdir()
    with tex.space() as space:
        assert sync_folder(space, folder).written == 5
    hashed: list[str] = []  # every event the store hashed (its id checked)
    signatures: list[int] = []  # how many signatures each ingest batch checked
    real_body = store_module.body_encoding

    def hashing(event: Any) -> Any:
        hashed.append(event.id)
        return real_body(event)

    class Counting(store_module.Signatures):
        def __init__(self, items: Any, *args: Any, **kwargs: Any) -> None:
            signatures.append(len(items))
            super().__init__(items, *args, **kwargs)

    monkeypatch.setattr(store_module, "body_encoding", hashing)
    monkeypatch.setattr(store_module, "Signatures", Counting)
    with gregor.space() as space:
        assert sync_folder(space, folder).received == 5
        assert (len(hashed), sum(signatures)) == (5, 5)  # each new event hashed, then verified
        peer = folder / f"{tex.public_key}.jsonl"
        for change in ("none", "touched", "cursors lost"):
            if change == "touched":
                os.utime(peer, ns=(1, 1))
            elif change == "cursors lost":
                (space.paths.space_state_dir / "folder-sync.json").unlink()
            again = sync_folder(space, folder)
            assert (again.received, again.rejected_count) == (0, 0), change
            assert (len(hashed), sum(signatures)) == (5, 5), change


@pytest.mark.parametrize(
    "damage",
    [b'{"garbage": [', b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"\xff\xfe\x00", b"[]"],
)
def test_a_damaged_cursor_file_means_reading_every_file_again(
    make_installation: Callable[..., Any], tmp_path: Path, damage: bytes
) -> None:
    """folder-sync.json is derived state: damaged (a crash, a disk error, nesting deeper than the
    JSON decoder's recursion limit), it is dropped, never a traceback."""
    inst = make_installation("gregor")
    folder = tmp_path / "share"
    assert data(inst, "sync", "--folder", str(folder))["written"] >= 0
    with inst.space() as space:
        state_file(space).write_bytes(damage)
    again = inst.cli("sync", "--folder", str(folder), "--json")
    assert again.code == 0 and "Traceback" not in again.err, again
