"""``sync --folder DIR``: exchanging events through a folder the team already syncs (git, Syncthing,
a network share), with the same checks as ``import``.

Theory of operation
-------------------
* **One writer per file.** Each installation owns one file in the folder, named after its public key:
  ``<64 lowercase hex digits>.jsonl``. It holds that installation's own events only (those whose
  ``origin`` is its key), one JSON line each in the format of ``export``, in ``seq`` order; it is only
  ever appended to, never rewritten. Two installations never write one file, so a sync tool never
  has two versions of a file to merge.
* **Writing.** Before reading, and again after the views are caught up when something was received
  (the governor may have decided what arrived: its decisions go out in the same run). The file's
  head is the ``seq`` of its last complete line, checked against the log (the line must be this
  installation's event, its id must match its content and the id the log holds at that seq); what
  the log holds after it (:meth:`EventStore.events_after`) is appended, then
  fsynced. A last line without a newline (a crash in the middle of an append, or a sync tool that
  was interrupted) is cut back to the last newline first, and its event written again. A file whose
  last line is not one of ours, or that is a symbolic link or not a regular file, is left alone
  and reported: nothing is written to it. A file that disappeared is written again from seq 1.
* **Reading.** Every other ``<key>.jsonl`` is read line by line from its cursor, with the limits of
  ``import`` (:data:`~datacore_msg.app.exchange.MAX_LINE_BYTES` per line: a longer line is
  rejected and skipped up to its newline). A line whose ``(origin, seq)`` the log already holds is
  skipped unverified (nothing is stored from it); a line of another origin than the file's name is
  rejected; everything else goes through :meth:`EventStore.ingest` (id, signature, chain, forks,
  clock skew, payload), in batches of at most :data:`~datacore_msg.app.exchange.BATCH_EVENTS`
  events or :data:`BATCH_BYTES`, one transaction each, and the views are caught up. A rejected line
  is reported with its file and line number and never stops the valid ones. A last line without a
  newline is left for a later run, when the sync tool has finished writing it.
* **Cursors** (:mod:`datacore_msg.app.folder_cursors`). Per folder and file, the state folder keeps
  how far the file was read (byte offset and line number, both after the last complete line
  taken), a hash of the 256 bytes before that offset, the log's head of the file's origin then, and
  the file's (inode, size, modification time). A file whose stat has not changed, while the log
  still holds that head, is not opened at all (a ``--watch`` round costs a directory listing and a
  few stats). A cursor is used only when the file still has the same bytes before the offset and
  the log still holds at least that head; otherwise (the file was rewritten by a sync tool, or the
  log replaced) the file is read again from the start, the events already held skipped without
  being verified. A rejected line is behind the cursor once reported: it is reported once, not on
  every run.
* **Hostile folders.** Anyone who can write to the folder can put anything in it: names that are
  not keys (a sync tool's conflict copy, ``<KEY>.jsonl`` in capitals) are reported and not read;
  symbolic links, folders, FIFOs and devices are refused before anything is read (``O_NOFOLLOW``,
  ``O_NONBLOCK``, then a regular-file check on the open file); at most :data:`MAX_PEER_FILES` files
  are read a run. Nothing is stored that ``import`` would not store.
* **File modes.** The files are created like any other file (0666 minus the umask): the folder
  exists to be shared, every teammate who syncs it receives every event in it, and who may read it
  is the folder's business (a private repository, a share's permissions). The cursors are in the
  state folder (0600), never in the shared folder.

One run holds a lock in the state folder, so a ``--watch`` process and a ``sync`` typed by hand never
append the same events twice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

import attrs

from datacore_msg.app.clashes import Clash, clashes_among
from datacore_msg.app.exchange import BATCH_EVENTS, MAX_LINE_BYTES, export_line, merged_reports
from datacore_msg.app.folder_cursors import (
    Cursor,
    complete_lines,
    cursor_holds,
    last_line,
    load_cursors,
    save_cursors,
    stat_key,
    tail_hash,
)
from datacore_msg.app.space import Space
from datacore_msg.errors import Busy, DatacoreError, IntegrityError, InvalidInput, StorageError
from datacore_msg.eventlog.envelope import Event, check_id, parse_line
from datacore_msg.fsutil import (
    append_durably,
    cut_partial_line,
    open_regular_for_reading,
)
from datacore_msg.projections.drivers.viewlock import LockTimeout, ViewsLock
from datacore_msg.projections.drivers.writer import WriteReport

#: The name of an installation's file: its public key in lowercase hex, then ``.jsonl``.
FILE_NAME = re.compile(r"[0-9a-f]{64}\.jsonl")
SUFFIX = ".jsonl"
#: The most peer files one run reads (the rest are reported, not read).
MAX_PEER_FILES = 1000
#: Files not named after a key that are listed one by one (the rest are counted).
MISNAMED_LISTED = 5
#: A batch is ingested once its lines reach this many bytes (or BATCH_EVENTS events).
BATCH_BYTES = 8 << 20
#: Rejected lines kept in the result (all are counted).
REJECTS_KEPT = 20
#: How long a run waits for another run of this installation (a watcher) to finish.
LOCK_TIMEOUT_S = 60.0
LOCK_FILE = "folder-sync.lock"


@attrs.frozen
class Rejected:
    file: str
    line: int
    reason: str

    def describe(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@attrs.frozen
class FolderSyncResult:
    folder: Path
    #: Events of this installation appended to its file.
    written: int
    #: Events of others verified and stored.
    received: int
    #: The first REJECTS_KEPT rejected lines.
    rejected: list[Rejected]
    rejected_count: int
    #: Files not read or not written, one line each (named, with the reason).
    problems: list[str]
    #: What was repaired or left for later, one line each.
    notes: list[str]
    views: WriteReport | None
    clashes: list[Clash]
    #: True when a stop request ended the run before every file was read.
    interrupted: bool = False

    @property
    def moved(self) -> bool:
        return bool(self.written or self.received)


@attrs.define
class _Tally:
    written: int = 0
    received: int = 0
    rejected: list[Rejected] = attrs.Factory(list)
    rejected_count: int = 0
    problems: list[str] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    clashes: list[Clash] = attrs.Factory(list)
    views: list[WriteReport] = attrs.Factory(list)
    interrupted: bool = False

    def reject(self, name: str, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < REJECTS_KEPT:
            self.rejected.append(Rejected(name, line, reason))


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link (not followed)"
    if exc.errno == errno.EINVAL:
        return "not a regular file"
    return exc.strerror or str(exc)


# -- the state folder: cursors and the lock -----------------------------------------------------


def _locked(space: Space, timeout_s: float) -> ViewsLock:
    """The installation's ``sync --folder`` lock (flock, as the views lock: no polling)."""
    path = space.paths.space_state_dir / LOCK_FILE
    lock = ViewsLock(path, timeout_s)
    try:
        lock.acquire()
    except LockTimeout:
        raise Busy(
            f"{path}: another 'sync --folder' of this installation ran for over {timeout_s:.0f} s; "
            "nothing was moved, run it again"
        ) from None
    return lock


