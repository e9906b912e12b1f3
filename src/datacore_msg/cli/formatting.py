"""Turning result objects into human text and JSON-ready dicts (no printing here).

Every value that comes from an event (names, ids, types, texts, reasons, figures) is shown through
:func:`~datacore_msg.terminal.field` (one line) or :func:`~datacore_msg.terminal.printable` (each
line of a text), so an imported event cannot drive the terminal or forge a line of output.

A sender to point out (:class:`~datacore_msg.eventlog.lookalike.Sender`: its name not backed by a
pinned key, or looking like another pinned name) is shown by its label (``Tex (unverified; looks
like tex)``) in human text, and with ``"verified"`` and ``"looks_like"`` next to ``"from"`` in JSON;
other senders' output is what it always was (the two keys absent mean: verified, like no other).
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.projections.agent_view import cost_of
from datacore_msg.projections.timefmt import iso_local, org_inactive, org_inactive_ms
from datacore_msg.records import TYPE_CHECKING
from datacore_msg.task_states import CANCELLED
from datacore_msg.terminal import field, printable

if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:  # annotations only: ``inbox`` need not import the exchange
    from datacore_msg.app.exchange import ImportResult
    from datacore_msg.app.messages import MessageItem
    from datacore_msg.app.replies import AgentSent
    from datacore_msg.eventlog.envelope import Event
    from datacore_msg.eventlog.payloads import TaskDecided
    from datacore_msg.projections.tasks import TaskState


def sender_keys(sender: Sender | None) -> dict[str, Any]:
    """``verified`` and ``looks_like`` for a sender to point out (and ``imported`` for a sender named
    by history imported from datacore-messaging); nothing for the others."""
    if sender is None or not sender.marked:
        return {}
    keys: dict[str, Any] = {"verified": sender.verified, "looks_like": sender.looks_like}
    if sender.imported:
        keys["imported"] = True
    return keys


def _label(name: str, sender: Sender | None) -> str:
    return name if sender is None else sender.label


def message_dict(item: MessageItem, tz: tzinfo) -> dict[str, Any]:
    sent = item.state.sent
    return {
        "id": sent.id,
        "from": sent.sender,
        **sender_keys(item.sender),
        "to": sent.to,
        "text": sent.text,
        "reply_to": sent.reply_to,
        "thread": sent.thread,
        "priority": sent.priority,
        "status": item.status,
        "created": iso_local(item.state.shown_hlc, tz),
    }


def message_line(item: MessageItem, tz: tzinfo) -> str:
    sent = item.state.sent
    first = sent.text.strip().splitlines()[0] if sent.text.strip() else ""
    if len(first) > 72:
        first = first[:71] + "…"
    prio = f" [#{sent.priority}]" if sent.priority else ""
    return (
        f"{field(sent.id)}  {org_inactive(item.state.shown_hlc, tz)}  {item.status:<8} "
        f"{field(item.sender.label)} → {field(sent.to)}{field(prio)}: {field(first)}"
    )


def message_block(item: MessageItem, tz: tzinfo, marker: str = "") -> str:
    sent = item.state.sent
    lines = [
        f"{marker}{field(sent.id)}  ({item.status})",
        f"  from:     {field(item.sender.label)}",
        f"  to:       {field(sent.to)}",
        f"  created:  {org_inactive(item.state.shown_hlc, tz)}",
    ]
    if sent.priority:
        lines.append(f"  priority: {field(sent.priority)}")
    if sent.reply_to:
        lines.append(f"  reply to: {field(sent.reply_to)}")
    if sent.thread:
        lines.append(f"  thread:   {field(sent.thread)}")
    lines.append("")
    lines.extend("    " + printable(line) for line in sent.text.split("\n"))
    return "\n".join(lines)


def reply_dict(sent: AgentSent) -> dict[str, Any]:
    """A sent reply (``reply``, ``send-reply``): its ids, its ends and the task it completed."""
    return {
        "id": sent.message_id,
        "event": sent.event_id,
        "from": sent.sender,
        "to": sent.to,
        "reply_to": sent.reply_to,
        "completed": None if sent.completed is None else sent.completed.id,
    }


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
    elif event.type == "task.requested":
        what = f"{data.get('id')} → {data.get('to')}"
    elif event.type in ("message.imported", "task.imported"):
        what = f"{data.get('id')} {data.get('from')} → {data.get('to')} (imported {data.get('original')})"
    elif event.type == "task.decided":
        what = f"{data.get('task')} {data.get('outcome')} ({data.get('rule')})"
    elif event.type.startswith("task."):
        what = str(data.get("task", ""))
    else:
        what = str(data.get("subject", ""))
    return (
        f"{org_inactive(event.hlc, tz)}  {field(event.actor):<16} {field(event.type):<16} {field(what)}"
        f"  (origin {field(event.origin[:12])} #{event.seq})"
    )


# -- tasks ---------------------------------------------------------------------------------------


def _age(ms: int) -> str:
    minutes = ms // 60_000
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // (24 * 60)}d"


def task_line(state: TaskState, now_ms: int, tz: tzinfo, sender: Sender | None = None) -> str:
    """One line of ``tasks``; ``sender`` (what the trust book says of the requester) labels it."""
    from datacore_msg.projections.orgtext import safe_title

    prio = f" [#{state.request.priority}]" if state.request.priority else ""
    tier = f" ({state.tier})" if state.tier else ""
    age = _age(max(0, now_ms - physical_ms(state.shown_requested_hlc)))
    why = ""
    reason = state.cancellation_reason or state.rejection_reason
    if state.state == CANCELLED and reason:
        why = f" ({field(safe_title(reason, 80))})"
    return (
        f"{field(state.id)}  {state.state:<9} {age:>4}  {field(_label(state.sender, sender))}{field(tier)} → "
        f"{field(state.agent)}{field(prio)}: {field(safe_title(state.request.text, 60))}{why}"
    )


def _when(hlc: int | None, tz: tzinfo) -> str | None:
    return None if hlc is None else iso_local(hlc, tz)


def _iso_ms(ms: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(tz).isoformat(timespec="seconds")


def task_dict(state: TaskState, now_ms: int, tz: tzinfo, sender: Sender | None = None) -> dict[str, Any]:
    request = state.request
    done = state.completed
    decision = state.decision
    return {
        "id": state.id,
        "state": state.state,
        "from": state.sender,
        **sender_keys(sender),
        "to": state.agent,
        "tier": state.tier,
        "text": request.text,
        "tags": list(request.tags),
        "effort": request.effort,
        "estimated_tokens": request.tokens,
        "priority": request.priority,
        "requested": iso_local(state.shown_requested_hlc, tz),
        "age_seconds": max(0, now_ms - physical_ms(state.shown_requested_hlc)) // 1000,
        "decision": None
        if decision is None
        else {
            "outcome": decision.outcome,
            "rule": decision.rule,
            "reason": decision.reason,
            "tier": decision.tier,
            "figures": decision.figures,
            "retry_after": None if decision.retry_after is None else _iso_ms(decision.retry_after, tz),
        },
        "deferred": None
        if state.deferral is None or state.deferred_until_ms is None
        else {
            "until": _iso_ms(state.deferred_until_ms, tz),
            "rule": state.deferral.rule,
            "reason": state.deferral.reason,
        },
        "approval": state.approval,
        "started": _when(state.started_hlc, tz),
        "completed": _when(state.completed_hlc, tz),
        "closed": _when(state.closed_hlc, tz),
        "tokens_used": None if done is None else done.tokens,
        "cost": None if done is None else (done.cost or cost_of(done.tokens)),
        "result": None if done is None else done.result,
        "quality": None if done is None else done.quality,
        "retry_count": state.retry_count,
        "retry_reason": state.retry_reason,
        "revision_feedback": state.revision_feedback,
        "rejection_reason": state.rejection_reason,
        "cancellation_reason": state.cancellation_reason,
        **({"request_event": state.request_event, "clashes": list(state.clashes)} if state.clashes else {}),
        **(
            {"imported": {"original": state.imported.original, "properties": dict(state.imported.properties)}}
            if state.imported is not None
            else {}
        ),
        "history": [
            {
                "time": iso_local(change.hlc, tz),
                "actor": change.actor,
                "action": change.action,
                "from": change.before,
                "to": change.after,
                "note": change.note,
                "superseded": change.superseded,
                "event": change.event_id,
            }
            for change in state.changes
        ],
    }


def task_block(state: TaskState, now_ms: int, tz: tzinfo, sender: Sender | None = None) -> str:
    """``task show``: the times in org form (``[2026-11-24 Tue 11:44]``), like every other listing
    and the views; ``--json`` keeps ISO times."""
    info = task_dict(state, now_ms, tz)
    info["from"] = _label(state.sender, sender)
    for key, hlc in (
        ("requested", state.requested_hlc),
        ("started", state.started_hlc),
        ("completed", state.completed_hlc),
    ):
        info[key] = None if hlc is None else org_inactive(hlc, tz)
    lines = [f"{field(state.id)}  ({state.state})"]
    for label, key in (
        ("from", "from"),
        ("to", "to"),
        ("tier", "tier"),
        ("requested", "requested"),
        ("priority", "priority"),
        ("effort", "effort"),
        ("estimate", "estimated_tokens"),
        ("approval", "approval"),
        ("started", "started"),
        ("completed", "completed"),
        ("tokens used", "tokens_used"),
        ("cost", "cost"),
        ("result", "result"),
        ("quality", "quality"),
        ("retries", "retry_count"),
    ):
        value = info[key]
        if value not in (None, 0, ""):
            lines.append(f"  {label + ':':<13} {field(value)}")
    if state.request.tags:
        lines.append(f"  {'tags:':<13} {field(' '.join(state.request.tags))}")
    if state.clashes:
        ignored = ", ".join(event[:12] for event in state.clashes)
        lines.append(
            f"  {'clash:':<13} {len(state.clashes)} other request(s) reused this id and are ignored "
            f"(events {ignored}); this task is request {state.request_event[:12]}"
        )
    until = state.deferred_until_ms
    if until is not None and state.deferral is not None:
        lines.append(
            f"  {'deferred:':<13} until {org_inactive_ms(until, tz, round_up=True)} by rule "
            f"{field(state.deferral.rule)}: {field(state.deferral.reason)}"
        )
    if state.decision is not None:
        decision = state.decision
        lines.append(
            f"  {'decision:':<13} {field(decision.outcome)} by rule {field(decision.rule)}: "
            f"{field(decision.reason)}"
        )
        if decision.figures:
            figures = ", ".join(f"{k}={v}" for k, v in decision.figures.items())
            lines.append(f"  {'figures:':<13} {field(figures)}")
    for label, key in (
        ("retry reason", "retry_reason"),
        ("feedback", "revision_feedback"),
        ("rejected", "rejection_reason"),
        ("cancelled", "cancellation_reason"),
    ):
        if info[key] is not None:
            lines.append(f"  {label + ':':<13} {field(info[key])}")
    if state.imported is not None:
        lines.append(f"  {'imported:':<13} {field(state.imported.original)} (datacore-messaging)")
        lines.extend(
            f"  {'  ' + name + ':':<13} {field(value)}" for name, value in state.imported.properties.items()
        )
    lines.append("  history:")
    for change in state.changes:
        when = org_inactive(change.hlc, tz)
        if change.superseded is None:
            note = f": {field(change.note)}" if change.note else ""
            moved = f"{field(change.action)} {field(change.before)} → {field(change.after)}"
            lines.append(f"    {when} {field(change.actor)} {moved}{note}")
        else:
            lines.append(
                f"    {when} {field(change.actor)} {field(change.action)} SUPERSEDED: "
                f"{field(change.superseded)}"
            )
    lines.append("")
    lines.extend("    " + printable(line) for line in state.request.text.split("\n"))
    return "\n".join(lines)


def decision_dict(decision: TaskDecided, tz: tzinfo) -> dict[str, Any]:
    return {
        "task": decision.task,
        "outcome": decision.outcome,
        "rule": decision.rule,
        "reason": decision.reason,
        "retry_after": None if decision.retry_after is None else _iso_ms(decision.retry_after, tz),
    }


def decision_line(decision: TaskDecided, tz: tzinfo) -> str:
    """One governor decision an import or a sync caused, e.g. ``governor: task-… deferred until
    [2026-11-24 Tue 12:36] by rule cooldown: Cooldown: 0s since the last task, 60s required``."""
    outcome = decision.outcome
    if outcome == "deferred" and decision.retry_after is not None:
        outcome += f" until {org_inactive_ms(decision.retry_after, tz, round_up=True)}"
    return (
        f"governor: {field(decision.task)} {outcome} by rule {field(decision.rule)}: {field(decision.reason)}"
    )


# -- import --------------------------------------------------------------------------------------


def import_summary(result: ImportResult) -> str:
    return (
        f"Imported {result.accepted} new event(s), {result.duplicates} already present, "
        f"{result.rejected_count} rejected"
    )


def import_problems(file: str, result: ImportResult, report: str | None) -> str | None:
    """The one-line error of an import that rejected lines or stopped early (None when it did
    neither): the summary, the first rejected lines, how many more, and why it stopped."""
    if not result.rejected_count and result.stopped is None:
        return None
    text = f"{field(file)}: {import_summary(result)}"
    if result.rejected:
        text += ": " + "; ".join(f"line {n}: {field(reason)}" for n, reason in result.rejected)
        more = result.rejected_count - len(result.rejected)
        if more > 0:
            where = f"all of them are in {field(report)}" if report else "--report FILE lists them all"
            text += f"; and {more} more ({where})"
    if result.stopped is not None:
        text += f"; stopped: {result.stopped}"
    return text
