"""Messages: ``send`` (a task when sent to an agent), ``reply``, ``inbox``, ``show``, ``thread``
and ``mark``, with the helpers v0.2's names reuse (:func:`read_text_arg`, :func:`run_mark`)."""

from __future__ import annotations

import sys

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.dashtext import TextCommand
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.errors import InvalidInput
from datacore_msg.task_states import REQUESTED


def read_text_arg(text: str) -> str:
    """A message's TEXT argument: itself, or standard input for ``-``; either must be UTF-8."""
    if text == "-":
        from datacore_msg.eventlog.names import MAX_TEXT_BYTES

        raw = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)  # never more than the limit allows
        if len(raw) > MAX_TEXT_BYTES:
            raise InvalidInput(f"standard input is over the limit of {MAX_TEXT_BYTES} bytes for a text")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"standard input is not valid UTF-8 (byte {exc.start})") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("text is not valid UTF-8") from None
    return text


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
    from datacore_msg.app import messages
    from datacore_msg.eventlog.names import is_agent

    body = read_text_arg(text)
    with open_space_from(root, space) as sp:
        recipient = messages.recipient_of(sp, to)
        unknown = None if messages.is_known_name(sp, recipient) else recipient
        if unknown is not None:
            _confirm_unknown(unknown, strict, as_json)
        if is_agent(recipient):
            if reply_to is not None:
                raise InvalidInput("--reply-to: a task request to an agent cannot reply to a message")
            from datacore_msg.app import tasks

            requested = tasks.request(
                sp, recipient, body, tags=tags, effort=effort, tokens=tokens, priority=priority
            )
            state = requested.state.state if requested.state is not None else REQUESTED
            warn_views(requested.views)
            _warn_unknown(unknown, as_json)
            if as_json:
                emit_json({"id": requested.task_id, "event": requested.event.id, "state": state})
            else:
                emit_text(f"Task: {requested.task_id} ({state})")
            return
        if tags or effort is not None or tokens is not None:
            raise InvalidInput("--tag, --effort and --tokens apply to tasks for an agent (@NAME-claude)")
        result = messages.send(sp, to, body, priority=priority, reply_to=reply_to)
    warn_views(result.views)
    _warn_unknown(unknown, as_json)
    if as_json:
        emit_json({"id": result.message_id, "event": result.event.id})
    else:
        emit_text(f"Sent: {result.message_id}")


def _unknown(name: str) -> str:
    return f"@{name} is not in contacts.yaml and was never seen in the log"


def _confirm_unknown(name: str, strict: bool, as_json: bool) -> None:
    """Before sending to a name nobody here has heard of (likely a typo): refused with ``--strict``;
    on a terminal, confirmed (declining sends nothing, exit 2); else :func:`_warn_unknown` warns
    after the send."""
    from datacore_msg.errors import NotFound

    if strict:
        raise NotFound(f"{_unknown(name)}; check the name (without --strict it is sent anyway)")
    if _interactive(as_json):
        click.confirm(f"{_unknown(name)} (a typo?). Send anyway?", default=False, abort=True, err=True)


def _interactive(as_json: bool) -> bool:
    return not as_json and sys.stdin.isatty() and sys.stderr.isatty()


def _warn_unknown(name: str | None, as_json: bool = False) -> None:
    """The one-line warning after sending to an unknown name (not asked on a terminal)."""
    if name is None or _interactive(as_json):
        return
    from datacore_msg.cli.output import emit_warning

    emit_warning(f"{_unknown(name)} (a typo?); sent anyway (--strict refuses such names)")


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
    with open_space_from(root, space) as sp:
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
    from datacore_msg.app import messages
    from datacore_msg.cli.formatting import message_dict, message_line

    with open_space_from(root, space) as sp:
        result = messages.inbox(sp, include_all)
        tz = sp.tz
    warn_views(result.views)
    items = result.items
    if as_json:
        emit_json([message_dict(item, tz) for item in items])
    elif not items:
        emit_text("No messages." if include_all else "Nothing unread.")
    else:
        emit_text("\n".join(message_line(item, tz) for item in items))


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


def run_mark(message_id: str, how: str, as_json: bool, root: str | None, space: str | None) -> None:
    """``mark`` and v0.2's ``mark-message``."""
    from datacore_msg.app import messages

    with open_space_from(root, space) as sp:
        result = messages.mark(sp, message_id, how)
    warn_views(result.views)
    if as_json:
        emit_json({"id": result.message_id, "mark": result.mark, "changed": result.changed})
    else:
        note = "" if result.changed else " (already)"
        emit_text(f"Marked {result.message_id} {result.mark}{note}")


COMMANDS: tuple[click.Command, ...] = (send, reply, inbox, show, thread, mark)