# -- one run -------------------------------------------------------------------------------------


def prepare_folder(folder: str | Path) -> Path:
    """``folder`` as an absolute path, created when its parent exists (a fresh clone of a git
    repository has no empty folders); a one-line error when it cannot be a folder."""
    path = Path(folder).expanduser().absolute()
    if path.is_dir():
        return path
    if path.exists():
        raise InvalidInput(f"{path}: not a folder")
    if not path.parent.is_dir():
        raise InvalidInput(f"{path}: no such folder, nor its parent {path.parent}")
    try:
        path.mkdir()
    except FileExistsError:
        pass
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot create the folder: {exc.strerror}") from None
    return path


def sync_folder(
    space: Space,
    folder: str | Path,
    *,
    stop: Callable[[], bool] = lambda: False,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> FolderSyncResult:
    """Append this installation's new events to its file in ``folder`` and take every other file's
    new events (see the module's docstring); ``stop`` is asked between batches."""
    from datacore_msg.app.views import refresh_after_commit

    space.preflight()
    path = prepare_folder(folder)
    me = space.signing_key().public_hex
    tally = _Tally()
    lock = _locked(space, lock_timeout_s)
    try:
        cursors = load_cursors(space, path)
        heads = space.store.heads()
        own_name = f"{me}{SUFFIX}"
        problems = len(tally.problems)
        cursors[own_name] = _write_own(
            space, path / own_name, me, heads.get(me, 0), cursors.get(own_name), tally
        )
        own_writable = len(tally.problems) == problems
        for name in _peer_files(path, own_name, tally):
            if stop():
                tally.interrupted = True
                break
            origin = name[: -len(SUFFIX)]
            cursor = cursors.get(name, Cursor())
            cursors[name] = _read_peer(space, path / name, origin, heads.get(origin, 0), cursor, tally, stop)
        if tally.received:
            tally.views.append(refresh_after_commit(space, "what was received"))
            # What arrived may have made this installation append (its governor's decisions):
            # those go out in this run, not the next.
            mine = space.store.heads().get(me, 0)
            if own_writable and mine > heads.get(me, 0):
                cursors[own_name] = _write_own(space, path / own_name, me, mine, cursors[own_name], tally)
        save_cursors(space, path, cursors)
    finally:
        lock.release()
    views = merged_reports(tally.views) if tally.received else None
    return FolderSyncResult(
        folder=path,
        written=tally.written,
        received=tally.received,
        rejected=tally.rejected,
        rejected_count=tally.rejected_count,
        problems=tally.problems,
        notes=tally.notes,
        views=views,
        clashes=tally.clashes,
        interrupted=tally.interrupted,
    )


def _peer_files(folder: Path, own_name: str, tally: _Tally) -> list[str]:
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        raise InvalidInput(f"{folder}: cannot list the folder: {exc.strerror}") from None
    peers: list[str] = []
    misnamed = 0
    for name in names:
        if name == own_name or name.startswith(".") or not name.endswith(SUFFIX):
            continue
        if not FILE_NAME.fullmatch(name):
            misnamed += 1
            if misnamed <= MISNAMED_LISTED:
                tally.problems.append(
                    f"{name}: not named after an installation's key (64 lowercase hex digits, then "
                    f"{SUFFIX}); not read"
                )
            continue
        if len(peers) == MAX_PEER_FILES:
            tally.problems.append(
                f"over {MAX_PEER_FILES} files in the folder; those from {name} on were not read"
            )
            break
        peers.append(name)
    if misnamed > MISNAMED_LISTED:
        tally.problems.append(
            f"and {misnamed - MISNAMED_LISTED} more {SUFFIX} files not named after an installation's key"
        )
    return peers


# -- our file ------------------------------------------------------------------------------------


def _write_own(space: Space, path: Path, me: str, mine: int, cursor: Cursor | None, tally: _Tally) -> Cursor:
    name = path.name
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        tally.problems.append(f"{name} (this installation's file): {_why(exc)}; nothing written to it")
        return cursor or Cursor()
    if st is None:
        head = 0
    elif cursor is not None and cursor.stat == stat_key(st) and _still_held(space, me, cursor):
        head = cursor.held  # unchanged since this installation last wrote it, and still in the log
    else:
        found = _own_head(space, path, me, tally)
        if found is None:
            return cursor or Cursor()
        head = found
    try:
        while head < mine:
            events = space.store.events_after(me, head, BATCH_EVENTS)
            if not events:
                break
            append_durably(path, "".join(export_line(e) for e in events).encode("utf-8"))
            tally.written += len(events)
            head = events[-1].seq
        st = os.lstat(path) if head or st is not None else None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EINVAL):
            tally.problems.append(f"{name} (this installation's file): {_why(exc)}; nothing written to it")
            return cursor or Cursor()
        raise StorageError(f"{path}: cannot append: {exc.strerror}") from None
    last = space.store.events_after(me, head - 1, 1) if head else []
    return Cursor(tail=last[0].id if last else "", held=head, stat=stat_key(st) if st is not None else None)


