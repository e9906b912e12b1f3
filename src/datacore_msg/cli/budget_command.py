"""``budget``: today's token use of your agent per sender and in total, against the limits."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options
from datacore_msg.cli.output import emit_json, emit_text


@click.command(name="budget")
@json_option
@space_options
def budget_cmd(as_json: bool, root: str | None, space: str | None) -> None:
    """Today's token use per sender and in total against the limits, queue depth, next reset."""
    from datetime import datetime, timezone

    from datacore_msg.app.budget import budget_of

    with open_space_from(root, space) as sp:
        report = budget_of(sp)
        tz = sp.tz
    reset = datetime.fromtimestamp(report.next_reset_ms / 1000, tz=timezone.utc).astimezone(tz)
    if as_json:
        emit_json(
            {
                "agent": report.agent,
                "senders": [
                    {
                        "sender": s.sender,
                        "tier": s.tier,
                        "tokens_today": s.tokens_today,
                        "outstanding": s.outstanding,
                        "completed_today": s.completed_today,
                        "tier_limit": s.tier_limit,
                        "sender_limit": s.sender_limit,
                        "tasks_last_hour": s.tasks_last_hour,
                    }
                    for s in report.senders
                ],
                "total_today": report.total_today,
                "daily_budget": report.daily_budget,
                "queue_depth": report.queue_depth,
                "max_queue_depth": report.max_queue_depth,
                "working": report.working,
                "unpinned_queue": report.unpinned_queue,
                "unpinned_queue_total": report.unpinned_queue_total,
                "unpinned_queue_per_key": report.unpinned_queue_per_key,
                "unpinned_keys": [{"key": k.key, "queued": k.queued} for k in report.unpinned_keys],
                "tasks_per_hour": report.tasks_per_hour,
                "next_reset": reset.isoformat(timespec="seconds"),
            }
        )
        return

    def limit(value: int) -> str:
        return "unlimited" if value == 0 else str(value)

    lines = [f"Budget of {report.agent} today (resets {reset:%Y-%m-%d %H:%M} {report.timezone})"]
    lines.append(f"  total:  {report.total_today} / {limit(report.daily_budget)} tokens")
    lines.append(
        f"  queue:  {report.queue_depth} / {limit(report.max_queue_depth)} waiting or queued, "
        f"{report.working} working"
    )
    lines.append(
        f"  unpinned senders: {report.unpinned_queue} / {limit(report.unpinned_queue_total)} waiting or "
        f"queued, {limit(report.unpinned_queue_per_key)} per key (not counted in the queue above)"
    )
    for k in report.unpinned_keys:
        lines.append(f"    key {k.key[:12]}: {k.queued} / {limit(report.unpinned_queue_per_key)}")
    if report.senders:
        lines.append("  per sender (completed today + outstanding estimates):")
        for s in report.senders:
            lines.append(
                f"    {s.sender:<20} {s.tier:<8} {s.tokens_today:>8} / {limit(s.tier_limit)} tier, "
                f"{limit(s.sender_limit)} sender max; {s.tasks_last_hour}/{limit(report.tasks_per_hour)} "
                "this hour"
            )
    else:
        lines.append("  no use today")
    emit_text("\n".join(lines))


COMMANDS: tuple[click.Command, ...] = (budget_cmd,)
