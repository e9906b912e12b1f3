"""Event payloads: one frozen record class per event type, with its stable type name and version.

A payload class validates its own fields, so a payload that reached an event passed the same checks
whether it was written here or arrived from another peer: each ``__init__`` checks its fields in
order and raises ``ValueError`` naming the first one refused (``TypeError`` for a missing or unknown
argument). The classes are :class:`~datacore_msg.records.Record` subclasses written out by hand:
every command decodes payloads, and declaring them with attrs cost a command more than starting the
interpreter. Each class's fields are its ``__slots__``; their annotations (``str``, ``int | None``,
``tuple[str, ...]``, …) are what :mod:`datacore_msg.eventlog.codec` reads to encode and decode them.
``subject`` names the entity the event is about (the message id); the log indexes it so a
projection can re-fold one entity cheaply.
"""

from __future__ import annotations

import re

from datacore_msg.errors import InvalidInput
from datacore_msg.eventlog.names import (
    MAX_TAGS,
    PRIORITIES,
    is_actor,
    is_agent,
    is_message_id,
    is_tag,
    is_task_id,
    shown,
    text_problem,
)
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, ClassVar, Literal, TypeVar

    Check = Callable[[str, Any], None]
    Mark = Literal["read", "todo", "done", "archive"]
    P = TypeVar("P")


def _actor(name: str, value: object) -> None:
    if not is_actor(value):
        raise ValueError(f"{name}: {shown(value)} is not a valid name")


def _message_id(name: str, value: object) -> None:
    if not is_message_id(value):
        raise ValueError(f"{name}: {shown(value)} is not a message id")


def _optional_parent(name: str, value: object) -> None:
    """A message replies to a message or to a task (an agent answering the task's sender)."""
    if value is not None and not (is_message_id(value) or is_task_id(value)):
        raise ValueError(f"{name}: {shown(value)} is not a message or task id")


def _text(name: str, value: object) -> None:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"{name} {problem}")


def _priority(name: str, value: object) -> None:
    if value is not None and value not in PRIORITIES:
        raise ValueError(f"{name}: {shown(value)} is not one of A, B, C")


class MessageSent(Record):
    """``message.sent`` v2: a message from one actor to another."""

    TYPE: ClassVar[str] = "message.sent"
    VERSION: ClassVar[int] = 2
    __slots__ = ("id", "priority", "reply_to", "sender", "text", "thread", "to")

    id: str
    sender: str
    to: str
    text: str
    reply_to: str | None
    thread: str | None
    priority: str | None

    def __init__(
        self,
        id: str,
        sender: str,
        to: str,
        text: str,
        reply_to: str | None = None,
        thread: str | None = None,
        priority: str | None = None,
    ) -> None:
        _message_id("id", id)
        _actor("sender", sender)
        _actor("to", to)
        _text("text", text)
        _optional_parent("reply_to", reply_to)
        _optional_parent("thread", thread)
        _priority("priority", priority)
        set_field(self, "id", id)
        set_field(self, "sender", sender)
        set_field(self, "to", to)
        set_field(self, "text", text)
        set_field(self, "reply_to", reply_to)
        set_field(self, "thread", thread)
        set_field(self, "priority", priority)

    @property
    def subject(self) -> str:
        return self.id


MARKS: tuple[str, ...] = ("read", "todo", "done", "archive")


def _mark(name: str, value: object) -> None:
    if value not in MARKS:
        raise ValueError(f"{name}: {shown(value)} is not one of {', '.join(MARKS)}")


_RULE_RE = re.compile(r"[a-z][a-z_]{0,31}")


def _mark_like(name: str, value: object) -> None:
    if not isinstance(value, str) or _RULE_RE.fullmatch(value) is None:
        raise ValueError(f"{name}: {shown(value)} is not a rule or tier name")


class MessageMarked(Record):
    """``message.marked`` v1: the acting user marks a message in their own views."""

    TYPE: ClassVar[str] = "message.marked"
    VERSION: ClassVar[int] = 1
    __slots__ = ("mark", "message")

    message: str
    mark: str

    def __init__(self, message: str, mark: str) -> None:
        _message_id("message", message)
        _mark("mark", mark)
        set_field(self, "message", message)
        set_field(self, "mark", mark)

    @property
    def subject(self) -> str:
        return self.message


# -- agent tasks ---------------------------------------------------------------------------------

MAX_EFFORT = 100
MAX_TOKENS = 100_000_000
MAX_PATH_CHARS = 4096
MAX_STAMP = 2**62
OUTCOMES: tuple[str, ...] = ("accepted", "held", "refused", "deferred")
DECIMAL_RE = re.compile(r"(0|[1-9][0-9]{0,8})\.[0-9]{2}")


