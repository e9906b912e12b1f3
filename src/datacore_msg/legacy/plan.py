"""What the old files hold, as events of this installation: entries -> ``message.imported``,
``message.marked`` and ``task.imported`` payloads, plus a report of what was left out. Pure.

Theory of operation
-------------------
Each entry the reader (:mod:`datacore_msg.legacy.orgread`) returns is mapped on its own; a problem
with one entry skips that entry (with its file and line) and never the others. What an entry holds
that no event field can carry is kept where it can be (a task's other properties are kept verbatim
in ``properties``) and otherwise listed as a note, so nothing is dropped silently.

* **Which entries.** Messages from or to the importing user (or from the user's agent); tasks of the
  user's own agent. A message between two other people (v0.2's universal inbox showed everyone's)
  or a task of another user's agent belongs to that user's import and is skipped, saying so.
* **Ids.** A v0.2 id that is already a valid id is kept. Any other id (v0.1's
  ``msg-YYYYMMDD-HHMMSS-<sender>``, v0.2's task ids ``org-…``/``msg-…``) maps to a valid id with the
  same date and time and 8 hex digits of the SHA-256 of the old id (``task-…`` keeps the hex of
  ``org-…-<hex>``): the same old id always maps to the same new one, so replies and threads point
  at their parents and a second run finds what the first appended. The old id is kept in the
  payload's ``original``. An entry without an ``ID`` gets one from the hash of its sender, recipient,
  time and text. Two entries with one old id: the same message again is imported once; a different
  one (v0.1 ids were not unique within a second) gets an id of its own, noted.
* **Marks.** For a message to the user: ``TODO`` + ``:unread:`` is unread (no mark), ``TODO`` is
  ``todo``, ``DONE`` is ``read`` (``done`` with a ``:done:`` tag), ``ARCHIVED`` is ``archive``; v0.1's
  ``MESSAGE`` reads its tags (``:unread:`` none, ``:todo:``, ``:done:``, else ``read``). A message from
  the user keeps only ``archive``.
* **Task states.** ``DONE``, ``CANCELLED`` and ``ARCHIVED`` are kept. A task still in play
  (``WAITING``, ``QUEUED``, ``WORKING``, v0.1's open ones) is imported ``WAITING``: work from an old
  file waits for the owner's approval again (noted for ``QUEUED`` and ``WORKING``).
* **Trust.** The old ``TRUST_TIER``, ``APPROVAL`` and ``AWAITING`` are kept as history in
  ``properties``; the views show them as ``OLD_…`` and they never set a tier or a decision.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone, tzinfo

import attrs

from datacore_msg.eventlog.names import (
    MAX_TAGS,
    MESSAGE_ID_RE,
    TASK_ID_RE,
    agent_of,
    is_actor,
    is_agent,
    is_tag,
    owner_of,
    text_problem,
)
from datacore_msg.eventlog.payloads import (
    MAX_EFFORT,
    MAX_IMPORTED_PROPERTIES,
    MAX_PROPERTY_CHARS,
    MAX_TOKENS,
    ORIGINAL_ID_RE,
    PROPERTY_NAME_RE,
    MessageImported,
    TaskImported,
)
from datacore_msg.legacy.orgread import Entry, read_org

#: What a file is, which decides how its entries are read.
INBOX, OUTBOX, AGENT, V01 = "inbox", "outbox", "agent", "v0.1"
_STATUS_TAGS = frozenset({"unread", "message", "todo", "done"})
_PRIORITIES = {"A": "A", "B": "B", "C": "C", "HIGH": "A", "NORMAL": "B", "LOW": "C"}
_MESSAGE_FIELDS = frozenset({"ID", "FROM", "TO", "REPLY_TO", "THREAD", "PRIORITY", "CREATED"})
_TASK_FIELDS = frozenset({"ID", "FROM", "TO", "SUBMITTED", "CREATED"})
_OLD_STAMP = re.compile(r"(?:thread-)?(?:msg|org|task)-(\d{8})-(\d{6})(?:-(.*))?")
_ORG_TIME = re.compile(
    r"[\[<](\d{4})-(\d{2})-(\d{2})(?:[ \t]+[^\]>\d\s]+)?(?:[ \t]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?[^\]>]*[\]>]"
)
_BARE_TIME = re.compile(r"[\[<]\d{4}-\d{2}-\d{2}[^\]>]*[\]>]")


@attrs.frozen
class SourceFile:
    """One old file: ``label`` names it in reports, ``kind`` is one of INBOX, OUTBOX, AGENT, V01 and
    ``owner`` is whose it was (the agent of an agent file, the recipient of a v0.1 inbox file)."""

    label: str
    kind: str
    owner: str | None
    text: str


@attrs.frozen
class Note:
    where: str  # file:line
    what: str


@attrs.frozen
class PlannedMessage:
    payload: MessageImported
    mark: str | None
    where: str


@attrs.frozen
class PlannedTask:
    payload: TaskImported
    where: str


@attrs.frozen
class Plan:
    messages: tuple[PlannedMessage, ...]
    tasks: tuple[PlannedTask, ...]
    #: Entries (or parts of files) not imported, with why.
    skipped: tuple[Note, ...]
    #: Entries imported, with something of them no event could carry as it was.
    notes: tuple[Note, ...]


class _Skip(Exception):
    """This entry is not imported (the message says why)."""


# -- ids -----------------------------------------------------------------------------------------


def _hex8(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:8]


def _stamp(original: str, fallback: str) -> str:
    match = _OLD_STAMP.fullmatch(original)
    return f"{match.group(1)}-{match.group(2)}" if match else fallback


def message_id_for(original: str, fallback_stamp: str = "19700101-000000", copy: int = 0) -> str:
    """The message id an old id maps to (itself when it is valid); ``copy`` > 0 for a different
    message that reused an old id."""
    if copy == 0 and MESSAGE_ID_RE.fullmatch(original):
        return original
    salt = (original,) if copy == 0 else (original, str(copy))
    return f"msg-{_stamp(original, fallback_stamp)}-{_hex8('msg', *salt)}"


def task_id_for(original: str, fallback_stamp: str = "19700101-000000", copy: int = 0) -> str:
    if copy == 0:
        if TASK_ID_RE.fullmatch(original):
            return original
        match = _OLD_STAMP.fullmatch(original)
        if match and match.group(3) and re.fullmatch(r"[0-9a-f]{8}", match.group(3)):
            return f"task-{match.group(1)}-{match.group(2)}-{match.group(3)}"
    salt = (original,) if copy == 0 else (original, str(copy))
    return f"task-{_stamp(original, fallback_stamp)}-{_hex8('task', *salt)}"


def parent_id_for(original: str) -> str | None:
    """Where an old ``REPLY_TO`` / ``THREAD`` points (v0.1 threads are ``thread-<root id>``)."""
    value = original.removeprefix("thread-")
    if not value or ORIGINAL_ID_RE.fullmatch(value) is None:
        return None
    if value.startswith(("org-", "task-")):
        return task_id_for(value)
    return message_id_for(value)


# -- times ---------------------------------------------------------------------------------------


def time_ms(value: str, tz: tzinfo) -> int | None:
    """An org timestamp (``[2026-03-11 Wed 14:30]``) or an ISO time, in ``tz`` when it names no
    zone, as ms since the epoch; None when it is neither (or before 1970)."""
    value = value.strip()
    match = _ORG_TIME.match(value)
    try:
        if match:
            year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            moment = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
        ms = int(moment.timestamp()) * 1000
    except (ValueError, OverflowError, OSError):
        return None
    return ms if 0 <= ms < 2**62 else None


def _utc_stamp(ms: int | None) -> str:
    if ms is None:
        return "19700101-000000"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y%m%d-%H%M%S")


# -- entries -------------------------------------------------------------------------------------


@attrs.define
class _Planner:
    user: str
    tz: tzinfo
    messages: list[PlannedMessage] = attrs.Factory(list)
    tasks: list[PlannedTask] = attrs.Factory(list)
    skipped: list[Note] = attrs.Factory(list)
    notes: list[Note] = attrs.Factory(list)
    #: old id -> (content, where, copies so far) per kind
    seen: dict[tuple[str, str], tuple[tuple[object, ...], str, int]] = attrs.Factory(dict)

    @property
    def agent(self) -> str:
        return agent_of(self.user)

    def file(self, source: SourceFile) -> None:
        parsed = read_org(source.text)
        for problem in parsed.problems:
            self.skipped.append(Note(f"{source.label}:{problem.line}", problem.why))
        for entry in parsed.entries:
            where = f"{source.label}:{entry.line}"
            for problem in entry.problems:
                self.notes.append(Note(f"{source.label}:{problem.line}", problem.why))
            try:
                self._entry(source, entry, where)
            except _Skip as skip:
                self.skipped.append(Note(where, str(skip)))

    def _entry(self, source: SourceFile, entry: Entry, where: str) -> None:
        props = entry.properties
        sender = _name(props.get("FROM"), "FROM")
        if source.kind == AGENT:
            to = _name(props.get("TO") or source.owner, "TO")
        elif "TO" in props:
            to = _name(props.get("TO"), "TO")
        elif source.kind == V01 and source.owner is not None:
            to = _name(source.owner, "TO")
        elif source.kind == INBOX:
            to = self.user
        else:
            raise _Skip("no TO property")
        if is_agent(to):
            self._task(source, entry, where, sender, to)
        else:
            self._message(entry, where, sender, to)

    # -- messages --------------------------------------------------------------------------------

    def _message(self, entry: Entry, where: str, sender: str, to: str) -> None:
        ours = (self.user, self.agent)
        if sender not in ours and to != self.user:
            raise _Skip(
                f"a message from {sender} to {to}: neither is you ({self.user}); it is theirs to import"
            )
        props = entry.properties
        at = self._time(entry, ("CREATED",), where)
        text = _text(entry.body, where)
        original, content = props.get("ID", ""), (sender, to, text, at)
        if not original:
            original = "sha256-" + hashlib.sha256(repr(content).encode("utf-8")).hexdigest()[:16]
            self.notes.append(Note(where, f"no ID (its readers skipped it): imported as {original}"))
        elif ORIGINAL_ID_RE.fullmatch(original) is None:
            raise _Skip(f"ID {_clip(original)!r} is not an id (letters, digits and ._:@+-, at most 128)")
        copy = self._copy("message", original, content, where)
        message_id = message_id_for(original, _utc_stamp(at), copy)
        priority = self._priority(entry, where)
        parents = [self._parent(props, name, where) for name in ("REPLY_TO", "THREAD")]
        reply_to, thread = parents
        if reply_to is not None and thread is None:
            thread = reply_to
        for name in sorted(set(props) - _MESSAGE_FIELDS):
            line = entry.property_lines.get(name, entry.line)
            self.notes.append(
                Note(
                    where.rsplit(":", 1)[0] + f":{line}",
                    f"{name} is not kept (a message has no field for it)",
                )
            )
        payload = MessageImported(
            id=message_id,
            original=original,
            author=sender,
            to=to,
            text=text,
            reply_to=reply_to,
            thread=thread,
            priority=priority,
            at=at,
        )
        self.messages.append(PlannedMessage(payload, self._mark(entry, sender, to, where), where))

    def _mark(self, entry: Entry, sender: str, to: str, where: str) -> str | None:
        keyword, tags = entry.keyword, set(entry.tags)
        if keyword == "ARCHIVED":
            return "archive"
        if to != self.user:
            return None
        if keyword == "DONE":
            return "done" if "done" in tags else "read"
        if keyword == "TODO":
            return None if "unread" in tags else "todo"
        if keyword in (None, "MESSAGE"):
            if "unread" in tags:
                return None
            return "todo" if "todo" in tags else "done" if "done" in tags else "read"
        self.notes.append(Note(where, f"a message with the keyword {keyword}: imported as read"))
        return "read"

    def _parent(self, props: dict[str, str], name: str, where: str) -> str | None:
        value = props.get(name)
        if not value:
            return None
        parent = parent_id_for(value)
        if parent is None:
            self.notes.append(Note(where, f"{name} {_clip(value)!r} is not an id; left out"))
        return parent

    # -- tasks -----------------------------------------------------------------------------------

    def _task(self, source: SourceFile, entry: Entry, where: str, sender: str, to: str) -> None:
        if to != self.agent:
            raise _Skip(f"a task for {to}, not your agent {self.agent}: {owner_of(to)} imports it")
        props = entry.properties
        at = self._time(entry, ("SUBMITTED", "CREATED"), where)
        title = "" if _BARE_TIME.fullmatch(entry.title) else entry.title
        text = _text("\n\n".join(part for part in (title, entry.body) if part), where)
        original = props.get("ID", "")
        content = (sender, to, text, at)
        if not original:
            original = "sha256-" + hashlib.sha256(repr(content).encode("utf-8")).hexdigest()[:16]
            self.notes.append(Note(where, f"no ID: imported as {original}"))
        elif ORIGINAL_ID_RE.fullmatch(original) is None:
            raise _Skip(f"ID {_clip(original)!r} is not an id (letters, digits and ._:@+-, at most 128)")
        copy = self._copy("task", original, content, where)
        state = self._state(entry, props, where)
        closed_at = None
        if state in ("CANCELLED", "ARCHIVED") and "CLOSED" in entry.planning:
            closed_at = time_ms(entry.planning["CLOSED"], self.tz)
        kept, effort, tokens = self._task_properties(source, entry, where)
        payload = TaskImported(
            id=task_id_for(original, _utc_stamp(at), copy),
            original=original,
            author=sender,
            to=to,
            text=text,
            state=state,
            tags=self._tags(entry, where),
            effort=effort,
            tokens=tokens,
            priority=self._priority(entry, where),
            properties=kept,
            at=at,
            closed_at=closed_at,
        )
        self.tasks.append(PlannedTask(payload, where))

    def _state(self, entry: Entry, props: dict[str, str], where: str) -> str:
        keyword = entry.keyword
        if keyword in ("DONE", "CANCELLED", "ARCHIVED"):
            return keyword
        if keyword in ("QUEUED", "WORKING"):
            self.notes.append(
                Note(
                    where,
                    f"was {keyword}: imported as WAITING (work from an old file waits for your approval)",
                )
            )
            return "WAITING"
        status = props.get("TASK_STATUS", "").lower()
        if keyword in (None, "MESSAGE", "TODO") and (status == "done" or "done" in entry.tags):
            return "DONE"
        if status == "working":
            self.notes.append(Note(where, "was working: imported as WAITING (it waits for your approval)"))
        return "WAITING"

    def _task_properties(
        self, source: SourceFile, entry: Entry, where: str
    ) -> tuple[dict[str, str], int | None, int | None]:
        kept: dict[str, str] = {}
        effort = tokens = None
        for name, value in entry.properties.items():
            line = f"{source.label}:{entry.property_lines.get(name, entry.line)}"
            if name in _TASK_FIELDS:
                continue
            if name == "EFFORT" and (number := _whole(value, 1, MAX_EFFORT)) is not None:
                effort = number
                continue
            if name == "ESTIMATED_TOKENS" and (number := _whole(value, 1, MAX_TOKENS)) is not None:
                tokens = number
                continue
            if PROPERTY_NAME_RE.fullmatch(name) is None:
                self.notes.append(
                    Note(line, f"property {_clip(name)!r} has a name no view can carry; not kept")
                )
                continue
            if len(kept) >= MAX_IMPORTED_PROPERTIES:
                self.notes.append(
                    Note(line, f"more than {MAX_IMPORTED_PROPERTIES} properties; {name} is not kept")
                )
                continue
            clean = "".join(ch if ord(ch) >= 32 and ord(ch) != 127 else " " for ch in value)
            if len(clean) > MAX_PROPERTY_CHARS:
                self.notes.append(Note(line, f"{name} is cut to {MAX_PROPERTY_CHARS} characters"))
                clean = clean[:MAX_PROPERTY_CHARS]
            kept[name] = clean
        return kept, effort, tokens

    def _tags(self, entry: Entry, where: str) -> tuple[str, ...]:
        tags: list[str] = []
        for tag in entry.tags:
            if tag in _STATUS_TAGS or tag in tags:
                continue
            if not is_tag(tag):
                self.notes.append(
                    Note(where, f"tag {_clip(tag)!r} is not a tag this release reads; left out")
                )
            elif len(tags) >= MAX_TAGS:
                self.notes.append(Note(where, f"more than {MAX_TAGS} tags; {tag} left out"))
            else:
                tags.append(tag)
        return tuple(tags)

    # -- shared ----------------------------------------------------------------------------------

    def _copy(self, kind: str, original: str, content: tuple[object, ...], where: str) -> int:
        key = (kind, original)
        known = self.seen.get(key)
        if known is None:
            self.seen[key] = (content, where, 0)
            return 0
        first, first_where, copies = known
        if first == content:
            raise _Skip(f"the same {kind} as {first_where} (imported once)")
        self.seen[key] = (first, first_where, copies + 1)
        self.notes.append(
            Note(where, f"ID {original} was used by {first_where} too: this {kind} gets an id of its own")
        )
        return copies + 1

    def _time(self, entry: Entry, names: Sequence[str], where: str) -> int | None:
        candidates = [entry.properties.get(name, "") for name in names] + [entry.title]
        for value in candidates:
            if value and (ms := time_ms(value, self.tz)) is not None:
                return ms
        self.notes.append(Note(where, "no readable time: it shows the time of the import"))
        return None

    def _priority(self, entry: Entry, where: str) -> str | None:
        value = entry.properties.get("PRIORITY") or entry.priority
        if not value:
            return None
        priority = _PRIORITIES.get(value.upper())
        if priority is None:
            self.notes.append(
                Note(where, f"priority {_clip(value)!r} is not high, normal, low or A-C; left out")
            )
        return priority


def _name(value: str | None, what: str) -> str:
    if not value:
        raise _Skip(f"no {what} property")
    name = value.strip().removeprefix("@")
    if not is_actor(name):
        raise _Skip(f"{what} {_clip(value)!r} is not a valid name")
    return name


def _text(body: str, where: str) -> str:
    problem = text_problem(body)
    if problem is not None:
        raise _Skip(f"its text {problem}")
    return body


def _whole(value: str, low: int, high: int) -> int | None:
    text = value.strip().replace(",", "").replace("_", "")
    if not text.isdigit() or len(text) > 12:
        return None
    number = int(text)
    return number if low <= number <= high else None


def _clip(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def plan(files: Iterable[SourceFile], user: str, tz: tzinfo) -> Plan:
    """The events that import ``files`` for ``user`` (their times read in ``tz``), and the report."""
    planner = _Planner(user, tz)
    for source in files:
        planner.file(source)
    return Plan(
        tuple(planner.messages),
        tuple(planner.tasks),
        tuple(planner.skipped),
        tuple(planner.notes),
    )
