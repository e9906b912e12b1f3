"""Message commands (send, reply, mark) and queries (inbox, show, thread) for the space's user."""

from __future__ import annotations

from datacore_msg.app.ids import new_message_id
from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh, refresh_after_commit
from datacore_msg.errors import Ambiguous, InvalidInput, NotFound, TransitionError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.eventlog.names import (
    PRIORITIES,
    agent_of,
    check_actor,
    check_id_ref,
    check_text,
    is_agent,
    owner_of,
)
from datacore_msg.eventlog.payloads import MARKS, MessageMarked, MessageSent, Payload
from datacore_msg.eventlog.store import EventStore
from datacore_msg.projections import render
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.projections.messages import MessageState, fold_message
from datacore_msg.projections.render import INBOX
from datacore_msg.records import Record, set_field


class Appended(Record):
    __slots__ = ("event", "message_id", "views")
    event: Event
    message_id: str
    views: WriteReport

    def __init__(
        self,
        event: Event,
        message_id: str,
        views: WriteReport,
    ) -> None:
        set_field(self, "event", event)
        set_field(self, "message_id", message_id)
        set_field(self, "views", views)


def normalise_recipient(to: str) -> str:
    return check_actor(to[1:] if to.startswith("@") else to, "recipient")


def recipient_of(space: Space, to: str) -> str:
    """``@tex`` -> ``tex``; ``@claude`` is this user's own agent (``<user>-claude``)."""
    name = normalise_recipient(to)
    return space.agent if name == "claude" else name


def is_known_name(space: Space, recipient: str) -> bool:
    """Whether ``recipient`` (or, for an agent, its owner) is this user, is in the space's
    ``contacts.yaml`` (with or without a key), or was ever seen in the log (as the writer of an
    event or the recipient of a message or task): a name that is none of these is likely a typo."""
    from datacore_msg.config.contacts import load_contacts

    person = owner_of(recipient) if is_agent(recipient) else recipient
    if person == space.user:
        return True
    for contact in load_contacts(space.paths.contacts_file):
        if contact.id == person or f"@{person}" in contact.handles or person in contact.handles:
            return True
    return space.store.mentions([person, agent_of(person)])


def load_message(space: Space, message_id: str) -> MessageState | None:
    return fold_message(space.store.events_for_subject(message_id), space.store.decode, space.trust())


def resolve(space: Space, ref: str) -> MessageState:
    """A message the user takes part in (or the user's agent sent), by full id or unique prefix (of
    the id or its hex part)."""
    ref = check_id_ref(ref, "message id")
    ours = (space.user, space.agent)
    candidates = space.store.subjects_matching("message.sent", ref, limit=50, participants=ours)
    candidates += space.store.subjects_matching("message.imported", ref, limit=50, participants=ours)
    candidates = list(dict.fromkeys(candidates))
    if ref in candidates:
        candidates = [ref]
    states = [state for state in (load_message(space, c) for c in candidates) if state is not None]
    mine = [s for s in states if s.sent.sender in ours or s.sent.to == space.user]
    if not mine:
        raise NotFound(f"no message of yours matches {ref!r}")
    if len(mine) > 1:
        ids = [s.sent.id for s in mine]
        raise Ambiguous(f"{ref!r} matches {len(ids)} messages: {', '.join(ids)}", ids)
    return mine[0]


def _append(space: Space, payload: Payload) -> Event:
    space.preflight()

    def no_duplicate_id(store: EventStore) -> None:
        if isinstance(payload, MessageSent) and store.has_subject(payload.id):
            raise InvalidInput(f"message id {payload.id} already exists; send again")

    return space.store.append(space.signing_key(), space.user, payload, space.clock(), no_duplicate_id)


def send(
    space: Space,
    to: str,
    text: str,
    *,
    priority: str | None = None,
    reply_to: str | None = None,
) -> Appended:
    recipient = recipient_of(space, to)
    if is_agent(recipient):
        raise InvalidInput(
            f"{recipient} is an agent: a message to an agent is a task request "
            f"('datacore-msg send @{recipient} TEXT')"
        )
    check_text(text)
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(f"priority {priority!r} is not one of A, B, C")
    thread = None
    parent_id = None
    if reply_to is not None:
        parent = resolve(space, reply_to)
        parent_id = parent.sent.id
        thread = parent.sent.thread or parent.sent.id
    space.signing_key()
    message_id = new_message_id(space.clock())
    payload = MessageSent(
        id=message_id,
        sender=space.user,
        to=recipient,
        text=text,
        reply_to=parent_id,
        thread=thread,
        priority=priority,
    )
    event = _append(space, payload)
    return Appended(event, message_id, refresh_after_commit(space, "the message"))


def other_party(space: Space, sent: MessageSent) -> str:
    """Who a reply to ``sent`` goes to: the other participant; for a message from someone's agent
    (its answer about a task, or a governor's refusal), that agent's owner, since a message to an
    agent would be a task."""
    other = sent.to if sent.sender in (space.user, space.agent) else sent.sender
    return owner_of(other) if is_agent(other) else other


def reply(space: Space, ref: str, text: str, *, priority: str | None = None) -> Appended:
    parent = resolve(space, ref)
    return send(space, other_party(space, parent.sent), text, priority=priority, reply_to=parent.sent.id)