def _task_id(name: str, value: object) -> None:
    if not is_task_id(value):
        raise ValueError(f"{name}: {shown(value)} is not a task id")


def _agent(name: str, value: object) -> None:
    if not (is_actor(value) and isinstance(value, str) and is_agent(value)):
        raise ValueError(f"{name}: {shown(value)} is not an agent name (NAME-claude)")


def _tags(name: str, value: tuple[str, ...]) -> None:
    if len(value) > MAX_TAGS:
        raise ValueError(f"{name}: more than {MAX_TAGS} tags")
    for tag in value:
        if not is_tag(tag):
            raise ValueError(f"{name}: {shown(tag)} is not a tag (letters, digits, _@)")
    if len(set(value)) != len(value):
        raise ValueError(f"{name}: a tag is repeated")


def _bounded(low: int, high: int, optional: bool) -> Check:
    def check(name: str, value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name}: {shown(value)} is not a whole number from {low} to {high}")

    return check


_effort = _bounded(1, MAX_EFFORT, True)
_tokens = _bounded(1, MAX_TOKENS, True)
_spent = _bounded(0, MAX_TOKENS, False)
_stamp = _bounded(0, MAX_STAMP, True)


def _optional_text(name: str, value: object) -> None:
    if value is not None:
        _text(name, value)


def _decimal(name: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or DECIMAL_RE.fullmatch(value) is None):
        raise ValueError(f"{name}: {shown(value)} is not an amount with two decimals")


def _path(name: str, value: object) -> None:
    if value is None:
        return
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_PATH_CHARS
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    ):
        raise ValueError(f"{name}: {shown(value)} is not a usable path")


def _outcome(name: str, value: object) -> None:
    if value not in OUTCOMES:
        raise ValueError(f"{name}: {shown(value)} is not one of {', '.join(OUTCOMES)}")


def _figures(name: str, value: dict[str, int]) -> None:
    if len(value) > 32:
        raise ValueError(f"{name}: too many figures")
    for figure, number in value.items():
        if not is_tag(figure):
            raise ValueError(f"{name}: {shown(figure)} is not a figure name")
        if isinstance(number, bool) or not isinstance(number, int) or abs(number) > MAX_STAMP:
            raise ValueError(f"{name}.{figure}: {shown(number)} is not a whole number")


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: {shown(value)} is not true or false")


class TaskRequested(Record):
    """``task.requested`` v1: a message to an agent, asking it to do work."""

    TYPE: ClassVar[str] = "task.requested"
    VERSION: ClassVar[int] = 1
    __slots__ = ("effort", "id", "priority", "sender", "tags", "text", "to", "tokens")

    id: str
    sender: str
    to: str
    text: str
    tags: tuple[str, ...]
    effort: int | None
    tokens: int | None
    priority: str | None

    def __init__(
        self,
        id: str,
        sender: str,
        to: str,
        text: str,
        tags: Iterable[str] = (),
        effort: int | None = None,
        tokens: int | None = None,
        priority: str | None = None,
    ) -> None:
        tags = tuple(tags)
        _task_id("id", id)
        _actor("sender", sender)
        _agent("to", to)
        _text("text", text)
        _tags("tags", tags)
        _effort("effort", effort)
        _tokens("tokens", tokens)
        _priority("priority", priority)
        set_field(self, "id", id)
        set_field(self, "sender", sender)
        set_field(self, "to", to)
        set_field(self, "text", text)
        set_field(self, "tags", tags)
        set_field(self, "effort", effort)
        set_field(self, "tokens", tokens)
        set_field(self, "priority", priority)

    @property
    def subject(self) -> str:
        return self.id


_HEX = frozenset("0123456789abcdef")


def _optional_event_id(name: str, value: object) -> None:
    if value is not None and not (isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)):
        raise ValueError(f"{name}: {shown(value)} is not an event id")


class _TaskEvent(Record):
    """An event about a task that exists: it names the task, which is its subject, and (from v2)
    the exact ``task.requested`` event it was made for (``request``: that event's id), so a second
    request reusing the task's id can never take over what was decided, approved or claimed."""

    __slots__ = ("request", "task")

    task: str
    request: str | None

    def __init__(self, task: str, *, request: str | None = None) -> None:
        self._set_task(task, request)

    def _set_task(self, task: str, request: str | None) -> None:
        _task_id("task", task)
        _optional_event_id("request", request)
        set_field(self, "task", task)
        set_field(self, "request", request)

    @property
    def subject(self) -> str:
        return self.task


