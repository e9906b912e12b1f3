"""Keeping the views up to date: incremental catch-up, full rebuild, and the rebuild check.

Theory of operation
-------------------
The projection's checkpoint is the last log position it applied. Catch-up reads the events after it
(in arrival order), collects the subjects (messages and tasks) they touch, and re-folds each touched
subject from *all* of its events in ``(hlc, origin, seq)`` order. Because every entry is a pure
function of its own subject's events, it does not matter in which order events arrived, nor whether
they arrive one at a time or in a batch: the cached entries always equal a full rebuild. The changed
entries, the task rows the governor's figures are read from, the search documents
(:mod:`datacore_msg.projections.searchdocs`), the files they left or joined (marked dirty) and the
new checkpoint are stored in one transaction; then the writer rewrites the dirty files.
A crash between the two leaves the files dirty, and the next command writes them. The cost of a
catch-up follows the new events and the live entries, not the history.

Folds depend on the pinned keys (who may act as whom, and which senders' names are verified or look
like a pinned one); the derived state records the trust book's fingerprint and the format of its
rows, and a change of either re-folds everything once.

Between applying and writing, a caller may run a step that appends events (the governor deciding
the requests that just arrived); catch-up applies those too before it writes, so one command leaves
the views showing the decisions.

All of this runs under one cross-process file lock, so two commands never write views at once.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path

from datacore_msg.errors import Busy
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.eventlog.names import agent_of
from datacore_msg.eventlog.payloads import TASK_TYPES
from datacore_msg.eventlog.store import EventStore
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.projections.agent_view import ROLE as AGENT_ROLE
from datacore_msg.projections.agent_view import agent_file, task_entry
from datacore_msg.projections.drivers.viewlock import LockTimeout, ViewsLock, views_lock
from datacore_msg.projections.drivers.writer import Edit, WriteReport, edited_text, is_written, write_views
from datacore_msg.projections.messages import MessageState, fold_message
from datacore_msg.projections.render import LIVE_FILES, entries_for, render_file, render_files
from datacore_msg.projections.searchdocs import MESSAGE, TASK, message_doc, task_doc
from datacore_msg.projections.tasks import TaskState, fold_task
from datacore_msg.readmodels.entry import Entry
from datacore_msg.readmodels.meta import DERIVED_FORMAT, PROJECTION
from datacore_msg.readmodels.searchdoc import SearchDoc
from datacore_msg.readmodels.taskcache import TaskCache, TaskRow
from datacore_msg.readmodels.viewcache import ViewCache
from datacore_msg.records import Record, set_field
from datacore_msg.task_states import WORKING

TRUST_META = "trust"
FORMAT_META = "format"
MESSAGE_TYPES = frozenset({"message.sent", "message.marked", "message.imported"})
MESSAGE_ROLES = ("inbox", "outbox")
#: Appends events between applying and writing; returns whether it appended any.
Step = Callable[[], bool]


class Recognised(Record):
    """What a recogniser made of a hand edit: the events it appended, and the edited text with the
    recognised changes undone (when that is the text last written, the edit is fully accounted for
    and needs no copy kept aside)."""

    __slots__ = ("appended", "reverted")

    appended: int
    reverted: str | None

    def __init__(
        self,
        appended: int,
        reverted: str | None,
    ) -> None:
        set_field(self, "appended", appended)
        set_field(self, "reverted", reverted)


#: Turns recognised changes of a hand-edited view (name, text on disk) into events.
Recognise = Callable[[str, str], Recognised]
MAX_STEPS = 100_000
LOCK_TIMEOUT_S = 60.0
#: Above this many new events, re-folding everything is cheaper than one query per subject.
FULL_REFOLD_THRESHOLD = 20_000


class ViewContext(Record):
    __slots__ = ("book", "cache", "lock_path", "lock_timeout_s", "store", "tz", "user", "views_dir")
    store: EventStore
    cache: ViewCache
    user: str
    tz: tzinfo
    views_dir: Path
    lock_path: Path
    book: TrustBook
    lock_timeout_s: float

    def __init__(
        self,
        store: EventStore,
        cache: ViewCache,
        user: str,
        tz: tzinfo,
        views_dir: Path,
        lock_path: Path,
        book: TrustBook,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
    ) -> None:
        set_field(self, "store", store)
        set_field(self, "cache", cache)
        set_field(self, "user", user)
        set_field(self, "tz", tz)
        set_field(self, "views_dir", views_dir)
        set_field(self, "lock_path", lock_path)
        set_field(self, "book", book)
        set_field(self, "lock_timeout_s", lock_timeout_s)

    @property
    def agent(self) -> str:
        return agent_of(self.user)

    @property
    def live_files(self) -> tuple[str, ...]:
        return (*LIVE_FILES, agent_file(self.agent))

    @property
    def tasks(self) -> TaskCache:
        return TaskCache(self.store.conn, self.store.path)


def task_row(state: TaskState, book: TrustBook) -> TaskRow:
    sender = book.sender(state.sender, state.request_origin, state.imported is not None)
    return TaskRow(
        task=state.id,
        agent=state.agent,
        sender=book.account_of(state.sender, state.request_origin),
        state=state.state,
        estimate=state.request.tokens,
        let_through_ms=state.let_through_ms,
        state_ms=state.started_at
        if state.state == WORKING and state.started_at is not None
        else physical_ms(state.state_hlc),
        retry_count=state.retry_count,
        priority=state.request.priority,
        sort=state.request_order,
        completions=tuple((c.at_ms, c.tokens) for c in state.completions),
        tier=None if state.decision is None else state.decision.tier,
        effort=state.request.effort,
        tags=state.request.tags,
        requested_ms=physical_ms(state.request_order[0]),
        text=state.request.text,
        unpinned_key=None
        if state.imported is not None or book.backs(state.sender, state.request_origin)
        else state.request_origin,
        sender_verified=sender.verified,
        sender_looks_like=sender.looks_like,
        deferred_until=state.deferred_until_ms,
    )


def _message_entries(ctx: ViewContext, state: MessageState) -> tuple[list[Entry], SearchDoc | None]:
    """The message's entries in the user's views, and its search document (None without entries)."""
    sender = ctx.book.sender(state.sent.sender, state.sent_origin, state.imported is not None)
    return entries_for(state, ctx.user, ctx.tz, sender), message_doc(state, ctx.user, sender)


def _task_entry(ctx: ViewContext, task: TaskState) -> tuple[Entry, SearchDoc]:
    sender = ctx.book.sender(task.sender, task.request_origin, task.imported is not None)
    return task_entry(task, ctx.tz, sender), task_doc(task, sender)


def _locked(ctx: ViewContext) -> ViewsLock:
    lock = views_lock(ctx.lock_path, ctx.lock_timeout_s)
    try:
        lock.acquire()
    except LockTimeout:
        raise Busy(
            f"{ctx.lock_path}: another datacore-msg process held the views lock for over "
            f"{ctx.lock_timeout_s:.0f} s; nothing was lost, the views will catch up on the next command"
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


class Folded(Record):
    __slots__ = ("docs", "entries", "task_rows")
    entries: list[Entry]
    task_rows: list[TaskRow]
    docs: list[SearchDoc]

    def __init__(
        self,
        entries: list[Entry],
        task_rows: list[TaskRow],
        docs: list[SearchDoc],
    ) -> None:
        set_field(self, "entries", entries)
        set_field(self, "task_rows", task_rows)
        set_field(self, "docs", docs)


def fold_all(ctx: ViewContext, events: Iterable[Event]) -> Folded:
    with _bulk():
        return _fold_groups(ctx, _grouped(events))


def fold_log(ctx: ViewContext) -> Folded:
    """:func:`fold_all` of the whole log, read one subject at a time (bounded memory). A log whose
    stored subject column disagrees with an event's payload (edited behind the triggers' back,
    which ``verify`` reports) is folded from the payloads instead, as :func:`fold_all` does."""
    try:
        with _bulk():
            return _fold_groups(ctx, _stored_groups(ctx.store))
    except _SubjectMismatch:
        return fold_all(ctx, ctx.store.iter_sorted())


class _SubjectMismatch(Exception):
    pass


#: One subject's message events and task events, each in ``(hlc, origin, seq)`` order.
Group = tuple[list[Event], list[Event]]


def _grouped(events: Iterable[Event]) -> Iterator[Group]:
    messages: dict[str, list[Event]] = defaultdict(list)
    tasks: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.type in MESSAGE_TYPES:
            subject = event.subject
            if subject is not None:
                messages[subject].append(event)
        elif event.type in TASK_TYPES:
            subject = event.subject
            if subject is not None:
                tasks[subject].append(event)
    for subject_events in messages.values():
        subject_events.sort(key=Event.order_key)
        yield subject_events, []
    for subject_events in tasks.values():
        subject_events.sort(key=Event.order_key)
        yield [], subject_events


def _stored_groups(store: EventStore) -> Iterator[Group]:
    for subject, events in store.iter_subjects():
        messages: list[Event] = []
        tasks: list[Event] = []
        for event in events:
            if event.type in MESSAGE_TYPES:
                messages.append(event)
            elif event.type in TASK_TYPES:
                tasks.append(event)
            else:
                continue
            if event.subject != subject:
                raise _SubjectMismatch
        yield messages, tasks


def _fold_groups(ctx: ViewContext, groups: Iterable[Group]) -> Folded:
    rows: list[TaskRow] = []
    docs: list[SearchDoc] = []
    entries = list(_fold_stream(ctx, groups, rows, docs))
    return Folded(entries, rows, docs)


def _fold_stream(
    ctx: ViewContext, groups: Iterable[Group], rows: list[TaskRow], docs: list[SearchDoc]
) -> Iterator[Entry]:
    """The entries of ``groups``, lazily; each task's row is appended to ``rows`` and each search
    document to ``docs`` as it is folded."""
    for message_events, task_events in groups:
        if message_events:
            state = fold_message(message_events, ctx.store.decode, ctx.book)
            if state is not None:
                entries, doc = _message_entries(ctx, state)
                if doc is not None:
                    docs.append(doc)
                yield from entries
        if task_events:
            task = fold_task(task_events, ctx.store.decode, ctx.book)
            if task is not None:
                rows.append(task_row(task, ctx.book))
                if task.agent == ctx.agent:
                    entry, doc = _task_entry(ctx, task)
                    docs.append(doc)
                    yield entry


def _render_from_cache(ctx: ViewContext, name: str) -> str | None:
    texts = ctx.cache.texts(name)
    if not texts and name not in ctx.live_files:
        return None
    return render_file(name, texts)


def _refold(
    ctx: ViewContext, events: list[Event], is_task: bool
) -> tuple[list[Entry], TaskRow | None, SearchDoc | None]:
    if not is_task:
        state = fold_message(events, ctx.store.decode, ctx.book)
        if state is None:
            return [], None, None
        entries, doc = _message_entries(ctx, state)
        return entries, None, doc
    task = fold_task(events, ctx.store.decode, ctx.book)
    if task is None:
        return [], None, None
    if task.agent != ctx.agent:
        return [], task_row(task, ctx.book), None
    entry, doc = _task_entry(ctx, task)
    return [entry], task_row(task, ctx.book), doc


def derived_meta(ctx: ViewContext) -> dict[str, str]:
    """What the derived state is folded with: the pinned keys' fingerprint and the rows' format."""
    return {TRUST_META: ctx.book.fingerprint(), FORMAT_META: DERIVED_FORMAT}


def _stale(ctx: ViewContext) -> bool:
    """The derived state was folded with other pinned keys, or in an older format."""
    tasks = ctx.tasks
    return tasks.meta(TRUST_META) != ctx.book.fingerprint() or tasks.meta(FORMAT_META) != DERIVED_FORMAT


def _replace_everything(ctx: ViewContext) -> None:
    """Re-fold the whole log into the cache, one subject at a time: the entries stream into the
    cache's staging table as they are folded, so neither the log nor the entries are held whole."""
    head = ctx.store.max_position()
    rows: list[TaskRow] = []
    docs: list[SearchDoc] = []
    try:
        with _bulk():
            entries = _fold_stream(ctx, _stored_groups(ctx.store), rows, docs)
            # replace_all stages every entry before it reads the task rows they fill in
            ctx.cache.replace_all(PROJECTION, head, entries, rows, derived_meta(ctx), docs)
    except _SubjectMismatch:
        folded = fold_all(ctx, ctx.store.iter_sorted())
        ctx.cache.replace_all(
            PROJECTION, head, folded.entries, folded.task_rows, derived_meta(ctx), folded.docs
        )


