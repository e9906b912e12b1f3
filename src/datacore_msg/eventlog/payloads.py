"""Event payloads: one frozen attrs class per event type, with its stable type name and version.

A payload class validates its own fields, so a payload that reached an event passed the same checks
whether it was written here or arrived from another peer. ``subject`` names the entity the event is
about (the message id); the log indexes it so a projection can re-fold one entity cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal, TypeVar

import attrs

from datacore_msg.errors import InvalidInput
from datacore_msg.eventlog.names import (
    MAX_TAGS,
    PRIORITIES,
    is_actor,
    is_agent,
    is_message_id,
    is_tag,
    is_task_id,
    text_problem,
)


def _actor(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not is_actor(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a valid name")


def _message_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not is_message_id(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a message id")


def _optional_parent(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """A message replies to a message or to a task (an agent answering the task's sender)."""
    if value is not None and not (is_message_id(value) or is_task_id(value)):
        raise ValueError(f"{attribute.name}: {value!r} is not a message or task id")


def _text(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"{attribute.name} {problem}")


def _priority(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and value not in PRIORITIES:
        raise ValueError(f"{attribute.name}: {value!r} is not one of A, B, C")


@attrs.frozen
class MessageSent:
    """``message.sent`` v2: a message from one actor to another."""

    TYPE: ClassVar[str] = "message.sent"
    VERSION: ClassVar[int] = 2

    id: str = attrs.field(validator=_message_id)
    sender: str = attrs.field(validator=_actor)
    to: str = attrs.field(validator=_actor)
    text: str = attrs.field(validator=_text)
    reply_to: str | None = attrs.field(default=None, validator=_optional_parent)
    thread: str | None = attrs.field(default=None, validator=_optional_parent)
    priority: str | None = attrs.field(default=None, validator=_priority)

    @property
    def subject(self) -> str:
        return self.id


Mark = Literal["read", "todo", "done", "archive"]
MARKS: tuple[str, ...] = ("read", "todo", "done", "archive")


def _mark(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in MARKS:
        raise ValueError(f"{attribute.name}: {value!r} is not one of {', '.join(MARKS)}")


def _mark_like(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or re.fullmatch(r"[a-z][a-z_]{0,31}", value) is None:
        raise ValueError(f"{attribute.name}: {value!r} is not a rule or tier name")


@attrs.frozen
class MessageMarked:
    """``message.marked`` v1: the acting user marks a message in their own views."""

    TYPE: ClassVar[str] = "message.marked"
    VERSION: ClassVar[int] = 1

    message: str = attrs.field(validator=_message_id)
    mark: str = attrs.field(validator=_mark)

    @property
    def subject(self) -> str:
        return self.message


# -- agent tasks ---------------------------------------------------------------------------------

MAX_EFFORT = 100
MAX_TOKENS = 100_000_000
MAX_PATH_CHARS = 4096
OUTCOMES: tuple[str, ...] = ("accepted", "held", "refused", "deferred")
DECIMAL_RE = re.compile(r"(0|[1-9][0-9]{0,8})\.[0-9]{2}")


def _task_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not is_task_id(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a task id")


def _agent(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (is_actor(value) and isinstance(value, str) and is_agent(value)):
        raise ValueError(f"{attribute.name}: {value!r} is not an agent name (NAME-claude)")


def _tags(_: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if len(value) > MAX_TAGS:
        raise ValueError(f"{attribute.name}: more than {MAX_TAGS} tags")
    for tag in value:
        if not is_tag(tag):
            raise ValueError(f"{attribute.name}: {tag!r} is not a tag (letters, digits, _@)")
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name}: a tag is repeated")


def _bounded(low: int, high: int, optional: bool) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{attribute.name}: {value!r} is not a whole number from {low} to {high}")

    return check


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _text(instance, attribute, value)


def _decimal(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or DECIMAL_RE.fullmatch(value) is None):
        raise ValueError(f"{attribute.name}: {value!r} is not an amount with two decimals")


def _path(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_PATH_CHARS
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    ):
        raise ValueError(f"{attribute.name}: {value!r} is not a usable path")


def _outcome(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in OUTCOMES:
        raise ValueError(f"{attribute.name}: {value!r} is not one of {', '.join(OUTCOMES)}")


def _figures(_: Any, attribute: attrs.Attribute[Any], value: dict[str, int]) -> None:
    if len(value) > 32:
        raise ValueError(f"{attribute.name}: too many figures")
    for name, number in value.items():
        if not is_tag(name):
            raise ValueError(f"{attribute.name}: {name!r} is not a figure name")
        if isinstance(number, bool) or not isinstance(number, int) or abs(number) > 2**62:
            raise ValueError(f"{attribute.name}.{name}: {number!r} is not a whole number")


def _to_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class TaskRequested:
    """``task.requested`` v1: a message to an agent, asking it to do work."""

    TYPE: ClassVar[str] = "task.requested"
    VERSION: ClassVar[int] = 1

    id: str = attrs.field(validator=_task_id)
    sender: str = attrs.field(validator=_actor)
    to: str = attrs.field(validator=_agent)
    text: str = attrs.field(validator=_text)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_tags)
    effort: int | None = attrs.field(default=None, validator=_bounded(1, MAX_EFFORT, True))
    tokens: int | None = attrs.field(default=None, validator=_bounded(1, MAX_TOKENS, True))
    priority: str | None = attrs.field(default=None, validator=_priority)

    @property
    def subject(self) -> str:
        return self.id


def _optional_event_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    ):
        raise ValueError(f"{attribute.name}: {value!r} is not an event id")


@attrs.frozen
class _TaskEvent:
    """An event about a task that exists: it names the task, which is its subject, and (from v2)
    the exact ``task.requested`` event it was made for (``request``: that event's id), so a second
    request reusing the task's id can never take over what was decided, approved or claimed."""

    task: str = attrs.field(validator=_task_id)
    request: str | None = attrs.field(default=None, kw_only=True, validator=_optional_event_id)

    @property
    def subject(self) -> str:
        return self.task


@attrs.frozen
class _WithReason(_TaskEvent):
    reason: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.frozen
class TaskDecided(_TaskEvent):
    """``task.decided`` v2: the governor of the agent's owner accepted, held or refused a request, or
    deferred it until ``retry_after`` (the task stays REQUESTED and is decided again then)."""

    TYPE: ClassVar[str] = "task.decided"
    VERSION: ClassVar[int] = 2

    outcome: str = attrs.field(validator=_outcome)
    rule: str = attrs.field(validator=_mark_like)
    reason: str = attrs.field(validator=_text)
    tier: str = attrs.field(validator=_mark_like)
    figures: dict[str, int] = attrs.field(factory=dict, validator=_figures)
    retry_after: int | None = attrs.field(default=None, validator=_bounded(0, 2**62, True))
    #: The deciding installation's wall clock (ms): what rate and cooldown count, even when the
    #: event's clock stamp was pushed ahead by an event from a fast clock elsewhere.
    at: int | None = attrs.field(default=None, validator=_bounded(0, 2**62, True))


@attrs.frozen
class TaskApproved(_WithReason):
    """``task.approved`` v2: the owner lets a held request into the queue (WAITING -> QUEUED)."""

    TYPE: ClassVar[str] = "task.approved"
    VERSION: ClassVar[int] = 2


@attrs.frozen
class TaskRejected(_WithReason):
    """``task.rejected`` v2: the owner turns a held request down (WAITING -> CANCELLED)."""

    TYPE: ClassVar[str] = "task.rejected"
    VERSION: ClassVar[int] = 2


@attrs.frozen
class TaskCancelled(_WithReason):
    """``task.cancelled`` v2: the owner or the sender withdraws a task (-> CANCELLED)."""

    TYPE: ClassVar[str] = "task.cancelled"
    VERSION: ClassVar[int] = 2


@attrs.frozen
class TaskClaimed(_TaskEvent):
    """``task.claimed`` v2: the agent starts a queued task (QUEUED -> WORKING)."""

    TYPE: ClassVar[str] = "task.claimed"
    VERSION: ClassVar[int] = 2

    #: The claiming installation's wall clock (ms): what the timeout sweep measures from.
    at: int | None = attrs.field(default=None, validator=_bounded(0, 2**62, True))


@attrs.frozen
class TaskCompleted(_TaskEvent):
    """``task.completed`` v2: the agent finished (WORKING -> DONE), reporting what it used."""

    TYPE: ClassVar[str] = "task.completed"
    VERSION: ClassVar[int] = 2

    tokens: int = attrs.field(validator=_bounded(0, MAX_TOKENS, False))
    cost: str | None = attrs.field(default=None, validator=_decimal)
    result: str | None = attrs.field(default=None, validator=_path)
    quality: str | None = attrs.field(default=None, validator=_decimal)


@attrs.frozen
class TaskRetried(_WithReason):
    """``task.retried`` v2: a working task goes back to the queue (by the agent, or a timeout)."""

    TYPE: ClassVar[str] = "task.retried"
    VERSION: ClassVar[int] = 2

    timeout: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


@attrs.frozen
class TaskRevised(_TaskEvent):
    """``task.revised`` v2: the owner asks for another pass at a done task (DONE -> QUEUED)."""

    TYPE: ClassVar[str] = "task.revised"
    VERSION: ClassVar[int] = 2

    feedback: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.frozen
class TaskArchived(_TaskEvent):
    """``task.archived`` v2: the owner confirms a done task's result (DONE -> ARCHIVED)."""

    TYPE: ClassVar[str] = "task.archived"
    VERSION: ClassVar[int] = 2


# -- history imported from datacore-messaging ------------------------------------------------------

#: An id as the old system wrote it (``msg-20251212-143000-gregor``, ``org-…``): kept for reference.
ORIGINAL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
PROPERTY_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
MAX_IMPORTED_PROPERTIES = 32
MAX_PROPERTY_CHARS = 500
#: The states an imported task may start in: an old task still in play is held for the owner's
#: approval again (an old file never puts work in the agent's queue); a finished one keeps its state.
IMPORTED_TASK_STATES: tuple[str, ...] = ("WAITING", "DONE", "CANCELLED", "ARCHIVED")


def _original_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or ORIGINAL_ID_RE.fullmatch(value) is None:
        raise ValueError(f"{attribute.name}: {value!r} is not an id of the old system")


def _properties(_: Any, attribute: attrs.Attribute[Any], value: dict[str, str]) -> None:
    if len(value) > MAX_IMPORTED_PROPERTIES:
        raise ValueError(f"{attribute.name}: more than {MAX_IMPORTED_PROPERTIES} properties")
    for name, text in value.items():
        if not isinstance(name, str) or PROPERTY_NAME_RE.fullmatch(name) is None:
            raise ValueError(f"{attribute.name}: {name!r} is not a property name")
        if (
            not isinstance(text, str)
            or len(text) > MAX_PROPERTY_CHARS
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
        ):
            raise ValueError(f"{attribute.name}.{name}: not a one-line value of at most {MAX_PROPERTY_CHARS}")


def _imported_state(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in IMPORTED_TASK_STATES:
        raise ValueError(f"{attribute.name}: {value!r} is not one of {', '.join(IMPORTED_TASK_STATES)}")


@attrs.frozen
class MessageImported:
    """``message.imported`` v1: a message of datacore-messaging's files, recorded by the user who
    imported them. ``from`` is what the old file said, not who wrote the event: the event's actor
    (the importer) vouches only that it imported it, so the sender is never verified by it."""

    TYPE: ClassVar[str] = "message.imported"
    VERSION: ClassVar[int] = 1

    id: str = attrs.field(validator=_message_id)
    original: str = attrs.field(validator=_original_id)
    author: str = attrs.field(validator=_actor)
    to: str = attrs.field(validator=_actor)
    text: str = attrs.field(validator=_text)
    reply_to: str | None = attrs.field(default=None, validator=_optional_parent)
    thread: str | None = attrs.field(default=None, validator=_optional_parent)
    priority: str | None = attrs.field(default=None, validator=_priority)
    #: The old entry's time (its CREATED or heading timestamp), ms since the epoch.
    at: int | None = attrs.field(default=None, validator=_bounded(0, 2**62, True))

    @property
    def subject(self) -> str:
        return self.id

    def as_sent(self) -> MessageSent:
        """The message as the views show it (the sender as the old file named it)."""
        return MessageSent(
            self.id, self.author, self.to, self.text, self.reply_to, self.thread, self.priority
        )


@attrs.frozen
class TaskImported:
    """``task.imported`` v1: an agent task of datacore-messaging's files, recorded by the agent's
    owner: its request, the state it had (in play: ``WAITING``), and the old drawer's other
    properties as they were written (history, shown; never a tier or a decision)."""

    TYPE: ClassVar[str] = "task.imported"
    VERSION: ClassVar[int] = 1

    id: str = attrs.field(validator=_task_id)
    original: str = attrs.field(validator=_original_id)
    author: str = attrs.field(validator=_actor)
    to: str = attrs.field(validator=_agent)
    text: str = attrs.field(validator=_text)
    state: str = attrs.field(validator=_imported_state)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_tags)
    effort: int | None = attrs.field(default=None, validator=_bounded(1, MAX_EFFORT, True))
    tokens: int | None = attrs.field(default=None, validator=_bounded(1, MAX_TOKENS, True))
    priority: str | None = attrs.field(default=None, validator=_priority)
    properties: dict[str, str] = attrs.field(factory=dict, validator=_properties)
    #: The old SUBMITTED / CREATED time and, for a closed task, its CLOSED time (ms since the epoch).
    at: int | None = attrs.field(default=None, validator=_bounded(0, 2**62, True))
    closed_at: int | None = attrs.field(default=None, validator=_bounded(0, 2**62, True))

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


P = TypeVar("P")
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