class _WithReason(_TaskEvent):
    __slots__ = ("reason",)

    reason: str | None

    def __init__(self, task: str, reason: str | None = None, *, request: str | None = None) -> None:
        self._set_task(task, request)
        _optional_text("reason", reason)
        set_field(self, "reason", reason)


class TaskDecided(_TaskEvent):
    """``task.decided`` v2: the governor of the agent's owner accepted, held or refused a request, or
    deferred it until ``retry_after`` (the task stays REQUESTED and is decided again then)."""

    TYPE: ClassVar[str] = "task.decided"
    VERSION: ClassVar[int] = 2
    __slots__ = ("at", "figures", "outcome", "reason", "retry_after", "rule", "tier")

    outcome: str
    rule: str
    reason: str
    tier: str
    figures: dict[str, int]
    retry_after: int | None
    #: The deciding installation's wall clock (ms): what rate and cooldown count, even when the
    #: event's clock stamp was pushed ahead by an event from a fast clock elsewhere.
    at: int | None

    def __init__(
        self,
        task: str,
        outcome: str,
        rule: str,
        reason: str,
        tier: str,
        figures: dict[str, int] | None = None,
        retry_after: int | None = None,
        at: int | None = None,
        *,
        request: str | None = None,
    ) -> None:
        figures = {} if figures is None else figures
        self._set_task(task, request)
        _outcome("outcome", outcome)
        _mark_like("rule", rule)
        _text("reason", reason)
        _mark_like("tier", tier)
        _figures("figures", figures)
        _stamp("retry_after", retry_after)
        _stamp("at", at)
        set_field(self, "outcome", outcome)
        set_field(self, "rule", rule)
        set_field(self, "reason", reason)
        set_field(self, "tier", tier)
        set_field(self, "figures", figures)
        set_field(self, "retry_after", retry_after)
        set_field(self, "at", at)


class TaskApproved(_WithReason):
    """``task.approved`` v2: the owner lets a held request into the queue (WAITING -> QUEUED)."""

    TYPE: ClassVar[str] = "task.approved"
    VERSION: ClassVar[int] = 2
    __slots__ = ()


class TaskRejected(_WithReason):
    """``task.rejected`` v2: the owner turns a held request down (WAITING -> CANCELLED)."""

    TYPE: ClassVar[str] = "task.rejected"
    VERSION: ClassVar[int] = 2
    __slots__ = ()


class TaskCancelled(_WithReason):
    """``task.cancelled`` v2: the owner or the sender withdraws a task (-> CANCELLED)."""

    TYPE: ClassVar[str] = "task.cancelled"
    VERSION: ClassVar[int] = 2
    __slots__ = ()


class TaskClaimed(_TaskEvent):
    """``task.claimed`` v2: the agent starts a queued task (QUEUED -> WORKING)."""

    TYPE: ClassVar[str] = "task.claimed"
    VERSION: ClassVar[int] = 2
    __slots__ = ("at",)

    #: The claiming installation's wall clock (ms): what the timeout sweep measures from.
    at: int | None

    def __init__(self, task: str, at: int | None = None, *, request: str | None = None) -> None:
        self._set_task(task, request)
        _stamp("at", at)
        set_field(self, "at", at)


class TaskCompleted(_TaskEvent):
    """``task.completed`` v2: the agent finished (WORKING -> DONE), reporting what it used."""

    TYPE: ClassVar[str] = "task.completed"
    VERSION: ClassVar[int] = 2
    __slots__ = ("cost", "quality", "result", "tokens")

    tokens: int
    cost: str | None
    result: str | None
    quality: str | None

    def __init__(
        self,
        task: str,
        tokens: int,
        cost: str | None = None,
        result: str | None = None,
        quality: str | None = None,
        *,
        request: str | None = None,
    ) -> None:
        self._set_task(task, request)
        _spent("tokens", tokens)
        _decimal("cost", cost)
        _path("result", result)
        _decimal("quality", quality)
        set_field(self, "tokens", tokens)
        set_field(self, "cost", cost)
        set_field(self, "result", result)
        set_field(self, "quality", quality)


class TaskRetried(_WithReason):
    """``task.retried`` v2: a working task goes back to the queue (by the agent, or a timeout)."""

    TYPE: ClassVar[str] = "task.retried"
    VERSION: ClassVar[int] = 2
    __slots__ = ("timeout",)

    timeout: bool

    def __init__(
        self, task: str, reason: str | None = None, timeout: bool = False, *, request: str | None = None
    ) -> None:
        super().__init__(task, reason, request=request)
        _flag("timeout", timeout)
        set_field(self, "timeout", timeout)


