"""Event payloads: one frozen attrs class per event type, with its stable type name and version.

A payload class validates its own fields, so a payload that reached an event passed the same checks
whether it was written here or arrived from another peer. ``subject`` names the entity the event is
about (the message id); the log indexes it so a projection can re-fold one entity cheaply.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from datacore_msg.eventlog.names import PRIORITIES, is_actor, is_message_id, text_problem


def _actor(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not is_actor(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a valid name")


def _message_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not is_message_id(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a message id")


def _optional_message_id(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _message_id(instance, attribute, value)


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
    reply_to: str | None = attrs.field(default=None, validator=_optional_message_id)
    thread: str | None = attrs.field(default=None, validator=_optional_message_id)
    priority: str | None = attrs.field(default=None, validator=_priority)

    @property
    def subject(self) -> str:
        return self.id


Mark = Literal["read", "todo", "done", "archive"]
MARKS: tuple[str, ...] = ("read", "todo", "done", "archive")


def _mark(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in MARKS:
        raise ValueError(f"{attribute.name}: {value!r} is not one of {', '.join(MARKS)}")


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


Payload = MessageSent | MessageMarked

PAYLOAD_TYPES: dict[str, type[MessageSent] | type[MessageMarked]] = {
    cls.TYPE: cls for cls in (MessageSent, MessageMarked)
}

#: JSON keys that differ from attribute names (``from`` is a Python keyword).
RENAMED_FIELDS: dict[type[Any], dict[str, str]] = {MessageSent: {"sender": "from"}}
