"""Commands for agent tasks, the budget, identity and contacts (registered on the main group)."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_text

if TYPE_CHECKING:
    from datacore_msg.app.tasks import Moved

STATE_CHOICE = click.Choice(
    ["REQUESTED", "WAITING", "QUEUED", "WORKING", "DONE", "CANCELLED", "ARCHIVED"], case_sensitive=False
)


@click.command(name="tasks")
@click.option(
    "--state", "states", multiple=True, type=STATE_CHOICE, help="Only tasks in this state (repeatable)."
)
@click.option("--from", "sender", default=None, help="Only tasks from this sender.")
@click.option("--sent", is_flag=True, help="Tasks you sent to agents (yours and teammates').")
@click.option("--all", "include_all", is_flag=True, help="Include CANCELLED and ARCHIVED.")
@json_option
@space_options
def tasks_cmd(
    states: tuple[str, ...],
    sender: str | None,
    sent: bool,
    include_all: bool,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """List your agent's tasks: id, state, age, sender (open ones unless --state or --all)."""
    from datacore_msg.app import tasks
    from datacore_msg.cli.formatting import task_dict, task_line

    with open_space_from(root, space) as sp:
        result = tasks.list_tasks(sp, states=states, sender=sender, sent=sent, include_closed=include_all)
        now, tz = sp.clock(), sp.tz
        agent = sp.agent
    warn_views(result.views)
    if as_json:
        emit_json([task_dict(state, now, tz) for state in result.items])
    elif not result.items:
        emit_text("No tasks." if sent else f"No tasks for {agent}.")
    else:
        emit_text("\n".join(task_line(state, now, tz) for state in result.items))


@click.group(name="task")
def task_group() -> None:
    """Show a task or move it through its life cycle."""


@task_group.command(name="show")
@click.argument("task_id")
@json_option
@space_options
def task_show(task_id: str, as_json: bool, root: str | None, space: str | None) -> None:
    """Show one task with its decision and history."""
    from datacore_msg.app import tasks
    from datacore_msg.cli.formatting import task_block, task_dict

    with open_space_from(root, space) as sp:
        state = tasks.show(sp, task_id)
        now, tz = sp.clock(), sp.tz
    emit_json(task_dict(state, now, tz)) if as_json else emit_text(task_block(state, now, tz))


_HELP = {
    "approve": "Approve a WAITING task (owner): it joins the queue.",
    "reject": "Reject a WAITING task (owner), with --reason.",
    "cancel": "Cancel a task (owner; or the sender, before it starts).",
    "claim": "Claim a QUEUED task (the agent): it becomes WORKING.",
    "complete": (
        "Complete a WORKING task (the agent), with --tokens and optionally --cost, --result, "
        "--quality."
    ),
    "retry": "Send a WORKING task back to the queue (the agent), with --reason.",
    "revise": "Ask for another pass at a DONE task (owner), feedback in --reason.",
    "archive": "Archive a DONE task (owner), confirming its result.",
}


def emit_moved(moved: Moved, now: int, tz: tzinfo, as_json: bool) -> None:
    """What a task move prints (``task ACTION``, ``task-queue ACTION``)."""
    from datacore_msg.cli.formatting import task_dict

    warn_views(moved.views)
    if as_json:
        emit_json(task_dict(moved.state, now, tz))
    else:
        emit_text(f"{moved.action.capitalize()}: {moved.task_id} is now {moved.state.state}")


def _make_action(action: str) -> click.Command:
    @click.argument("task_id")
    @click.option("--reason", default=None, help="Why (revise: the feedback).")
    @click.option(
        "--tokens", type=click.IntRange(min=0, max=2**62), default=None, help="complete: tokens used."
    )
    @click.option("--cost", default=None, help="complete: cost in dollars (default: $0.015 per 1K tokens).")
    @click.option("--result", "result_path", default=None, help="complete: path of the result.")
    @click.option("--quality", default=None, help="complete: quality score (two decimals).")
    @json_option
    @space_options
    def command(
        task_id: str,
        reason: str | None,
        tokens: int | None,
        cost: str | None,
        result_path: str | None,
        quality: str | None,
        as_json: bool,
        root: str | None,
        space: str | None,
    ) -> None:
        from datacore_msg.app import tasks

        with open_space_from(root, space) as sp:
            moved = tasks.transition(
                sp,
                task_id,
                action,
                reason=reason,
                tokens=tokens,
                cost=cost,
                result=result_path,
                quality=quality,
            )
            now, tz = sp.clock(), sp.tz
        emit_moved(moved, now, tz, as_json)

    command.__doc__ = _HELP[action]
    return click.command(name=action)(command)


