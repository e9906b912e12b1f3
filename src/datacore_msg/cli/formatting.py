"""Turning result objects into human text and JSON-ready dicts (no printing here)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from datacore_msg.app.messages import MessageItem
from datacore_msg.cli.output import printable
from datacore_msg.eventlog.envelope import Event
from datacore_msg.projections.timefmt import iso_local, org_inactive


def message_dict(item: MessageItem, tz: tzinfo) -> dict[str, Any]:
    sent = item.state.sent
    return {
        "id": sent.id,
        "from": sent.sender,
        "to": sent.to,
        "text": sent.text,
        "reply_to": sent.reply_to,
        "thread": sent.thread,
        "priority": sent.priority,
        "status": item.status,
        "created": iso_local(item.state.sent_hlc, tz),
    }


def message_line(item: MessageItem, tz: tzinfo) -> str:
    sent = item.state.sent
    first = sent.text.strip().splitlines()[0] if sent.text.strip() else ""
    if len(first) > 72:
        first = first[:71] + "…"
    prio = f" [#{sent.priority}]" if sent.priority else ""
    return (
        f"{sent.id}  {org_inactive(item.state.sent_hlc, tz)}  {item.status:<8} "
        f"{sent.sender} → {sent.to}{prio}: {printable(first)}"
    )


def message_block(item: MessageItem, tz: tzinfo, marker: str = "") -> str:
    sent = item.state.sent
    lines = [
        f"{marker}{sent.id}  ({item.status})",
        f"  from:     {sent.sender}",
        f"  to:       {sent.to}",
        f"  created:  {org_inactive(item.state.sent_hlc, tz)}",
    ]
    if sent.priority:
        lines.append(f"  priority: {sent.priority}")
    if sent.reply_to:
        lines.append(f"  reply to: {sent.reply_to}")
    if sent.thread:
        lines.append(f"  thread:   {sent.thread}")
    lines.append("")
    lines.extend("    " + printable(line) for line in sent.text.split("\n"))
    return "\n".join(lines)


def event_dict(event: Event, tz: tzinfo) -> dict[str, Any]:
    from datacore_msg.eventlog.hlc import physical_ms

    return {
        "position": event.position,
        "id": event.id,
        "time": iso_local(event.hlc, tz),
        "physical_ms": physical_ms(event.hlc),
        "actor": event.actor,
        "origin": event.origin,
        "seq": event.seq,
        "type": event.type,
        "v": event.v,
        "data": event.data,
    }


def event_line(event: Event, tz: tzinfo) -> str:
    data = event.data
    if event.type == "message.sent":
        what = f"{data.get('id')} → {data.get('to')}"
    elif event.type == "message.marked":
        what = f"{data.get('message')} {data.get('mark')}"
    else:
        what = str(data.get("subject", ""))
    return (
        f"{org_inactive(event.hlc, tz)}  {event.actor:<16} {event.type:<16} {printable(what)}"
        f"  (origin {event.origin[:12]} #{event.seq})"
    )