class TaskRevised(_TaskEvent):
    """``task.revised`` v2: the owner asks for another pass at a done task (DONE -> QUEUED)."""

    TYPE: ClassVar[str] = "task.revised"
    VERSION: ClassVar[int] = 2
    __slots__ = ("feedback",)

    feedback: str | None

    def __init__(self, task: str, feedback: str | None = None, *, request: str | None = None) -> None:
        self._set_task(task, request)
        _optional_text("feedback", feedback)
        set_field(self, "feedback", feedback)


class TaskArchived(_TaskEvent):
    """``task.archived`` v2: the owner confirms a done task's result (DONE -> ARCHIVED)."""

    TYPE: ClassVar[str] = "task.archived"
    VERSION: ClassVar[int] = 2
    __slots__ = ()


# -- history imported from datacore-messaging ------------------------------------------------------

#: An id as the old system wrote it (``msg-20251212-143000-gregor``, ``org-…``): kept for reference.
ORIGINAL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
PROPERTY_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
MAX_IMPORTED_PROPERTIES = 32
MAX_PROPERTY_CHARS = 500
#: The states an imported task may start in: an old task still in play is held for the owner's
#: approval again (an old file never puts work in the agent's queue); a finished one keeps its state.
IMPORTED_TASK_STATES: tuple[str, ...] = ("WAITING", "DONE", "CANCELLED", "ARCHIVED")


def _original_id(name: str, value: object) -> None:
    if not isinstance(value, str) or ORIGINAL_ID_RE.fullmatch(value) is None:
        raise ValueError(f"{name}: {shown(value)} is not an id of the old system")


def _properties(name: str, value: dict[str, str]) -> None:
    if len(value) > MAX_IMPORTED_PROPERTIES:
        raise ValueError(f"{name}: more than {MAX_IMPORTED_PROPERTIES} properties")
    for prop, text in value.items():
        if not isinstance(prop, str) or PROPERTY_NAME_RE.fullmatch(prop) is None:
            raise ValueError(f"{name}: {shown(prop)} is not a property name")
        if (
            not isinstance(text, str)
            or len(text) > MAX_PROPERTY_CHARS
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
        ):
            raise ValueError(f"{name}.{prop}: not a one-line value of at most {MAX_PROPERTY_CHARS}")


def _imported_state(name: str, value: object) -> None:
    if value not in IMPORTED_TASK_STATES:
        raise ValueError(f"{name}: {shown(value)} is not one of {', '.join(IMPORTED_TASK_STATES)}")


class MessageImported(Record):
    """``message.imported`` v1: a message of datacore-messaging's files, recorded by the user who
    imported them. ``from`` is what the old file said, not who wrote the event: the event's actor
    (the importer) vouches only that it imported it, so the sender is never verified by it."""

    TYPE: ClassVar[str] = "message.imported"
    VERSION: ClassVar[int] = 1
    __slots__ = ("at", "author", "id", "original", "priority", "reply_to", "text", "thread", "to")

    id: str
    original: str
    author: str
    to: str
    text: str
    reply_to: str | None
    thread: str | None
    priority: str | None
    #: The old entry's time (its CREATED or heading timestamp), ms since the epoch.
    at: int | None

    def __init__(
        self,
        id: str,
        original: str,
        author: str,
        to: str,
        text: str,
        reply_to: str | None = None,
        thread: str | None = None,
        priority: str | None = None,
        at: int | None = None,
    ) -> None:
        _message_id("id", id)
        _original_id("original", original)
        _actor("author", author)
        _actor("to", to)
        _text("text", text)
        _optional_parent("reply_to", reply_to)
        _optional_parent("thread", thread)
        _priority("priority", priority)
        _stamp("at", at)
        set_field(self, "id", id)
        set_field(self, "original", original)
        set_field(self, "author", author)
        set_field(self, "to", to)
        set_field(self, "text", text)
        set_field(self, "reply_to", reply_to)
        set_field(self, "thread", thread)
        set_field(self, "priority", priority)
        set_field(self, "at", at)

    @property
    def subject(self) -> str:
        return self.id

    def as_sent(self) -> MessageSent:
        """The message as the views show it (the sender as the old file named it)."""
        return MessageSent(
            self.id, self.author, self.to, self.text, self.reply_to, self.thread, self.priority
        )


