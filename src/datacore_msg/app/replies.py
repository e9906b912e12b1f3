"""What the agent says: messages from ``<user>-claude`` to the people whose tasks it works on.

``reply REF TEXT`` answers a task of this user's agent (from the agent, to the task's sender, in the
task's thread; with ``complete`` the reply and the task's completion are appended in one
transaction, so the sender never sees one without the other) or a message (from the user, as
before).
``send_reply`` is the reference's ``send-reply TO TEXT [--reply-to ID] [--complete-task ID]``.
The sender of these messages is the agent; its owner sees them in ``outbox.org``.
"""

from __future__ import annotations

import contextlib

import attrs

from datacore_msg.app import messages, tasks
from datacore_msg.app.ids import new_message_id
from datacore_msg.app.lifecycle import append_move, load_task, payload_for
from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh_after_commit
from datacore_msg.errors import Ambiguous, InvalidInput, NotFound
from datacore_msg.eventlog.names import PRIORITIES, check_text, is_agent
from datacore_msg.eventlog.payloads import MessageSent, Payload
from datacore_msg.eventlog.store import EventStore
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.projections.tasks import TaskState


@attrs.frozen
class Completion:
    """What ``complete`` reports with the reply (see ``task complete``)."""

    tokens: int | None
    cost: str | None = None
    result: str | None = None
    quality: str | None = None


@attrs.frozen
class AgentSent:
    message_id: str
    event_id: str
    sender: str
    to: str
    reply_to: str | None
    completed: TaskState | None
    views: WriteReport


@attrs.frozen
class _Parent:
    id: str
    thread: str
    other: str


def agent_task(space: Space, ref: str) -> TaskState:
    """A task of this user's agent, by id or unique prefix (tasks the user sent to other agents do
    not count, not even towards an ambiguous prefix)."""
    try:
        return tasks.resolve(space, ref, agent_only=True)
    except NotFound:
        try:
            other = tasks.resolve(space, ref)
        except (NotFound, Ambiguous):
            other = None
        if other is None:
            raise
        raise NotFound(f"{other.id} is not a task of {space.agent} (it is {other.agent}'s)") from None


def _task_parent(space: Space, state: TaskState) -> _Parent:
    """Whom a reply to the task goes to: its sender, when a pinned key signed the request (or no key
    is pinned for that name), or when it is history this user imported (its sender is the name
    the user's own old file gave; only the importer's views show such a task)."""
    sender = state.sender
    if state.imported is None and space.trust().account_of(sender, state.request_origin) != sender:
        raise InvalidInput(
            f"{state.id} claims to be from {sender} but was not signed by {sender}'s pinned key; "
            "not replying to them"
        )
    return _Parent(state.id, state.id, sender)


def _message_parent(space: Space, ref: str) -> _Parent:
    parent = messages.resolve(space, ref).sent
    return _Parent(parent.id, parent.thread or parent.id, messages.other_party(space, parent))


def _parent(space: Space, ref: str) -> _Parent:
    ref = ref.strip()
    if ref.startswith("task-"):
        return _task_parent(space, agent_task(space, ref))
    if ref.startswith("msg-"):
        return _message_parent(space, ref)
    found: list[_Parent] = []
    with contextlib.suppress(NotFound):
        found.append(_task_parent(space, agent_task(space, ref)))
    with contextlib.suppress(NotFound):
        found.append(_message_parent(space, ref))
    if not found:
        raise NotFound(f"no task or message of yours matches {ref!r}")
    if len(found) > 1:
        ids = [p.id for p in found]
        raise Ambiguous(f"{ref!r} matches {' and '.join(ids)}; give more of the id", ids)
    return found[0]


def _message(space: Space, to: str, text: str, parent: _Parent | None, priority: str | None) -> MessageSent:
    if is_agent(to):
        raise InvalidInput(f"{to} is an agent: the agent replies to people, not to agents")
    check_text(text)
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(f"priority {priority!r} is not one of A, B, C")
    return MessageSent(
        id=new_message_id(space.clock()),
        sender=space.agent,
        to=to,
        text=text,
        reply_to=None if parent is None else parent.id,
        thread=None if parent is None else parent.thread,
        priority=priority,
    )


def _send(
    space: Space, message: MessageSent, completing: TaskState | None, done: Completion | None
) -> AgentSent:
    def no_duplicate_id(store: EventStore) -> None:
        if store.has_subject(message.id):
            raise InvalidInput(f"message id {message.id} already exists; send again")

    items: list[tuple[str, Payload]] = [(space.agent, message)]
    if completing is None or done is None:
        space.preflight()
        event = space.store.append_all(space.signing_key(), items, space.clock(), no_duplicate_id)[0]
    else:
        completion = payload_for(
            completing.id,
            "complete",
            tokens=done.tokens,
            cost=tasks.decimal_option(done.cost, "--cost"),
            result=done.result,
            quality=tasks.decimal_option(done.quality, "--quality"),
        )
        event = append_move(
            space,
            completing.id,
            "complete",
            completion,
            preceded_by=items,
            check=no_duplicate_id,
            request=completing.request_event,
        )[0]
    views = refresh_after_commit(
        space, "the reply" if completing is None else f"the reply and the completion of {completing.id}"
    )
    completed = None if completing is None else load_task(space, completing.id)
    return AgentSent(message.id, event.id, message.sender, message.to, message.reply_to, completed, views)


def reply(
    space: Space,
    ref: str,
    text: str,
    *,
    complete: Completion | None = None,
    priority: str | None = None,
) -> AgentSent:
    """Answer ``ref``: a task of this user's agent is answered by the agent, to its sender
    (``complete`` also completes it); a message is answered by the user, as ``messages.reply``."""
    parent = _parent(space, ref)
    if parent.id.startswith("task-"):
        completing = agent_task(space, parent.id) if complete is not None else None
        return _send(space, _message(space, parent.other, text, parent, priority), completing, complete)
    if complete is not None:
        raise InvalidInput(f"--complete needs a task; {parent.id} is a message")
    sent = messages.reply(space, parent.id, text, priority=priority)
    return AgentSent(sent.message_id, sent.event.id, space.user, parent.other, parent.id, None, sent.views)


def send_reply(
    space: Space,
    to: str,
    text: str,
    *,
    reply_to: str | None = None,
    complete_task: str | None = None,
    complete: Completion | None = None,
    priority: str | None = None,
) -> AgentSent:
    """The reference's ``send-reply``: a message from the agent to ``to``, optionally in reply to a
    task or message, optionally completing ``complete_task``."""
    recipient = messages.recipient_of(space, to)
    if is_agent(recipient):
        raise InvalidInput(f"{recipient} is an agent: the agent replies to people, not to agents")
    parent = None if reply_to is None else _parent(space, reply_to)
    completing = None
    if complete_task is not None:
        completing = agent_task(space, complete_task)
        if complete is None or complete.tokens is None:
            raise InvalidInput("--complete-task needs --tokens N (the tokens the task used)")
    elif complete is not None and complete.tokens is not None:
        raise InvalidInput("--tokens goes with --complete-task")
    message = _message(space, recipient, text, parent, priority)
    return _send(space, message, completing, complete)


def reply_as_agent(space: Space, ref: str, text: str, *, priority: str | None = None) -> AgentSent:
    """Answer ``ref`` as the agent (the MCP server's ``reply``): a task of this user's agent goes to
    its sender, a message to its other party; either way the sender is ``<user>-claude``, in the
    parent's thread."""
    parent = _parent(space, ref)
    return _send(space, _message(space, parent.other, text, parent, priority), None, None)
