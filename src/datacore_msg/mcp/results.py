"""What the MCP tools return: messages, tasks and search hits as JSON-ready dicts.

Every item written by someone carries what the trust book says of its sender: ``from_tier`` (the
governor's tier: ``owner``, a contact's tier, or ``unknown`` for a name no pinned key backs),
``from_verified`` and ``looks_like`` (a pinned name this one imitates). Texts are returned exactly
as stored: the JSON encoding of the protocol is what keeps them data. No printing, no clock.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from datacore_msg.app.messages import MessageItem
from datacore_msg.app.space import Space
from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.projections.tasks import TaskState
from datacore_msg.projections.timefmt import iso_local


def sender_fields(space: Space, actor: str, origin: str, imported: bool = False) -> dict[str, Any]:
    """The sender's fields; ``imported`` history (datacore-messaging's files) is never verified and
    has no tier but ``unknown``, whatever name the old file gave."""
    book = space.trust()
    shown = book.sender(actor, origin, imported)
    return {
        "from": actor,
        "from_tier": "unknown" if imported else book.tier_of(actor, origin),
        "from_verified": shown.verified,
        "looks_like": shown.looks_like,
        "imported": imported,
    }


def message_dict(space: Space, item: MessageItem, tz: tzinfo) -> dict[str, Any]:
    sent = item.state.sent
    return {
        "id": sent.id,
        **sender_fields(space, sent.sender, item.state.sent_origin, item.state.imported is not None),
        "to": sent.to,
        "text": sent.text,
        "reply_to": sent.reply_to,
        "thread": sent.thread or sent.id,
        "priority": sent.priority,
        "status": item.status,
        "created": iso_local(item.state.sent_hlc, tz),
        "created_ms": physical_ms(item.state.sent_hlc),
    }


def task_dict(space: Space, state: TaskState, tz: tzinfo) -> dict[str, Any]:
    request = state.request
    done = state.completed
    return {
        "id": state.id,
        "state": state.state,
        **sender_fields(space, state.sender, state.request_origin, state.imported is not None),
        "to": state.agent,
        "text": request.text,
        "tags": list(request.tags),
        "effort": request.effort,
        "estimated_tokens": request.tokens,
        "priority": request.priority,
        "requested": iso_local(state.requested_hlc, tz),
        "tokens_used": None if done is None else done.tokens,
        "result": None if done is None else done.result,
        "retry_count": state.retry_count,
        "retry_reason": state.retry_reason,
        "revision_feedback": state.revision_feedback,
    }


def with_warnings(result: dict[str, Any], views: WriteReport | None) -> dict[str, Any]:
    """``result`` with the views' warnings (hand edits kept aside, views not written) if any."""
    warnings = [] if views is None else list(views.warnings)
    if warnings:
        result["warnings"] = warnings
    return result