def _new_subjects(ctx: ViewContext, checkpoint: int) -> tuple[dict[str, bool], int]:
    """The subjects of the events after ``checkpoint`` (True for a task), and the last position."""
    subjects: dict[str, bool] = {}
    last = checkpoint
    for event in ctx.store.iter_since(checkpoint):
        assert event.position is not None
        last = max(last, event.position)
        if event.subject is None:
            continue
        if event.type in MESSAGE_TYPES:
            subjects[event.subject] = False
        elif event.type in TASK_TYPES:
            subjects[event.subject] = True
    return subjects, last


def _roles(is_task: bool) -> tuple[str, ...]:
    return (AGENT_ROLE,) if is_task else MESSAGE_ROLES


def _apply_new(ctx: ViewContext) -> dict[str, Edit]:
    """Apply the new events to the cache; return, per file whose change is entries changed in
    place, removed, or added after all of its existing ones, that edit (see :func:`write_views`)."""
    checkpoint = ctx.cache.checkpoint(PROJECTION)
    head = ctx.store.max_position()
    if _stale(ctx):
        _replace_everything(ctx)
        return {}
    if head <= checkpoint:
        return {}
    if head - checkpoint > FULL_REFOLD_THRESHOLD:
        _replace_everything(ctx)
        return {}
    subjects, last = _new_subjects(ctx, checkpoint)
    upserts: list[Entry] = []
    deletes: list[tuple[str, str]] = []
    dirty: set[str] = set()
    replaced: dict[str, list[tuple[str, str]]] = defaultdict(list)
    added: dict[str, list[Entry]] = defaultdict(list)
    task_rows: list[TaskRow] = []
    docs: list[SearchDoc] = []
    doc_deletes: list[tuple[str, str]] = []
    loaded = ctx.store.events_for_subjects(list(subjects))
    cached = ctx.cache.entry_rows(
        [(subject, role) for subject, is_task in subjects.items() for role in _roles(is_task)]
    )
    for subject in sorted(subjects):
        is_task = subjects[subject]
        new_entries, row, doc = _refold(ctx, loaded.get(subject, []), is_task)
        if row is not None:
            task_rows.append(row)
        if doc is not None:
            docs.append(doc)
        else:
            doc_deletes.append((TASK if is_task else MESSAGE, subject))
        old_rows = {
            (subject, role): cached[(subject, role)] for role in _roles(is_task) if (subject, role) in cached
        }
        new_by_key = {(entry.subject, entry.role): entry for entry in new_entries}
        deletes.extend(key for key in old_rows if key not in new_by_key)
        for key, (file, sort, text) in old_rows.items():
            entry = new_by_key.get(key)
            if entry is not None and entry.file == file and entry.sort == sort:
                if entry.text != text:
                    replaced[file].append((text, entry.text))
            else:
                replaced[file].append((text, ""))
                if entry is not None:
                    added[entry.file].append(entry)
        added_keys = {key for key in new_by_key if key not in old_rows}
        for key in sorted(added_keys):
            added[new_by_key[key].file].append(new_by_key[key])
        dirty.update(file for file, _, _ in old_rows.values())
        dirty.update(entry.file for entry in new_entries)
        upserts.extend(new_entries)
    hints = _edit_hints(ctx.cache, replaced, added, ctx.live_files)
    ctx.cache.apply(PROJECTION, last, upserts, deletes, dirty, task_rows, docs, doc_deletes)
    return hints


