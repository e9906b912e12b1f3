"""``migrate from-org``: datacore-messaging's files (v0.1 and v0.2) imported as events of this space.

Where the old files are looked for (``PATH``, by default the space folder ``$DATACORE_ROOT/<space>``):

* a space folder (it has ``org/``): ``org/messaging/`` (v0.2, and v0.1 files moved there by hand)
  and ``org/inboxes/`` (v0.1), and its ``contacts.yaml`` when that is not this space's own contacts
  file;
* a v0.2 ``messaging`` folder (``inbox.org``, ``outbox.org``, ``agents/<user>-claude.org``), or a
  v0.1 ``inboxes`` folder (``<user>.org``, ``<user>-claude.org``, ``USERS.yaml``);
* one file.

datacore-msg writes its views where v0.2 kept its files; ``init`` keeps the old ones aside as
``inbox.org.edited-<stamp>`` (and so on) before it writes the first views. Those copies are read as
the old files; a file whose bytes are a view this installation wrote is never read as one. The old
files are only read, never written, moved or removed.

Reading is bounded (at most :data:`MAX_FILES` files of :data:`MAX_FILE_BYTES` each and
:data:`MAX_TOTAL_BYTES` in all, regular files only); the entries are mapped by
:mod:`datacore_msg.legacy.plan`; what the log already holds (the same ids: a second run) is not
appended again. Each batch of events (whole entries: a message and its mark together) is appended in
one transaction that first re-checks that none of its subjects exists (two imports at once cannot
both append).
Old contacts (``contacts.yaml``'s ``actors``, ``USERS.yaml``'s ``users``) not yet in this space's
contacts file are added with no key pinned, which ``contacts list`` shows as such.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import attrs

from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh_after_commit
from datacore_msg.config.contacts import load_contacts
from datacore_msg.config.contacts_edit import add_unpinned_contact
from datacore_msg.config.yamlsafe import load as load_yaml
from datacore_msg.errors import ConfigError, InvalidInput
from datacore_msg.eventlog.names import agent_of, is_actor, is_agent
from datacore_msg.eventlog.payloads import MessageMarked, Payload
from datacore_msg.eventlog.store import EventStore
from datacore_msg.legacy.plan import (
    AGENT,
    INBOX,
    OUTBOX,
    V01,
    Note,
    Plan,
    PlannedMessage,
    PlannedTask,
    SourceFile,
    plan,
)
from datacore_msg.projections.drivers.writer import WriteReport, is_ours
from datacore_msg.readmodels.viewcache import ViewCache

MAX_FILE_BYTES = 16 * 1024 * 1024
#: All the files of one run together (they are mapped at once): a larger set is imported by naming
#: its parts (a folder or a file) as PATH in several runs.
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 1000
BATCH = 500
#: An old tier "owner" for someone else is not kept: only your own name is the owner.
_TIERS_KEPT = ("team", "trusted", "unknown")


@attrs.frozen
class OldContact:
    name: str
    handles: tuple[str, ...]
    tier: str | None
    display: str | None
    where: str


@attrs.frozen
class Migrated:
    """What ``migrate from-org`` found and did (or, with ``dry_run``, would do)."""

    base: Path
    files: tuple[str, ...]
    plan: Plan
    #: What was appended (would be, in a dry run), and counts.
    new_messages: tuple[PlannedMessage, ...]
    new_tasks: tuple[PlannedTask, ...]
    messages: int
    marks: int
    tasks: int
    #: Entries the log already holds (a second run).
    already: int
    contacts: tuple[str, ...]
    skipped: tuple[Note, ...]
    notes: tuple[Note, ...]
    dry_run: bool
    views: WriteReport | None

    @property
    def nothing_new(self) -> bool:
        return self.messages == 0 and self.tasks == 0 and not self.contacts


def default_base(space: Space) -> Path:
    return space.paths.space_dir


def migrate_from_org(space: Space, path: str | None, dry_run: bool) -> Migrated:
    base = Path(path).expanduser().absolute() if path else default_base(space)
    if not base.exists():
        raise InvalidInput(f"{base}: no such file or folder (the old files are looked for there)")
    found, skipped = _find(space, base)
    if not found and not _contact_files(space, base):
        raise InvalidInput(
            f"{base}: no files of datacore-messaging found (org/messaging/inbox.org, outbox.org, "
            "agents/<user>-claude.org, org/inboxes/<user>.org or USERS.yaml)"
        )
    sources: list[SourceFile] = []
    total = 0
    for where, kind, owner, file in found:
        if total >= MAX_TOTAL_BYTES:
            skipped.append(
                Note(where, f"the files before it hold {MAX_TOTAL_BYTES} bytes: not read (name it as PATH)")
            )
            continue
        text, note = _read(file, where)
        if text is None:
            skipped.append(Note(where, note or "not read"))
            continue
        if note:
            skipped.append(Note(where, note))
        total += len(text)
        sources.append(SourceFile(where, kind, owner, text))
    planned = plan(sources, space.user, space.tz)
    contacts, contact_notes = _old_contacts(space, base)
    skipped.extend(contact_notes)

    store = space.store
    new_messages = [m for m in planned.messages if not store.has_subject(m.payload.id)]
    new_tasks = [t for t in planned.tasks if not store.has_subject(t.payload.id)]
    already = len(planned.messages) - len(new_messages) + len(planned.tasks) - len(new_tasks)
    #: One group per entry (a message and its mark are appended together, never split by a batch).
    items: list[list[tuple[str, Payload]]] = []
    marks = 0
    for message in new_messages:
        group: list[tuple[str, Payload]] = [(space.user, message.payload)]
        if message.mark is not None and space.user in (message.payload.author, message.payload.to):
            group.append((space.user, MessageMarked(message.payload.id, message.mark)))
            marks += 1
        items.append(group)
    items.extend([(space.user, task.payload)] for task in new_tasks)
    known = {contact.id for contact in load_contacts(space.paths.contacts_file)}
    to_add = [c for c in contacts if c.name not in known]

    views: WriteReport | None = None
    if not dry_run:
        if items:
            space.preflight()
            _append(space, items)
        for contact in to_add:
            added = contact.tier if contact.tier in _TIERS_KEPT else None
            add_unpinned_contact(
                space.paths.contacts_file,
                contact.name,
                date.today().isoformat(),
                name=contact.display,
                tier=added,
                handles=contact.handles,
            )
        if items or to_add:
            views = refresh_after_commit(space, "the imported history")
    return Migrated(
        base=base,
        files=tuple(source.label for source in sources),
        plan=planned,
        new_messages=tuple(new_messages),
        new_tasks=tuple(new_tasks),
        messages=len(new_messages),
        marks=marks,
        tasks=len(new_tasks),
        already=already,
        contacts=tuple(c.name for c in to_add),
        skipped=(*skipped, *planned.skipped),
        notes=planned.notes,
        dry_run=dry_run,
        views=views,
    )


def _append(space: Space, groups: list[list[tuple[str, Payload]]]) -> None:
    """Append the groups in transactions of about :data:`BATCH` events; each first checks that
    none of its entries was stored meanwhile."""
    key = space.signing_key()
    chunks: list[list[tuple[str, Payload]]] = [[]]
    for group in groups:
        if len(chunks[-1]) + len(group) > BATCH:
            chunks.append([])
        chunks[-1].extend(group)
    for chunk in chunks:
        if not chunk:
            continue
        subjects = {payload.subject for _, payload in chunk if not isinstance(payload, MessageMarked)}

        def none_yet(store: EventStore, subjects: set[str] = subjects) -> None:
            taken = sorted(s for s in subjects if store.has_subject(s))
            if taken:
                raise InvalidInput(
                    f"{taken[0]} was stored by another command meanwhile; run migrate from-org again"
                )

        space.store.append_all(key, chunk, space.clock(), none_yet)


# -- finding and reading the old files -------------------------------------------------------------


def _find(space: Space, base: Path) -> tuple[list[tuple[str, str, str | None, Path]], list[Note]]:
    """(label, kind, owner, path) of every old file under ``base``, and what was left out."""
    skipped: list[Note] = []
    cache = ViewCache(space.store.conn, space.store.path)
    views_dir = space.paths.views_dir.absolute()
    candidates: list[tuple[str, str | None, Path]] = []
    if base.is_file():
        candidates.append((*_kind_of(base), base))
        root = base.parent
    else:
        root = base
        messaging, inboxes = _folders(base)
        if messaging is not None:
            # inbox.org and outbox.org; any other .org file is a v0.1 file moved there by hand
            for path in _files(messaging, None):
                candidates.append((*_kind_of(path), path))
            if (messaging / "agents").is_dir():
                for path in _files(messaging / "agents", None):
                    candidates.append((*_kind_of(path), path))
        if inboxes is not None:
            for path in _files(inboxes, None):
                candidates.append((V01, _stem(path.name), path))
    found: list[tuple[str, str, str | None, Path]] = []
    for kind, owner, path in candidates:
        label = _label(path, root)
        if len(found) >= MAX_FILES:
            skipped.append(Note(label, f"more than {MAX_FILES} files: not read"))
            continue
        if _is_our_view(path, views_dir, cache):
            continue
        found.append((label, kind, owner, path))
    return found, skipped


def _folders(base: Path) -> tuple[Path | None, Path | None]:
    if (base / "org").is_dir():
        messaging, inboxes = base / "org" / "messaging", base / "org" / "inboxes"
        return (messaging if messaging.is_dir() else None, inboxes if inboxes.is_dir() else None)
    names = {entry.name for entry in _listing(base)}
    if names & {"inbox.org", "outbox.org", "agents"} or any(
        n.startswith(("inbox.org.", "outbox.org.")) for n in names
    ):
        return base, None
    return None, base


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError:
        return []


def _files(folder: Path, stems: tuple[str, ...] | None) -> Iterator[Path]:
    """The ``.org`` files of ``folder`` (only those named ``stems``, if given) and the copies of them
    kept aside by the views' writer (``NAME.edited-<stamp>``)."""
    for entry in _listing(folder):
        name = entry.name
        plain = name.split(".edited-", 1)[0] if ".edited-" in name else name
        if not plain.endswith(".org") or (stems is not None and plain not in stems):
            continue
        if entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


