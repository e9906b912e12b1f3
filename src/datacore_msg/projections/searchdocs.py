"""What the search index holds of a message or task: pure functions of its state. Pure.

Theory of operation
-------------------
The index holds exactly the texts that have an entry in the user's own views, so a search can never
find what the views would not show: a message has a document when :func:`~.render.roles_of` gives it
an inbox or outbox entry (to the user; from the user or the user's agent), a task when it is for the
user's agent (the agent view). Messages between other people that reached this log (an import, a
relay) have no entry and so no document.

A document carries the text as written (not the org encoding of the view's body), the ends, the
thread, the time the views show (the ``message.sent`` / ``task.requested`` event's, or an imported
old entry's own), what the user sees of it (their
status, whether it is archived) and what the trust book says of the sender's name. Archived messages
and closed tasks stay searchable: the document says ``archived``.
"""

from __future__ import annotations

from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.projections.messages import MessageState
from datacore_msg.projections.render import roles_of, status_of
from datacore_msg.projections.tasks import TaskState
from datacore_msg.readmodels.searchdoc import SearchDoc
from datacore_msg.task_states import FINAL

MESSAGE = "message"
TASK = "task"


def message_doc(state: MessageState, user: str, sender: Sender | None = None) -> SearchDoc | None:
    """The message's document for ``user``, or None when it has no entry in their views."""
    roles = roles_of(state, user)
    if not roles:
        return None
    sent = state.sent
    return SearchDoc(
        kind=MESSAGE,
        subject=sent.id,
        sender=sent.sender,
        recipient=sent.to,
        thread=sent.thread,
        time_ms=physical_ms(state.shown_hlc),
        status=status_of(state, roles[0], user),
        archived=state.archived_at(user) is not None,
        sender_verified=True if sender is None else sender.verified,
        sender_looks_like=None if sender is None else sender.looks_like,
        text=sent.text,
    )


def task_doc(state: TaskState, sender: Sender | None = None) -> SearchDoc:
    """A task's document (the caller passes only tasks for the user's agent)."""
    request = state.request
    return SearchDoc(
        kind=TASK,
        subject=state.id,
        sender=request.sender,
        recipient=state.agent,
        thread=None,
        time_ms=physical_ms(state.shown_requested_hlc),
        status=state.state,
        archived=state.state in FINAL and state.closed_hlc is not None,
        sender_verified=True if sender is None else sender.verified,
        sender_looks_like=None if sender is None else sender.looks_like,
        text=request.text,
    )
