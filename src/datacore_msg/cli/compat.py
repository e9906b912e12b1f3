"""The reference system's commands (``send-reply``, ``task-queue``, ``mark-message``).

Users and scripts of datacore-messaging v0.2 know these names and arguments; each one is a thin
layer over the same library calls as ``reply``, ``tasks``/``task …`` and ``mark``, with their output
(ids listed, one-line errors).
"""

from __future__ import annotations

from collections import Counter

import click

from datacore_msg.cli.common import (
    json_option,
    open_space_from,
    open_space_to_append,
    space_options,
    warn_views,
)
from datacore_msg.cli.dashtext import TextCommand
from datacore_msg.cli.message_commands import read_text_arg, run_mark
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.cli.task_commands import emit_moved, emit_task
from datacore_msg.errors import InvalidInput
from datacore_msg.task_states import FINAL, STATES

# -- send-reply ----------------------------------------------------------------------------------


@click.command(name="send-reply", cls=TextCommand)
@click.argument("to")
@click.argument("text")
@click.option(
    "--reply-to", "reply_to", default=None, help="Task or message id (or unique prefix) replied to."
)
@click.option(
    "--complete-task", "complete_task", default=None, help="Also complete this WORKING task (needs --tokens)."
)
@click.option("--complete", "complete_alias", default=None, hidden=True)
@click.option(
    "--tokens",
    type=click.IntRange(min=0, max=2**62),
    default=None,
    help="With --complete-task: tokens the task used.",
)
@click.option("--cost", default=None, help="With --complete-task: cost in dollars (default from tokens).")
@click.option("--result", "result_path", default=None, help="With --complete-task: path of the result.")
@click.option("--quality", default=None, help="With --complete-task: quality score, 0-1.")
@click.option("--priority", type=click.Choice(["A", "B", "C"]), default=None, help="Priority: A, B or C.")
@json_option
@space_options
def send_reply(
    to: str,
    text: str,
    reply_to: str | None,
    complete_task: str | None,
    complete_alias: str | None,
    tokens: int | None,
    cost: str | None,
    result_path: str | None,
    quality: str | None,
    priority: str | None,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Send TEXT ('-' reads standard input) from your agent to TO, optionally in reply to a task or
    message; --complete-task also completes a task, in the same transaction."""
    from datacore_msg.app.replies import Completion
    from datacore_msg.app.replies import send_reply as do_send_reply
    from datacore_msg.cli.formatting import reply_dict

    if complete_alias is not None:
        if complete_task is not None and complete_task.strip() != complete_alias.strip():
            raise InvalidInput(
                f"--complete-task {complete_task!r} and --complete {complete_alias!r} name different "
                "tasks; give one"
            )
        complete_task = complete_alias
    extras = tokens is not None or cost is not None or result_path is not None or quality is not None
    if complete_task is None and extras:
        raise InvalidInput("--tokens, --cost, --result and --quality go with --complete-task")
    body = read_text_arg(text)
    done = Completion(tokens, cost, result_path, quality) if complete_task is not None else None
    with open_space_to_append(root, space) as sp:
        sent = do_send_reply(
            sp, to, body, reply_to=reply_to, complete_task=complete_task, complete=done, priority=priority
        )
    warn_views(sent.views)
    if as_json:
        emit_json(reply_dict(sent))
        return
    where = f"  from {sent.sender} to {sent.to}"
    if sent.reply_to is not None:
        where += f", in reply to {sent.reply_to}"
    lines = [f"Sent: {sent.message_id}", where]
    if sent.completed is not None:
        lines.append(f"Completed: {sent.completed.id} ({sent.completed.state})")
    emit_text("\n".join(lines))


# -- task-queue ----------------------------------------------------------------------------------

_QUEUE_ACTIONS = ("status", "approve", "reject", "cancel")
#: The states ``tasks`` lists by default (every state but CANCELLED and ARCHIVED), in life-cycle order.
_OPEN_STATES = tuple(state for state in STATES if state not in FINAL)


def _task_ref(positional: str | None, option: str | None) -> str | None:
    if positional is not None and option is not None and positional.strip() != option.strip():
        raise InvalidInput(f"task id given twice: {positional!r} and --task-id {option!r}; give one")
    return option if option is not None else positional


@click.command(name="task-queue")
@click.argument("action", type=click.Choice(_QUEUE_ACTIONS))
@click.argument("task_ref", metavar="[TASK_ID]", required=False, default=None)
@click.option("--task-id", "task_id", default=None, help="The task's id or unique prefix.")
@click.option("--reason", default=None, help="approve, reject, cancel: why.")
@json_option
@space_options
def task_queue(
    action: str,
    task_ref: str | None,
    task_id: str | None,
    reason: str | None,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Your agent's open tasks with counts per state (status), one task (status ID), or approve,
    reject or cancel a task (--task-id ID, or ID)."""
    from datacore_msg.app import tasks
    from datacore_msg.cli.formatting import task_dict, task_line

    ref = _task_ref(task_ref, task_id)
    if action == "status":
        if reason is not None:
            raise InvalidInput("--reason goes with approve, reject or cancel, not status")
        if ref is not None:
            with open_space_from(root, space) as sp:
                state = tasks.show(sp, ref)
                sender = tasks.sender_of(sp, state)
                now, tz = sp.clock(), sp.tz
            emit_task(state, now, tz, as_json, sender)
            return
        with open_space_from(root, space) as sp:
            listed = tasks.list_tasks(sp)
            senders = [tasks.sender_of(sp, item) for item in listed.items]
            now, tz, agent = sp.clock(), sp.tz, sp.agent
        warn_views(listed.views)
        counts = Counter(item.state for item in listed.items)
        ordered = {s: counts[s] for s in _OPEN_STATES if counts[s]}
        if as_json:
            emit_json(
                {
                    "agent": agent,
                    "counts": ordered,
                    "tasks": [
                        task_dict(item, now, tz, who) for item, who in zip(listed.items, senders, strict=True)
                    ],
                }
            )
        elif not listed.items:
            emit_text(f"No open tasks for {agent}.")
        else:
            summary = ", ".join(f"{n} {s}" for s, n in ordered.items())
            lines = [task_line(item, now, tz, who) for item, who in zip(listed.items, senders, strict=True)]
            lines.append(f"{len(listed.items)} open task(s) for {agent}: {summary}")
            emit_text("\n".join(lines))
        return
    if ref is None:
        raise InvalidInput(f"task-queue {action}: give the task with --task-id ID")
    with open_space_to_append(root, space) as sp:
        moved = tasks.transition(sp, ref, action, reason=reason)
        sender = tasks.sender_of(sp, moved.state)
        now, tz = sp.clock(), sp.tz
    emit_moved(moved, now, tz, as_json, sender)


# -- mark-message --------------------------------------------------------------------------------


@click.command(name="mark-message")
@click.argument("message_id")
@click.argument("how", type=click.Choice(["read", "archive", "todo", "done"]))
@json_option
@space_options
def mark_message(message_id: str, how: str, as_json: bool, root: str | None, space: str | None) -> None:
    """Mark a message read, archive, todo or done (for you only)."""
    run_mark(message_id, how, as_json, root, space)


COMMANDS: tuple[click.Command, ...] = (send_reply, task_queue, mark_message)