for _action in _HELP:
    task_group.add_command(_make_action(_action))


@click.command(name="budget")
@json_option
@space_options
def budget_cmd(as_json: bool, root: str | None, space: str | None) -> None:
    """Today's token use per sender and in total against the limits, queue depth, next reset."""
    from datetime import datetime, timezone

    from datacore_msg.app import tasks

    with open_space_from(root, space) as sp:
        report = tasks.budget(sp)
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


@click.command(name="whoami")
@json_option
@space_options
def whoami_cmd(as_json: bool, root: str | None, space: str | None) -> None:
    """Print this installation's name, agent and public key (for teammates to pin)."""
    with open_space_from(root, space) as sp:
        key = sp.signing_key().public_hex
        user, agent, space_name = sp.user, sp.agent, sp.paths.space
    if as_json:
        emit_json({"name": user, "agent": agent, "public_key": key, "space": space_name})
        return
    emit_text(
        f"name:       {user}\nagent:      {agent}\npublic key: {key}\n\n"
        f"A teammate pins it with:\n  datacore-msg contacts add {user} {key} --tier team"
    )


@click.group(name="contacts")
def contacts_group() -> None:
    """The space's contacts.yaml: pinned keys and trust tiers."""


@contacts_group.command(name="add")
@click.argument("name")
@click.argument("key")
@click.option(
    "--tier", type=click.Choice(["owner", "team", "trusted", "unknown"]), required=True, help="Trust tier."
)
@click.option("--display-name", default=None, help="A display name for the contact.")
@space_options
def contacts_add(
    name: str, key: str, tier: str, display_name: str | None, root: str | None, space: str | None
) -> None:
    """Pin KEY (from the teammate's 'datacore-msg whoami') for NAME with a trust tier."""
    from datetime import date

    from datacore_msg.app.governance import refresh
    from datacore_msg.config.contacts import add_contact

    with open_space_from(root, space) as sp:
        path = sp.paths.contacts_file
        change = add_contact(path, name, key, tier, date.today().isoformat(), display_name)
        warn_views(refresh(sp))
    parts = []
    if change.added_entry:
        parts.append("added")
    if change.added_key and not change.added_entry:
        parts.append("key pinned")
    if change.tier_changed and not change.added_entry:
        parts.append(f"tier now {tier}")
    emit_text(f"{name}: " + (", ".join(parts) if parts else "already pinned, nothing changed") + f" ({path})")


@contacts_group.command(name="list")
@json_option
@space_options
def contacts_list(as_json: bool, root: str | None, space: str | None) -> None:
    """List contacts, their tiers and pinned keys."""
    from datacore_msg.config.contacts import load_contacts

    with open_space_from(root, space) as sp:
        contacts = load_contacts(sp.paths.contacts_file)
        overrides = dict(sp.trust().tiers)
    if as_json:
        emit_json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "tier": overrides.get(c.id, c.tier),
                    "public_keys": list(c.public_keys),
                    "handles": list(c.handles),
                    "added": c.added,
                }
                for c in contacts
            ]
        )
        return
    if not contacts:
        emit_text("No contacts.")
        return
    lines = []
    for c in contacts:
        tier = overrides.get(c.id, c.tier) or "unknown"
        keys = ", ".join(k[:16] + "…" for k in c.public_keys) or "no key pinned (treated as unknown)"
        lines.append(f"{c.id:<20} {tier:<8} {keys}")
    emit_text("\n".join(lines))


@contacts_group.command(name="remove")
@click.argument("name")
@space_options
def contacts_remove(name: str, root: str | None, space: str | None) -> None:
    """Remove NAME and its pinned keys."""
    from datacore_msg.app.governance import refresh
    from datacore_msg.config.contacts import remove_contact

    with open_space_from(root, space) as sp:
        path = sp.paths.contacts_file
        remove_contact(path, name)
        warn_views(refresh(sp))
    emit_text(f"{name}: removed ({path})")


COMMANDS = (tasks_cmd, task_group, budget_cmd, whoami_cmd, contacts_group)
