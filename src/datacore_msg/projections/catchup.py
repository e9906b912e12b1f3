"""Keeping the views up to date: incremental catch-up, full rebuild, and the rebuild check.

Theory of operation
-------------------
The projection's checkpoint is the last log position it applied. Catch-up reads the events after it
(in arrival order), collects the subjects (messages) they touch, and re-folds each touched message
from *all* of its events in ``(hlc, origin, seq)`` order. Because every entry is a pure function of
its own message's events, it does not matter in which order events arrived, nor whether they arrive
one at a time or in a batch: the cached entries always equal a full rebuild. The changed entries, the
files they left or joined (marked dirty) and the new checkpoint are stored in one transaction; then
the writer rewrites the dirty files. A crash between the two leaves the files dirty, and the next
command writes them. The cost of a catch-up follows the new events and the live entries, not the
history.

All of this runs under one cross-process file lock, so two commands never write views at once.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path

import attrs
import filelock

from datacore_msg.errors import Busy
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import EventStore
from datacore_msg.eventlog.viewcache import Entry, ViewCache
from datacore_msg.projections.messages import fold_message
from datacore_msg.projections.render import LIVE_FILES, entries_for, render_file, render_files
from datacore_msg.projections.writer import WriteReport, write_views

PROJECTION = "messages"
MESSAGE_TYPES = frozenset({"message.sent", "message.marked"})
LOCK_TIMEOUT_S = 60.0
#: Above this many new events, re-folding everything is cheaper than one query per subject.
FULL_REFOLD_THRESHOLD = 20_000


@attrs.frozen
class ViewContext:
    store: EventStore
    cache: ViewCache
    user: str
    tz: tzinfo
    views_dir: Path
    lock_path: Path


def views_lock(lock_path: Path) -> filelock.FileLock:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(lock_path), timeout=LOCK_TIMEOUT_S)


def _locked(ctx: ViewContext) -> filelock.FileLock:
    lock = views_lock(ctx.lock_path)
    try:
        lock.acquire(poll_interval=0.005)
    except filelock.Timeout:
        raise Busy(
            f"{ctx.lock_path}: another datacore-msg process held the views lock for over "
            f"{LOCK_TIMEOUT_S:.0f} s; nothing was lost, the views will catch up on the next command"
        ) from None
    return lock


@contextmanager
def _bulk() -> Iterator[None]:
    """Folding a whole log allocates millions of small objects and frees none until the end: the
    cyclic garbage collector's passes over them are pure overhead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold_all(ctx: ViewContext, events: Iterable[Event]) -> list[Entry]:
    with _bulk():
        return _fold_all(ctx, events)


def _fold_all(ctx: ViewContext, events: Iterable[Event]) -> list[Entry]:
    by_subject: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.type in MESSAGE_TYPES:
            subject = event.subject
            if subject is not None:
                by_subject[subject].append(event)
    entries: list[Entry] = []
    for subject_events in by_subject.values():
        subject_events.sort(key=Event.order_key)
        state = fold_message(subject_events, ctx.store.decode)
        if state is not None:
            entries.extend(entries_for(state, ctx.user, ctx.tz))
    return entries


def _render_from_cache(ctx: ViewContext, name: str) -> str | None:
    texts = ctx.cache.texts(name)
    if not texts and name not in LIVE_FILES:
        return None
    return render_file(name, texts)


def _apply_new(ctx: ViewContext) -> dict[str, str]:
    """Apply the new events to the cache; return, per file that only gained entries sorting after
    all of its existing ones, the text those entries add (see :func:`write_views`' hints)."""
    checkpoint = ctx.cache.checkpoint(PROJECTION)
    head = ctx.store.max_position()
    if head <= checkpoint:
        return {}
    if head - checkpoint > FULL_REFOLD_THRESHOLD:
        ctx.cache.replace_all(PROJECTION, head, fold_all(ctx, ctx.store.iter_sorted()))
        return {}
    subjects: set[str] = set()
    last = checkpoint
    for event in ctx.store.iter_since(checkpoint):
        assert event.position is not None
        last = max(last, event.position)
        if event.type in MESSAGE_TYPES and event.subject is not None:
            subjects.add(event.subject)
    upserts: list[Entry] = []
    deletes: list[tuple[str, str]] = []
    dirty: set[str] = set()
    rewritten: set[str] = set()
    added: dict[str, list[Entry]] = defaultdict(list)
    for subject in sorted(subjects):
        state = fold_message(ctx.store.events_for_subject(subject), ctx.store.decode)
        new_entries = [] if state is None else entries_for(state, ctx.user, ctx.tz)
        old_files = ctx.cache.entry_files([(subject, "inbox"), (subject, "outbox")])
        new_keys = {(entry.subject, entry.role) for entry in new_entries}
        deletes.extend(key for key in old_files if key not in new_keys)
        rewritten.update(old_files.values())
        for entry in new_entries:
            if (entry.subject, entry.role) in old_files:
                rewritten.add(entry.file)
            else:
                added[entry.file].append(entry)
        dirty.update(old_files.values())
        dirty.update(entry.file for entry in new_entries)
        upserts.extend(new_entries)
    hints = _append_hints(ctx.cache, added, rewritten)
    ctx.cache.apply(PROJECTION, last, upserts, deletes, dirty)
    return hints


def _append_hints(
    cache: ViewCache, added: dict[str, list[Entry]], rewritten: set[str]
) -> dict[str, str]:
    hints: dict[str, str] = {}
    for file, entries in added.items():
        if file in rewritten:
            continue
        record = cache.file_record(file)
        if record.dirty or record.written_hash is None:
            continue
        entries.sort(key=lambda entry: entry.sort)
        last = cache.last_sort(file)
        if last is not None and entries[0].sort <= last:
            continue
        hints[file] = "".join(entry.text for entry in entries)
    return hints


def catch_up(ctx: ViewContext) -> WriteReport:
    """Apply what is new in the log to the views and write the files that changed."""
    lock = _locked(ctx)
    try:
        hints = _apply_new(ctx)
        return write_views(
            ctx.views_dir,
            ctx.cache,
            lambda name: _render_from_cache(ctx, name),
            LIVE_FILES,
            appended=hints,
        )
    finally:
        lock.release()


def render_all(ctx: ViewContext) -> dict[str, str]:
    """Every view file, rendered from the whole log in memory (touches neither cache nor disk)."""
    return render_files(fold_all(ctx, ctx.store.iter_sorted()))


def rebuild(ctx: ViewContext) -> WriteReport:
    """Drop the cached entries, re-fold the whole log and write every view file."""
    lock = _locked(ctx)
    try:
        head = ctx.store.max_position()
        entries = fold_all(ctx, ctx.store.iter_sorted())
        ctx.cache.replace_all(PROJECTION, head, entries)
        files = render_files(entries)
        return write_views(
            ctx.views_dir, ctx.cache, files.get, files.keys()
        )
    finally:
        lock.release()


def check(ctx: ViewContext) -> list[str]:
    """The view files whose bytes on disk differ from a full rebuild (missing ones included)."""
    expected = render_all(ctx)
    differing = []
    for name, text in expected.items():
        path = ctx.views_dir / name
        try:
            on_disk = path.read_bytes()
        except FileNotFoundError:
            on_disk = None
        if on_disk != text.encode("utf-8"):
            differing.append(name)
    archive_dir = ctx.views_dir / "archive"
    if archive_dir.is_dir():
        for path in sorted(archive_dir.glob("*.org_archive")):
            name = f"archive/{path.name}"
            if name not in expected:
                differing.append(name)
    return differing
