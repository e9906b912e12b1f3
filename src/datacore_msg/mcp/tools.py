"""The MCP tools' bodies: one call into the same library functions as the CLI, a JSON-ready dict back.

Each function takes an open :class:`~datacore_msg.app.space.Space` (the server opens one per call,
settings and contacts read afresh, so any number of servers can run on one space) and the tool's
arguments, and returns a dict; a :class:`~datacore_msg.errors.DatacoreError` propagates for the
server to turn into an error result with its code. Who acts is the CLI's rule: the agent
(``<user>-claude``) sends messages, replies, claims, completes and retries; a task request to
another agent is made by the user, as ``datacore-msg send @NAME-claude`` does, since it spends the
user's standing with that agent's owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from datacore_msg.app import agent_queue, messages, replies, tasks
from datacore_msg.app.lifecycle import load_task
from datacore_msg.app.space import Space
from datacore_msg.errors import InvalidInput
from datacore_msg.eventlog.names import is_agent
from datacore_msg.mcp.results import message_dict, sender_fields, task_dict, with_warnings
from datacore_msg.task_states import REQUESTED, WORKING

MAX_LIMIT = 200


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit}: must be from 1 to {MAX_LIMIT}")
    return limit


def list_inbox(space: Space, *, include_all: bool = False, limit: int = 20) -> dict[str, Any]:
    page = messages.inbox_page(space, include_all, _limit(limit))
    return with_warnings(
        {
            "messages": [message_dict(space, item, space.tz) for item in page.items],
            "unread": page.unread,
            "total": page.total,
            "truncated": page.total > len(page.items),
        },
        page.views,
    )


def read_message(space: Space, message_id: str) -> dict[str, Any]:
    asked = messages.show(space, message_id)
    thread = messages.thread(space, asked.id)
    tz = space.tz
    return {
        "message": message_dict(space, asked, tz),
        "thread": [message_dict(space, item, tz) for item in thread.items],
        "root": thread.root,
    }


#: The tag on a task request the agent made through MCP: the request is signed in the user's name
#: (their key, their trust tier at the other end), so the tag says whose words it carries.
BY_AGENT = "by_agent"


def send_message(
    space: Space,
    to: str,
    text: str,
    *,
    priority: str | None = None,
    reply_to: str | None = None,
    tags: Sequence[str] = (),
    effort: int | None = None,
    tokens: int | None = None,
) -> dict[str, Any]:
    recipient = messages.recipient_of(space, to)
    if recipient == space.agent:
        # It would be the user's own request (tier owner, accepted at once, then handed to the
        # model as the user's): the agent never queues work for itself in the user's name.
        raise InvalidInput(
            f"send_message to {recipient}: you are {recipient}; a task for yourself must come from "
            "the user (datacore-msg send @claude TEXT), not from a tool call"
        )
    if is_agent(recipient):
        if reply_to is not None:
            raise InvalidInput("reply_to: a task request to an agent cannot reply to a message")
        marked = (*tags, BY_AGENT) if BY_AGENT not in tags else tuple(tags)
        requested = tasks.request(
            space, recipient, text, tags=marked, effort=effort, tokens=tokens, priority=priority
        )
        state = requested.state.state if requested.state is not None else REQUESTED
        return with_warnings(
            {
                "kind": "task",
                "id": requested.task_id,
                "event": requested.event.id,
                "from": space.user,
                "to": recipient,
                "state": state,
            },
            requested.views,
        )
    if tags or effort is not None or tokens is not None:
        raise InvalidInput("tags, effort and tokens apply to a task for an agent (NAME-claude)")
    sent = replies.send_reply(space, recipient, text, reply_to=reply_to, priority=priority)
    return with_warnings(_sent(sent), sent.views)


def _sent(sent: replies.AgentSent) -> dict[str, Any]:
    return {
        "kind": "message",
        "id": sent.message_id,
        "event": sent.event_id,
        "from": sent.sender,
        "to": sent.to,
        "reply_to": sent.reply_to,
        "completed": None if sent.completed is None else sent.completed.id,
    }


def reply(space: Space, ref: str, text: str, *, priority: str | None = None) -> dict[str, Any]:
    sent = replies.reply_as_agent(space, ref, text, priority=priority)
    return with_warnings(_sent(sent), sent.views)


def _since_ms(space: Space, since: str | None) -> int | None:
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(since.strip())
    except ValueError:
        raise InvalidInput(
            f"since {since!r}: not an ISO 8601 date or time (2026-12-01, 2026-12-01T09:30)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=space.tz)
    return int(moment.timestamp() * 1000)


def search_messages(
    space: Space,
    query: str,
    *,
    sender: str | None = None,
    recipient: str | None = None,
    thread: str | None = None,
    since: str | None = None,
    include_tasks: bool = False,
    limit: int = 20,
) -> dict[str, Any]:
    from datacore_msg.app import search

    hits = search.search(
        space,
        query,
        sender=sender,
        recipient=recipient,
        thread=thread,
        since_ms=_since_ms(space, since),
        tasks=include_tasks,
        limit=_limit(limit),
    )
    found = []
    for hit in hits:
        origin = _origin_of(space, hit.kind, hit.id)
        who = {"from": hit.sender} if origin is None else sender_fields(space, hit.sender, *origin)
        found.append(
            {
                "id": hit.id,
                "kind": hit.kind,
                **who,
                "to": hit.recipient,
                "thread": hit.thread,
                "time_ms": hit.time_ms,
                "snippet": hit.snippet,
                "score": hit.score,
                "text": hit.text,
            }
        )
    return {"hits": found}


def _origin_of(space: Space, kind: str, subject: str) -> tuple[str, bool] | None:
    """The origin of the message or task, and whether it is imported history."""
    if kind == "task":
        task = load_task(space, subject)
        return None if task is None else (task.request_origin, task.imported is not None)
    message = messages.load_message(space, subject)
    return None if message is None else (message.sent_origin, message.imported is not None)


def list_tasks(
    space: Space, *, states: Sequence[str] = (), include_closed: bool = False, sent: bool = False
) -> dict[str, Any]:
    result = tasks.list_tasks(space, states=states, sent=sent, include_closed=include_closed)
    tz = space.tz
    return with_warnings({"tasks": [task_dict(space, state, tz) for state in result.items]}, result.views)


def _moved(space: Space, moved: tasks.Moved) -> dict[str, Any]:
    return with_warnings(
        {"id": moved.task_id, "action": moved.action, "task": task_dict(space, moved.state, space.tz)},
        moved.views,
    )


def claim_task(space: Space, task_id: str | None = None) -> dict[str, Any]:
    """Claim ``task_id``, or with none the agent's next queued task (the hook's choice and rule:
    nothing is claimed while a task is WORKING)."""
    if task_id is not None:
        return _moved(space, tasks.transition(space, task_id, "claim"))
    taken = agent_queue.take_next(space)
    if taken.claimed is None:
        working = [state.id for state in tasks.list_tasks(space, states=[WORKING]).items]
        why = f"{', '.join(working)} is WORKING; finish it first" if working else "nothing is queued"
        return with_warnings({"id": None, "action": "claim", "task": None, "why": why}, taken.views)
    state = load_task(space, taken.claimed)
    task = None if state is None else task_dict(space, state, space.tz)
    return with_warnings({"id": taken.claimed, "action": "claim", "task": task}, taken.views)


def complete_task(
    space: Space,
    task_id: str,
    tokens: int,
    *,
    result: str | None = None,
    cost: str | None = None,
    quality: str | None = None,
    reply_text: str | None = None,
) -> dict[str, Any]:
    """Complete a WORKING task; with ``reply_text`` the agent's reply to its sender is appended in
    the same transaction (``reply --complete``)."""
    if reply_text is None:
        return _moved(
            space,
            tasks.transition(
                space, task_id, "complete", tokens=tokens, cost=cost, result=result, quality=quality
            ),
        )
    done = replies.Completion(tokens, cost, result, quality)
    sent = replies.reply(space, task_id, reply_text, complete=done)
    answer = _sent(sent)
    if sent.completed is not None:
        answer["task"] = task_dict(space, sent.completed, space.tz)
    return with_warnings(answer, sent.views)


def retry_task(space: Space, task_id: str, reason: str) -> dict[str, Any]:
    return _moved(space, tasks.transition(space, task_id, "retry", reason=reason))


def mark(space: Space, message_id: str, how: str) -> dict[str, Any]:
    marked = messages.mark(space, message_id, how)
    return with_warnings(
        {"id": marked.message_id, "mark": marked.mark, "changed": marked.changed}, marked.views
    )
