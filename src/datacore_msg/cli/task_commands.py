"""Agent tasks: ``tasks`` (the list) and ``task show`` / ``task ACTION`` (one task and its moves),
with the printing of a task that v0.2's ``task-queue`` reuses (:func:`emit_task`, :func:`emit_moved`)."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

import click

from datacore_msg.cli.common import (
    json_option,
    open_space_from,
    open_space_to_append,
    space_options,
    warn_views,
)
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.task_states import ACTIONS, STATES

if TYPE_CHECKING:
    from datacore_msg.app.tasks import Moved
    from datacore_msg.eventlog.lookalike import Sender
    from datacore_msg.projections.tasks import TaskState

STATE_CHOICE = click.Choice(list(STATES), case_sensitive=False)


@click.command(name="tasks")
@click.option(
    "--state", "states", multiple=True, type=STATE_CHOICE, help="Only tasks in this state (repeatable)."
)
@click.option("--from", "sender", default=None, help="Only tasks from this sender.")
@click.option("--sent", is_flag=True, help="Tasks you sent to agents (yours and teammates').")
@click.option("--all", "include_all", is_flag=True, help="Include every CANCELLED and ARCHIVED task.")
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
    """List your agent's tasks: id, state, age, sender (open ones and today's refusals and
    cancellations, unless --state or --all)."""
    from datacore_msg.app import tasks
    from datacore_msg.cli.formatting import task_dict, task_line

    with open_space_from(root, space) as sp:
        result = tasks.list_tasks(
            sp, states=states, sender=sender, sent=sent, include_closed=include_all, closed_today=True
        )
        senders = [tasks.sender_of(sp, state) for state in result.items]
        untrusted = [tasks.untrusted_owner(sp, state) for state in result.items]
        now, tz = sp.clock(), sp.tz
        agent = sp.agent
    warn_views(result.views)
    listed = list(zip(result.items, senders, strict=True))
    notes = [f"Note: {tasks.untrusted_note(owner)}" for owner in dict.fromkeys(untrusted) if owner]
    if as_json:
        emit_json([task_dict(state, now, tz, who) for state, who in listed])
    elif not result.items:
        emit_text("No tasks." if sent else f"No tasks for {agent}.")
    else:
        emit_text("\n".join([*(task_line(state, now, tz, who) for state, who in listed), *notes]))


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

    with open_space_from(root, space) as sp:
        state = tasks.show(sp, task_id)
        sender = tasks.sender_of(sp, state)
        owner = tasks.untrusted_owner(sp, state)
        now, tz = sp.clock(), sp.tz
    emit_task(state, now, tz, as_json, sender, None if owner is None else tasks.untrusted_note(owner))


def emit_task(
    state: TaskState,
    now: int,
    tz: tzinfo,
    as_json: bool,
    sender: Sender | None = None,
    note: str | None = None,
) -> None:
    """What showing one task prints (``task show``, ``task-queue status ID``); ``sender`` labels an
    unverified or lookalike requester; ``note`` says why the owner's decisions do not count here."""
    from datacore_msg.cli.formatting import task_block, task_dict

    if as_json:
        data = task_dict(state, now, tz, sender)
        if note is not None:
            data["note"] = note
        emit_json(data)
    else:
        block = task_block(state, now, tz, sender)
        emit_text(block if note is None else f"{block}\nNote: {note}")


_HELP = {
    "approve": "Approve a WAITING task (owner): it joins the queue.",
    "reject": "Reject a WAITING task (owner), with --reason.",
    "cancel": "Cancel a task (owner; or the sender, before it starts).",
    "claim": "Claim a QUEUED task (the agent): it becomes WORKING.",
    "complete": (
        "Complete a WORKING task (the agent), with --tokens and optionally --cost, --result, --quality."
    ),
    "retry": "Send a WORKING task back to the queue (the agent), with --reason.",
    "revise": "Ask for another pass at a DONE task (owner), feedback in --reason.",
    "archive": "Archive a DONE task (owner), confirming its result.",
}


def emit_moved(moved: Moved, now: int, tz: tzinfo, as_json: bool, sender: Sender | None = None) -> None:
    """What a task move prints (``task ACTION``, ``task-queue ACTION``)."""
    from datacore_msg.cli.formatting import task_dict

    warn_views(moved.views)
    if as_json:
        emit_json(task_dict(moved.state, now, tz, sender))
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

        with open_space_to_append(root, space) as sp:
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
            sender = tasks.sender_of(sp, moved.state)
            now, tz = sp.clock(), sp.tz
        emit_moved(moved, now, tz, as_json, sender)

    command.__doc__ = _HELP[action]
    return click.command(name=action)(command)


for _action in ACTIONS:  # one command a row of the table's actions; each needs its help above
    task_group.add_command(_make_action(_action))


COMMANDS: tuple[click.Command, ...] = (tasks_cmd, task_group)