class TaskImported(Record):
    """``task.imported`` v1: an agent task of datacore-messaging's files, recorded by the agent's
    owner: its request, the state it had (in play: ``WAITING``), and the old drawer's other
    properties as they were written (history, shown; never a tier or a decision)."""

    TYPE: ClassVar[str] = "task.imported"
    VERSION: ClassVar[int] = 1
    __slots__ = (
        "at",
        "author",
        "closed_at",
        "effort",
        "id",
        "original",
        "priority",
        "properties",
        "state",
        "tags",
        "text",
        "to",
        "tokens",
    )

    id: str
    original: str
    author: str
    to: str
    text: str
    state: str
    tags: tuple[str, ...]
    effort: int | None
    tokens: int | None
    priority: str | None
    properties: dict[str, str]
    #: The old SUBMITTED / CREATED time and, for a closed task, its CLOSED time (ms since the epoch).
    at: int | None
    closed_at: int | None

    def __init__(
        self,
        id: str,
        original: str,
        author: str,
        to: str,
        text: str,
        state: str,
        tags: Iterable[str] = (),
        effort: int | None = None,
        tokens: int | None = None,
        priority: str | None = None,
        properties: dict[str, str] | None = None,
        at: int | None = None,
        closed_at: int | None = None,
    ) -> None:
        tags = tuple(tags)
        properties = {} if properties is None else properties
        _task_id("id", id)
        _original_id("original", original)
        _actor("author", author)
        _agent("to", to)
        _text("text", text)
        _imported_state("state", state)
        _tags("tags", tags)
        _effort("effort", effort)
        _tokens("tokens", tokens)
        _priority("priority", priority)
        _properties("properties", properties)
        _stamp("at", at)
        _stamp("closed_at", closed_at)
        set_field(self, "id", id)
        set_field(self, "original", original)
        set_field(self, "author", author)
        set_field(self, "to", to)
        set_field(self, "text", text)
        set_field(self, "state", state)
        set_field(self, "tags", tags)
        set_field(self, "effort", effort)
        set_field(self, "tokens", tokens)
        set_field(self, "priority", priority)
        set_field(self, "properties", properties)
        set_field(self, "at", at)
        set_field(self, "closed_at", closed_at)

    @property
    def subject(self) -> str:
        return self.id

    def as_request(self) -> TaskRequested:
        """The request as the views show it (the sender as the old file named it)."""
        return TaskRequested(
            self.id, self.author, self.to, self.text, self.tags, self.effort, self.tokens, self.priority
        )


TaskTransition = (
    TaskApproved
    | TaskRejected
    | TaskCancelled
    | TaskClaimed
    | TaskCompleted
    | TaskRetried
    | TaskRevised
    | TaskArchived
)
TRANSITION_TYPES: tuple[type[Any], ...] = (
    TaskApproved,
    TaskRejected,
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskRetried,
    TaskRevised,
    TaskArchived,
)

Payload = (
    MessageSent
    | MessageMarked
    | TaskRequested
    | TaskDecided
    | TaskTransition
    | MessageImported
    | TaskImported
)

_ALL_TYPES: tuple[Any, ...] = (
    MessageSent,
    MessageMarked,
    TaskRequested,
    TaskDecided,
    *TRANSITION_TYPES,
    MessageImported,
    TaskImported,
)
PAYLOAD_TYPES: dict[str, Any] = {cls.TYPE: cls for cls in _ALL_TYPES}
TASK_TYPES = frozenset(name for name in PAYLOAD_TYPES if name.startswith("task."))

#: Fields left out of the encoding while they hold their default (``request`` on task moves: a v1
#: move upcast to v2 has none, and one written without a binding encodes as before).
OMITTED_WHEN_DEFAULT = frozenset({"request"})
#: JSON keys that differ from attribute names (``from`` is a Python keyword).
RENAMED_FIELDS: dict[type[Any], dict[str, str]] = {
    MessageSent: {"sender": "from"},
    TaskRequested: {"sender": "from"},
    MessageImported: {"author": "from"},
    TaskImported: {"author": "from"},
}


_MAX_ERROR_CHARS = 200


def build(cls: type[P], as_options: Mapping[str, str] | None = None, **fields: Any) -> P:
    """Make a payload from what a user gave: a field its validators refuse is an
    :class:`InvalidInput` naming the field, or the option it came from (``as_options``: field ->
    option), cut short so a hostile value cannot flood the line."""
    try:
        return cls(**fields)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        field, colon, rest = message.partition(":")
        if colon and as_options and field in as_options:
            message = as_options[field] + rest
        if len(message) > _MAX_ERROR_CHARS:
            message = message[: _MAX_ERROR_CHARS - 1] + "…"
        raise InvalidInput(message) from None