def _still_held(space: Space, me: str, cursor: Cursor) -> bool:
    """Whether the log still holds the event our file ends with (not so after a restore from an
    older backup: the file's head must then be checked, see :func:`_own_head`)."""
    if cursor.held == 0:
        return True
    stored = space.store.events_after(me, cursor.held - 1, 1)
    return bool(stored) and stored[0].id == cursor.tail


def _own_head(space: Space, path: Path, me: str, tally: _Tally) -> int | None:
    """The seq of the last event in this installation's file (after cutting a partial last line),
    or None (reported) when the file cannot be appended to safely."""
    name = path.name
    problem = f"{name} (this installation's file)"
    try:
        cut = cut_partial_line(path)
        if cut:
            tally.notes.append(
                f"{name}: cut {cut} byte(s) of a partial last line (an interrupted write or sync); "
                "its events are written again"
            )
        with open_regular_for_reading(path) as handle:
            fd = handle.fileno()
            size = os.fstat(fd).st_size
            line = last_line(fd, size) if size else b""
    except OSError as exc:
        tally.problems.append(f"{problem}: {_why(exc)}; nothing written to it")
        return None
    if size == 0:
        return 0
    stranger = (
        f"{problem}: its last line is not an event of this installation that the log holds "
        "(edited by someone else, or the log restored from an older backup); nothing written to it; "
        "move the file away to have it written again"
    )
    if line is None:
        tally.problems.append(stranger)
        return None
    try:
        event = parse_line(line)
        check_id(event)
    except IntegrityError:
        tally.problems.append(stranger)
        return None
    stored = space.store.events_after(me, event.seq - 1, 1) if event.origin == me and event.seq >= 1 else []
    if not stored or stored[0].id != event.id:
        tally.problems.append(stranger)
        return None
    return event.seq


