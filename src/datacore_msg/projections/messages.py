"""The messages reducer: the events of one message, in log order, fold into its state.

A message's state is its ``message.sent`` payload plus, for each participant (sender and recipient),
their own mark: unread (no mark yet), ``read``, ``todo``, ``done`` or ``archive``. A mark is
personal: it changes only the views of the actor who made it, and only a participant's marks count
(written from a key pinned for that participant, when the fold is given a trust book).
``archive`` is final; a mark ordered after it is kept in the log but does not change the state (it is
superseded). The fold is a pure function of the events in ``(hlc, origin, seq)`` order, so every peer
holding the same events computes the same state.

A ``message.imported`` (history from datacore-messaging's files) is a message like a
``message.sent`` once a participant recorded it on a key pinned for them; its state keeps the
payload (:attr:`MessageState.imported`), so the views show the old time and the sender as imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.hlc import COUNTER_BITS
from datacore_msg.eventlog.names import is_agent, owner_of
from datacore_msg.eventlog.payloads import MessageImported, MessageMarked, MessageSent, Payload
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.records import Record, set_field


class MarkState(Record):
    __slots__ = ("actor_origin", "hlc", "mark")
    mark: str
    hlc: int
    actor_origin: str

    def __init__(
        self,
        mark: str,
        hlc: int,
        actor_origin: str,
    ) -> None:
        set_field(self, "mark", mark)
        set_field(self, "hlc", hlc)
        set_field(self, "actor_origin", actor_origin)


class MessageState(Record):
    __slots__ = ("clashes", "imported", "marks", "sent", "sent_event", "sent_order", "superseded")
    sent: MessageSent
    sent_order: tuple[int, str, int]
    marks: dict[str, MarkState]
    superseded: tuple[str, ...]
    clashes: tuple[str, ...]
    #: The id of the ``message.sent`` event that is this message.
    sent_event: str
    #: Set when the message is history imported from datacore-messaging (``message.imported``).
    imported: MessageImported | None

    def __init__(
        self,
        sent: MessageSent,
        sent_order: tuple[int, str, int],
        marks: dict[str, MarkState],
        superseded: tuple[str, ...] = (),
        clashes: tuple[str, ...] = (),
        sent_event: str = "",
        imported: MessageImported | None = None,
    ) -> None:
        set_field(self, "sent", sent)
        set_field(self, "sent_order", sent_order)
        set_field(self, "marks", marks)
        set_field(self, "superseded", superseded)
        set_field(self, "clashes", clashes)
        set_field(self, "sent_event", sent_event)
        set_field(self, "imported", imported)

    def mark_of(self, user: str) -> str | None:
        state = self.marks.get(user)
        return None if state is None else state.mark

    def archived_at(self, user: str) -> int | None:
        state = self.marks.get(user)
        return state.hlc if state is not None and state.mark == "archive" else None

    @property
    def sent_hlc(self) -> int:
        return self.sent_order[0]

    @property
    def shown_hlc(self) -> int:
        """The time the views show: the old entry's own time for imported history."""
        if self.imported is not None and self.imported.at is not None:
            return self.imported.at << COUNTER_BITS
        return self.sent_hlc

    @property
    def sent_origin(self) -> str:
        """The key that signed the ``message.sent`` event."""
        return self.sent_order[1]


Decoder = Callable[[Event], Payload | None]


def fold_message(
    events: Iterable[Event], decode: Decoder, book: TrustBook | None = None
) -> MessageState | None:
    """Fold one message's events (already in ``(hlc, origin, seq)`` order) into its state.

    With a trust book, a mark counts only when a key pinned for its actor wrote it: nobody can mark
    a message in someone else's views by writing their name. A message written under a name whose
    pinned keys did not sign it is not shown at all (it stays in the log); a name with no key
    pinned cannot be checked, and its messages are shown.

    Several ``message.sent`` events with one message id: the message is the one that arrived here
    first (lowest log position; log order for events folded outside a store), whatever their clock
    stamps, so a later copy under the same id never replaces what was shown; the others are
    clashes (kept in the log, listed in :attr:`MessageState.clashes`)."""
    candidates: list[tuple[Event, MessageSent]] = []
    imported: dict[str, MessageImported] = {}
    pending: list[tuple[Event, MessageMarked]] = []
    for event in events:
        payload = decode(event)
        if isinstance(payload, MessageSent):
            genuine = book is None or book.account_of(payload.sender, event.origin) == payload.sender
            if genuine:
                candidates.append((event, payload))
        elif isinstance(payload, MessageImported):
            if _imported_by_participant(event, payload, book):
                candidates.append((event, payload.as_sent()))
                imported[event.id] = payload
        elif isinstance(payload, MessageMarked):
            pending.append((event, payload))
    if not candidates:
        return None
    if len(candidates) == 1:
        first, sent = candidates[0]
        clashes: tuple[str, ...] = ()
    else:
        first, sent = min(candidates, key=lambda item: item[0].arrival_key())
        clashes = tuple(event.id for event, _ in candidates if event.id != first.id)
    marks: dict[str, MarkState] = {}
    superseded: list[str] = []
    participants = (sent.sender, sent.to)
    for event, mark in pending:
        actor = event.actor
        if actor not in participants or not (book is None or book.backs(actor, event.origin)):
            superseded.append(event.id)
            continue
        current = marks.get(actor)
        if current is not None and current.mark == "archive":
            superseded.append(event.id)
            continue
        marks[actor] = MarkState(mark.mark, event.hlc, event.origin)
    return MessageState(
        sent,
        (first.hlc, first.origin, first.seq),
        marks,
        tuple(superseded),
        clashes,
        first.id,
        imported.get(first.id) if imported else None,
    )


def _imported_by_participant(event: Event, payload: MessageImported, book: TrustBook | None) -> bool:
    """Imported history counts when one of its participants (or an agent's owner) recorded it, on a
    key pinned for them (their own old files); the sender it names is shown as imported, never as
    verified."""
    participants = {payload.author, payload.to}
    participants |= {owner_of(name) for name in participants if is_agent(name)}
    if event.actor not in participants:
        return False
    return book is None or book.backs(event.actor, event.origin)