def _stem(name: str) -> str:
    return name.split(".edited-", 1)[0].removesuffix(".org")


def _kind_of(path: Path) -> tuple[str, str | None]:
    stem = _stem(path.name)
    if stem == "inbox" and path.parent.name != "inboxes":
        return INBOX, None
    if stem == "outbox":
        return OUTBOX, None
    if path.parent.name == "agents":
        return AGENT, stem
    return V01, stem


def _label(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _is_our_view(path: Path, views_dir: Path, cache: ViewCache) -> bool:
    """Whether ``path`` is one of this installation's views, as it last wrote it."""
    try:
        name = path.absolute().relative_to(views_dir).as_posix()
    except ValueError:
        return False
    record = cache.file_record(name)
    if record.written_hash is None:
        return False
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return is_ours(data, record)


def _read(path: Path, where: str) -> tuple[str | None, str | None]:
    """The file's text and a note (undecodable bytes), or (None, why it was not read)."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None, "not a regular file: not read"
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror}"
    if len(data) > MAX_FILE_BYTES:
        return None, f"over {MAX_FILE_BYTES} bytes: not read"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        line = data[: exc.start].count(b"\n") + 1
        return text, f"line {line}: not valid UTF-8; the undecodable bytes read as U+FFFD"


# -- contacts ------------------------------------------------------------------------------------


def _contact_files(space: Space, base: Path) -> list[tuple[Path, str]]:
    own = space.paths.contacts_file.absolute()
    out: list[tuple[Path, str]] = []
    folder = base if base.is_dir() else base.parent
    for candidate, kind in (
        (folder / "contacts.yaml", "contacts"),
        (folder / "USERS.yaml", "users"),
        (folder / "org" / "inboxes" / "USERS.yaml", "users"),
        (folder / "org" / "messaging" / "USERS.yaml", "users"),
    ):
        if candidate.is_file() and candidate.absolute() != own:
            out.append((candidate, kind))
    return out


def _old_contacts(space: Space, base: Path) -> tuple[list[OldContact], list[Note]]:
    contacts: list[OldContact] = []
    notes: list[Note] = []
    folder = base if base.is_dir() else base.parent
    for path, kind in _contact_files(space, base):
        where = _label(path, folder)
        try:
            raw = load_yaml(path)
        except ConfigError as exc:
            notes.append(Note(where, f"not read: {exc}"))
            continue
        items = _users(raw) if kind == "users" else _actors(raw)
        if items is None:
            notes.append(Note(where, "has no users: / actors: list of contacts; not read"))
            continue
        for index, (raw_name, data) in enumerate(items):
            place = f"{where}:{kind}[{index}]"
            if not isinstance(raw_name, str) or not is_actor(raw_name.removeprefix("@")):
                notes.append(Note(place, "not a valid name; not added"))
                continue
            name = raw_name.removeprefix("@")
            if name == space.user or is_agent(name) or name == agent_of(space.user):
                continue
            handles = data.get("handles") if isinstance(data, dict) else None
            handles_t = (
                tuple(h for h in handles if isinstance(h, str))[:16] if isinstance(handles, list) else ()
            )
            tier = data.get("trust_tier") if isinstance(data, dict) else None
            display = data.get("name") if isinstance(data, dict) else None
            if isinstance(display, str) and (
                not display.strip() or not display.isprintable() or len(display) > 200
            ):
                display = None
            contacts.append(
                OldContact(
                    name,
                    handles_t,
                    tier if isinstance(tier, str) else None,
                    display if isinstance(display, str) else None,
                    place,
                )
            )
    unique: dict[str, OldContact] = {}
    for contact in contacts:
        unique.setdefault(contact.name, contact)
    return list(unique.values()), notes


def _users(raw: object) -> list[tuple[object, object]] | None:
    users = raw.get("users") if isinstance(raw, dict) else None
    return list(users.items()) if isinstance(users, dict) else None


def _actors(raw: object) -> list[tuple[object, object]] | None:
    actors = raw.get("actors") if isinstance(raw, dict) else None
    if not isinstance(actors, list):
        return None
    return [(item.get("id") if isinstance(item, dict) else None, item) for item in actors]