class Marked(Record):
    __slots__ = ("changed", "mark", "message_id", "views")
    message_id: str
    mark: str
    changed: bool
    views: WriteReport

    def __init__(
        self,
        message_id: str,
        mark: str,
        changed: bool,
        views: WriteReport,
    ) -> None:
        set_field(self, "message_id", message_id)
        set_field(self, "mark", mark)
        set_field(self, "changed", changed)
        set_field(self, "views", views)


def mark(space: Space, ref: str, how: str) -> Marked:
    if how not in MARKS:
        raise InvalidInput(f"mark {how!r} is not one of {', '.join(MARKS)}")
    state = resolve(space, ref)
    current = state.mark_of(space.user)
    if current == how:
        return Marked(state.sent.id, how, False, refresh(space))
    if current == "archive":
        raise TransitionError(f"mark: {state.sent.id} is archived; archived messages are final")
    _append(space, MessageMarked(message=state.sent.id, mark=how))
    return Marked(state.sent.id, how, True, refresh_after_commit(space, "the mark"))


class MessageItem(Record):
    """A message as the user sees it: its state, their status, and what is known of its sender."""

    __slots__ = ("sender", "state", "status")

    state: MessageState
    status: str
    sender: Sender

    def __init__(
        self,
        state: MessageState,
        status: str,
        sender: Sender,
    ) -> None:
        set_field(self, "state", state)
        set_field(self, "status", status)
        set_field(self, "sender", sender)

    @property
    def id(self) -> str:
        return self.state.sent.id


def status_of(state: MessageState, user: str) -> str:
    return render.status_of(state, "inbox" if state.sent.to == user else "outbox", user)


def item_of(space: Space, state: MessageState) -> MessageItem:
    sender = space.trust().sender(state.sent.sender, state.sent_origin, state.imported is not None)
    return MessageItem(state, status_of(state, space.user), sender)


class Inbox(Record):
    __slots__ = ("items", "views")
    items: list[MessageItem]
    views: WriteReport

    def __init__(
        self,
        items: list[MessageItem],
        views: WriteReport,
    ) -> None:
        set_field(self, "items", items)
        set_field(self, "views", views)


#: What ``inbox`` lists without ``--all``.
OPEN_STATUSES = ("unread", "todo")


def inbox(space: Space, include_all: bool = False) -> Inbox:
    """The messages to the user: unread and to-do ones in the live inbox (every one with
    ``include_all``). The caught-up view cache names the candidates (its entries carry the status
    the user sees), and their events are read in batches, not one query per message."""
    views = refresh(space)
    cache = space.views().cache
    subjects = cache.subjects("inbox") if include_all else cache.subjects("inbox", INBOX, OPEN_STATUSES)
    events = space.store.events_for_subjects(subjects)
    items = []
    for subject in subjects:
        state = fold_message(events[subject], space.store.decode, space.trust())
        if state is None:
            continue
        item = item_of(space, state)
        if include_all or item.status in OPEN_STATUSES:
            items.append(item)
    return Inbox(items, views)


#: The order of a page of the inbox: unread first, then to-do, then the rest.
STATUS_ORDER = {"unread": 0, "todo": 1, "read": 2, "done": 3, "archived": 4}


class InboxPage(Record):
    """The first ``limit`` messages of the inbox, unread first (then to-do), and how many there are."""

    __slots__ = ("items", "total", "unread", "views")

    items: list[MessageItem]
    unread: int
    total: int
    views: WriteReport

    def __init__(
        self,
        items: list[MessageItem],
        unread: int,
        total: int,
        views: WriteReport,
    ) -> None:
        set_field(self, "items", items)
        set_field(self, "unread", unread)
        set_field(self, "total", total)
        set_field(self, "views", views)


def inbox_page(space: Space, include_all: bool = False, limit: int = 20) -> InboxPage:
    """:func:`inbox` ordered by status, folding only the messages of the page (the statuses come
    from the views' rows, which the catch-up keeps current)."""
    views = refresh(space)
    cache = space.views().cache
    rows = cache.statuses("inbox") if include_all else cache.statuses("inbox", INBOX, OPEN_STATUSES)
    rank = len(STATUS_ORDER)
    ordered = sorted(rows, key=lambda row: STATUS_ORDER.get(row[1] or "", rank))
    items = []
    for subject, _ in ordered[:limit]:
        state = load_message(space, subject)
        if state is not None:
            items.append(item_of(space, state))
    unread = sum(1 for _, status in rows if status == "unread")
    return InboxPage(items, unread, len(rows), views)


def show(space: Space, ref: str) -> MessageItem:
    return item_of(space, resolve(space, ref))


class Thread(Record):
    __slots__ = ("asked", "items", "root")
    root: str
    asked: str
    items: list[MessageItem]

    def __init__(
        self,
        root: str,
        asked: str,
        items: list[MessageItem],
    ) -> None:
        set_field(self, "root", root)
        set_field(self, "asked", asked)
        set_field(self, "items", items)


def thread(space: Space, ref: str) -> Thread:
    asked = resolve(space, ref)
    root = asked.sent.thread or asked.sent.id
    items = []
    for subject in space.store.thread_subjects(root):
        state = load_message(space, subject)
        if state is None or (state.sent.thread or state.sent.id) != root:
            continue
        if state.sent.sender in (space.user, space.agent) or state.sent.to == space.user:
            items.append(item_of(space, state))
    return Thread(root=root, asked=asked.sent.id, items=items)