def _edit_hints(
    cache: ViewCache,
    replaced: dict[str, list[tuple[str, str]]],
    added: dict[str, list[Entry]],
    live_files: Iterable[str],
) -> dict[str, Edit]:
    """Per file on disk as last written, the edit that turns its bytes into the new render: entries
    changed in place (same file, same place) or removed, and entries added after all of its
    existing ones. A file gaining an entry anywhere else gets no hint (it is rendered whole), nor
    does an archive file that only loses entries (it is removed when it has none left)."""
    hints: dict[str, Edit] = {}
    live = set(live_files)
    for file in sorted(set(replaced) | set(added)):
        record = cache.file_record(file)
        if record.dirty or record.written_hash is None:
            continue
        if file not in live and not added.get(file):
            continue
        entries = sorted(added.get(file, []), key=lambda entry: entry.sort)
        if entries:
            last = cache.last_sort(file)
            if last is not None and entries[0].sort <= last:
                continue
        hints[file] = Edit(tuple(replaced.get(file, [])), "".join(entry.text for entry in entries))
    return hints


def catch_up(ctx: ViewContext, step: Step | None = None, recognise: Recognise | None = None) -> WriteReport:
    """Apply what is new in the log to the views, offer hand-edited views to ``recognise``, run
    ``step`` (which may append events, applied in turn) until it has nothing more to do, and write
    the files that changed. A hand edit that the new events fully account for is settled; any other
    is kept aside by the writer."""
    lock = _locked(ctx)
    try:
        hints = _apply_new(ctx)
        absorbed: set[str] = set()
        if recognise is not None:
            for name in ctx.live_files:
                text = edited_text(ctx.views_dir, ctx.cache, name)
                if text is None:
                    continue
                outcome = recognise(name, text)
                if outcome.appended:
                    hints = {}
                    _apply_new(ctx)
                if outcome.reverted is not None and is_written(ctx.cache, name, outcome.reverted):
                    absorbed.add(name)
        if step is not None:
            for _ in range(MAX_STEPS):
                if not step():
                    break
                hints = {}
                _apply_new(ctx)
        return write_views(
            ctx.views_dir,
            ctx.cache,
            lambda name: _render_from_cache(ctx, name),
            ctx.live_files,
            edits=hints,
            absorbed=absorbed,
        )
    finally:
        lock.release()


def render_all(ctx: ViewContext) -> dict[str, str]:
    """Every view file, rendered from the whole log in memory (touches neither cache nor disk)."""
    return render_files(fold_log(ctx).entries, ctx.live_files)


def rebuild(ctx: ViewContext) -> WriteReport:
    """Drop the cached entries, re-fold the whole log and write every view file."""
    lock = _locked(ctx)
    try:
        _replace_everything(ctx)
        # every file with entries is dirty now; each is rendered from the cache in turn
        return write_views(
            ctx.views_dir, ctx.cache, lambda name: _render_from_cache(ctx, name), ctx.live_files
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