# -- a peer's file -------------------------------------------------------------------------------


def _read_peer(
    space: Space,
    path: Path,
    origin: str,
    head: int,
    cursor: Cursor,
    tally: _Tally,
    stop: Callable[[], bool],
) -> Cursor:
    name = path.name
    try:
        st = os.lstat(path)
    except OSError as exc:
        tally.problems.append(f"{name}: {_why(exc)}; not read")
        return cursor
    if not stat.S_ISREG(st.st_mode):
        what = "a symbolic link (not followed)" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        tally.problems.append(f"{name}: {what}; not read")
        return cursor
    if cursor.stat == stat_key(st) and head >= cursor.held:
        return cursor
    try:
        handle = open_regular_for_reading(path)
    except OSError as exc:
        tally.problems.append(f"{name}: {_why(exc)}; not read")
        return cursor
    with handle:
        return _read_open_peer(space, handle, name, origin, head, cursor, tally, stop)


def _read_open_peer(
    space: Space,
    handle: IO[bytes],
    name: str,
    origin: str,
    head: int,
    cursor: Cursor,
    tally: _Tally,
    stop: Callable[[], bool],
) -> Cursor:
    from datacore_msg.app.views import VIEW_FAILURES, refresh

    fd = handle.fileno()
    st = os.fstat(fd)
    if not cursor_holds(cursor, fd, st.st_size, head):
        cursor = Cursor()
    handle.seek(cursor.offset)
    offset, line = cursor.offset, cursor.line
    batch: list[tuple[int, Event | IntegrityError]] = []
    batch_bytes = 0

    def flush() -> Cursor:
        nonlocal batch, batch_bytes
        if batch:
            ingested = space.store.ingest(batch, space.clock())
            tally.received += len(ingested.accepted)
            tally.clashes.extend(clashes_among(space, ingested.accepted))
            for number, reason in ingested.rejected:
                tally.reject(name, number, reason)
            if len(batch) >= BATCH_EVENTS or batch_bytes >= BATCH_BYTES:
                with contextlib.suppress(*VIEW_FAILURES):
                    tally.views.append(refresh(space))
            batch, batch_bytes = [], 0
        held = space.store.heads().get(origin, 0)
        return Cursor(offset, line, tail_hash(fd, offset), held, None)

    saved = cursor
    for number, raw, length in complete_lines(handle, line):
        offset, line = offset + length, number
        item: Event | IntegrityError
        if raw is None:
            item = IntegrityError(f"line is over {MAX_LINE_BYTES} bytes")
        elif not raw.strip():
            continue
        else:
            try:
                item = parse_line(raw)
            except IntegrityError as exc:
                item = exc
            else:
                if item.origin != origin:
                    item = IntegrityError(
                        f"an event of origin {item.origin[:12]} in the file of {origin[:12]} (a "
                        "file holds only the events of the installation it is named after)"
                    )
                elif item.seq <= head:
                    continue  # held already: skipped unverified, nothing is stored from it
        batch.append((number, item))
        batch_bytes += length
        if len(batch) >= BATCH_EVENTS or batch_bytes >= BATCH_BYTES:
            saved = flush()
            if stop():
                tally.interrupted = True
                return saved
    saved = flush()
    if offset < st.st_size:
        tally.notes.append(
            f"{name}: a partial last line (still being written or synced) is left for the next run"
        )
    # The stat is kept unless the file grew while it was read: an unchanged stat then means nothing
    # new to read (a partial last line still partial).
    return attrs.evolve(saved, stat=stat_key(st)) if offset <= st.st_size else saved


# -- --watch -------------------------------------------------------------------------------------


def watch_folder(
    open_space: Callable[[], AbstractContextManager[Space]],
    folder: str | Path,
    interval_s: float,
    stopped: threading.Event,
    report: Callable[[FolderSyncResult], None],
    failed: Callable[[DatacoreError], None],
) -> None:
    """Run :func:`sync_folder` every ``interval_s`` seconds until ``stopped`` is set, handing
    each round's result to ``report``, or its error to ``failed`` (a views lock held too long, a
    contacts file being edited: the next round tries again). The space is opened afresh each
    round, so a change to the settings or the contacts is seen by the next round."""
    while not stopped.is_set():
        try:
            with open_space() as space:
                result = sync_folder(space, folder, stop=stopped.is_set)
        except DatacoreError as exc:
            failed(exc)
        else:
            report(result)
        stopped.wait(interval_s)
