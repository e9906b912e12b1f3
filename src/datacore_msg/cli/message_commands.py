"""Messages: ``send`` (a task when sent to an agent), ``reply``, ``inbox``, ``show``, ``thread``
and ``mark``, with the helpers v0.2's names reuse (:func:`read_text_arg`, :func:`run_mark`)."""

from __future__ import annotations

import click

from datacore_msg.cli.common import (
    json_option,
    open_space_from,
    open_space_to_append,
    space_options,
    warn_views,
)
from datacore_msg.cli.dashtext import TextCommand
from datacore_msg.cli.message_run import read_text_arg, run_inbox, run_mark, run_send
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.errors import InvalidInput

__all__ = ["COMMANDS", "read_text_arg", "run_mark"]


@click.command(cls=TextCommand)
@click.argument("to")
@click.argument("text")
@click.option("--priority", type=click.Choice(["A", "B", "C"]), default=None, help="Priority: A, B or C.")
@click.option("--reply-to", "reply_to", default=None, help="Id (or unique prefix) replied to.")
@click.option("--tag", "tags", multiple=True, help="Task tag (to an agent; repeatable).")
@click.option(
    "--effort", type=click.IntRange(min=1, max=100), default=None, help="Task effort, 1-100 (to an agent)."
)
@click.option(
    "--tokens",
    type=click.IntRange(min=1, max=100_000_000),
    default=None,
    help="Estimated tokens, 1-100000000 (to an agent).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse a name that is neither in contacts.yaml nor ever seen in the log (exit 4).",
)
@json_option
@space_options
def send(
    to: str,
    text: str,
    priority: str | None,
    reply_to: str | None,
    tags: tuple[str, ...],
    effort: int | None,
    tokens: int | None,
    strict: bool,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Send TEXT to @user, or a task to @user-claude (@claude: your own agent). TEXT '-' reads
    standard input. A name neither in contacts.yaml nor ever seen in the log asks for confirmation
    on a terminal, else warns (--strict: refuses)."""
    run_send(to, text, priority, reply_to, tags, effort, tokens, as_json, root, space, strict)


@click.command(cls=TextCommand)
@click.argument("ref")
@click.argument("text")
@click.option("--priority", type=click.Choice(["A", "B", "C"]), default=None, help="Priority: A, B or C.")
@click.option("--complete", is_flag=True, help="Also complete the task (REF must be a task).")
@click.option("--tokens", type=int, default=None, help="With --complete: tokens the task used.")
@click.option("--cost", default=None, help="With --complete: cost in dollars (default from tokens).")
@click.option("--result", "result_path", default=None, help="With --complete: path of the result.")
@click.option("--quality", default=None, help="With --complete: quality score, 0-1.")
@json_option
@space_options
def reply(
    ref: str,
    text: str,
    priority: str | None,
    complete: bool,
    tokens: int | None,
    cost: str | None,
    result_path: str | None,
    quality: str | None,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Reply with TEXT ('-' reads standard input) to a message, in its thread, or, as your agent, to
    the sender of one of its tasks (REF: a task id); --complete also completes that task, in the
    same transaction."""
    from datacore_msg.app.replies import Completion
    from datacore_msg.app.replies import reply as do_reply
    from datacore_msg.cli.formatting import reply_dict

    body = read_text_arg(text)
    done = Completion(tokens, cost, result_path, quality) if complete else None
    if done is None and (tokens is not None or cost or result_path or quality):
        raise InvalidInput("--tokens, --cost, --result and --quality go with --complete")
    with open_space_to_append(root, space) as sp:
        sent = do_reply(sp, ref, body, complete=done, priority=priority)
    warn_views(sent.views)
    if as_json:
        emit_json(reply_dict(sent))
        return
    lines = [f"Sent: {sent.message_id}"]
    if sent.reply_to is not None and sent.reply_to.startswith("task-"):
        lines.append(f"  from {sent.sender} to {sent.to}, in reply to {sent.reply_to}")
    if sent.completed is not None:
        lines.append(f"Completed: {sent.completed.id} (DONE)")
    emit_text("\n".join(lines))


@click.command()
@click.option("--all", "include_all", is_flag=True, help="Include read, done and archived.")
@json_option
@space_options
def inbox(include_all: bool, as_json: bool, root: str | None, space: str | None) -> None:
    """List messages to you: unread and to-do (all with --all)."""
    run_inbox(include_all, as_json, root, space)


@click.command()
@click.argument("message_id")
@json_option
@space_options
def show(message_id: str, as_json: bool, root: str | None, space: str | None) -> None:
    """Show one message."""
    from datacore_msg.app import messages
    from datacore_msg.cli.formatting import message_block, message_dict

    with open_space_from(root, space) as sp:
        item = messages.show(sp, message_id)
        tz = sp.tz
    emit_json(message_dict(item, tz)) if as_json else emit_text(message_block(item, tz))


@click.command()
@click.argument("message_id")
@json_option
@space_options
def thread(message_id: str, as_json: bool, root: str | None, space: str | None) -> None:
    """Show the whole thread of a message, the asked one marked with '>'."""
    from datacore_msg.app import messages
    from datacore_msg.cli.formatting import message_block, message_dict

    with open_space_from(root, space) as sp:
        result = messages.thread(sp, message_id)
        tz = sp.tz
    if as_json:
        emit_json(
            {
                "root": result.root,
                "asked": result.asked,
                "messages": [message_dict(item, tz) for item in result.items],
            }
        )
        return
    blocks = [message_block(item, tz, "> " if item.id == result.asked else "  ") for item in result.items]
    emit_text("\n\n".join(blocks))


@click.command()
@click.argument("message_id")
@click.argument("how", type=click.Choice(["read", "todo", "done", "archive"]))
@json_option
@space_options
def mark(message_id: str, how: str, as_json: bool, root: str | None, space: str | None) -> None:
    """Mark a message read, todo, done or archive (for you only)."""
    run_mark(message_id, how, as_json, root, space)


COMMANDS: tuple[click.Command, ...] = (send, reply, inbox, show, thread, mark)
