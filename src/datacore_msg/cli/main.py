"""``datacore-msg``: the command layer.

Each command turns its options into one library call and prints its result once. ``main`` is the
error boundary: a :class:`~datacore_msg.errors.DatacoreError` becomes one line on stderr (or a JSON
error with ``--json``) and its typed exit status; anything else keeps its traceback, because a bug
should look like a bug.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from datacore_msg import __version__
from datacore_msg.cli.common import json_option, open_report, open_space_from, space_options, warn_views
from datacore_msg.cli.exit_codes import Exit, exit_for
from datacore_msg.cli.output import (
    emit_error,
    emit_json,
    emit_note,
    emit_text,
    emit_warning,
    field,
    printable,
)
from datacore_msg.errors import DatacoreError, ImportRejected, InvalidInput


def read_text_arg(text: str) -> str:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datacore-msg")
@click.option("--traceback", is_flag=True, hidden=True, help="Show tracebacks for errors.")
def cli(traceback: bool) -> None:
    """Messaging between teammates and their AI agents: a signed event log with org-mode views."""


# -- setup -------------------------------------------------------------------------------------


@cli.command()
@click.option("--name", default=None, help="Your user name (asked on a terminal if missing).")
@click.option("--timezone", "tz", default=None, help="IANA time zone for the views (default UTC).")
@click.option("--force", is_flag=True, help="Change existing settings (a .bak copy is kept).")
@space_options
def init(name: str | None, tz: str | None, force: bool, root: str | None, space: str | None) -> None:
    """Create settings, the space's folders and this installation's signing key."""
    from datacore_msg.app.setup import describe_paths
    from datacore_msg.app.setup import init as do_init

    if name is None:
        if not sys.stdin.isatty():
            raise InvalidInput("--name is required (no terminal to ask on)")
        name = click.prompt("Your user name")
    if tz is None and sys.stdin.isatty():
        tz = click.prompt("Time zone (IANA name; empty keeps the current one)", default="")
    result = do_init(name, space, tz or None, root, force)
    for warning in result.warnings:
        emit_warning(warning)
    lines = [f"Ready: {result.name} in space {result.paths.space}"]
    lines.append(f"  public key:  {result.public_key}" + (" (new)" if result.created_key else ""))
    for label, path in describe_paths(result.paths).items():
        lines.append(f"  {label + ':':<12} {path}")
    emit_text("\n".join(lines))


@cli.command()
@click.option("--status", "show_status", is_flag=True, help="List migrations and their state.")
@json_option
@space_options
def migrate(show_status: bool, as_json: bool, root: str | None, space: str | None) -> None:
    """Apply pending schema migrations of the event log (they also run on every open)."""
    from datacore_msg.app.setup import migration_status

    applied, rows = migration_status(root, space, apply=not show_status)
    if as_json:
        emit_json(
            {"applied_now": applied, "migrations": [[r.name, r.applied_at] for r in rows]}
        )
        return
    out = [f"{r.name:<24} {'applied ' + r.applied_at if r.applied_at else 'pending'}" for r in rows]
    if applied:
        out.append(f"applied now: {', '.join(applied)}")
    emit_text("\n".join(out))


# -- messages ----------------------------------------------------------------------------------


@cli.command()
@click.argument("to")
@click.argument("text")
@click.option(
    "--priority", type=click.Choice(["A", "B", "C"]), default=None, help="Priority: A, B or C."
)
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
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Send TEXT to @user, or a task to @user-claude (@claude: your own agent). TEXT '-' reads
    standard input."""
    from datacore_msg.app import messages
    from datacore_msg.eventlog.names import is_agent

    body = read_text_arg(text)
    with open_space_from(root, space) as sp:
        recipient = messages.recipient_of(sp, to)
        if is_agent(recipient):
            if reply_to is not None:
                raise InvalidInput("--reply-to: a task request to an agent cannot reply to a message")
            from datacore_msg.app import tasks

            requested = tasks.request(
                sp, recipient, body, tags=tags, effort=effort, tokens=tokens, priority=priority
            )
            state = requested.state.state if requested.state is not None else "REQUESTED"
            warn_views(requested.views)
            if as_json:
                emit_json({"id": requested.task_id, "event": requested.event.id, "state": state})
            else:
                emit_text(f"Task: {requested.task_id} ({state})")
            return
        if tags or effort is not None or tokens is not None:
            raise InvalidInput("--tag, --effort and --tokens apply to tasks for an agent (@NAME-claude)")
        result = messages.send(sp, to, body, priority=priority, reply_to=reply_to)
    warn_views(result.views)
    if as_json:
        emit_json({"id": result.message_id, "event": result.event.id})
    else:
        emit_text(f"Sent: {result.message_id}")


@cli.command()
@click.argument("ref")
@click.argument("text")
@click.option(
    "--priority", type=click.Choice(["A", "B", "C"]), default=None, help="Priority: A, B or C."
)
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

    body = read_text_arg(text)
    done = Completion(tokens, cost, result_path, quality) if complete else None
    if done is None and (tokens is not None or cost or result_path or quality):
        raise InvalidInput("--tokens, --cost, --result and --quality go with --complete")
    with open_space_from(root, space) as sp:
        sent = do_reply(sp, ref, body, complete=done, priority=priority)
    warn_views(sent.views)
    completed = None if sent.completed is None else sent.completed.id
    if as_json:
        emit_json(
            {
                "id": sent.message_id,
                "event": sent.event_id,
                "from": sent.sender,
                "to": sent.to,
                "reply_to": sent.reply_to,
                "completed": completed,
            }
        )
        return
    lines = [f"Sent: {sent.message_id}"]
    if sent.reply_to is not None and sent.reply_to.startswith("task-"):
        lines.append(f"  from {sent.sender} to {sent.to}, in reply to {sent.reply_to}")
    if completed is not None:
        lines.append(f"Completed: {completed} (DONE)")
    emit_text("\n".join(lines))


@cli.command()
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


@cli.command()
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


@cli.command()
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
    blocks = [
        message_block(item, tz, "> " if item.id == result.asked else "  ") for item in result.items
    ]
    emit_text("\n\n".join(blocks))


@cli.command()
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


# -- the log -----------------------------------------------------------------------------------


@cli.command()
@click.option("--actor", default=None, help="Only events by this actor.")
@click.option("--type", "type_name", default=None, help="Only events of this type.")
@click.option("--since", default=None, help="30m, 2h, 7d, or an ISO date/time.")
@click.option(
    "--limit",
    type=click.IntRange(max=2**31),
    default=None,
    help="The last N matching events.",
)
@json_option
@space_options
def log(
    actor: str | None,
    type_name: str | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """The audit trail: who did what, when, from which origin."""
    from datacore_msg.app import audit
    from datacore_msg.cli.formatting import event_dict, event_line

    with open_space_from(root, space) as sp:
        events = audit.log(sp, actor=actor, type_name=type_name, since=since, limit=limit)
        lost = audit.superseded(sp, events)
        tz = sp.tz
    if as_json:
        emit_json([{**event_dict(e, tz), "superseded": lost.get(e.id)} for e in events])
    elif events:
        emit_text(
            "\n".join(
                event_line(e, tz) + (f"  SUPERSEDED: {field(lost[e.id])}" if e.id in lost else "")
                for e in events
            )
        )
    else:
        emit_text("No events.")


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Compare with disk; write nothing.")
@json_option
@space_options
def rebuild(check_only: bool, as_json: bool, root: str | None, space: str | None) -> None:
    """Rebuild every view from the log (--check: report files that differ)."""
    from datacore_msg.app import audit

    with open_space_from(root, space) as sp:
        result = audit.rebuild(sp, check_only)
    warn_views(result.report)
    if as_json:
        written = result.report.written if result.report else []
        emit_json({"checked": result.checked, "differing": result.differing, "written": written})
    elif result.checked:
        if result.differing:
            emit_text("Views differ from the log: " + ", ".join(result.differing))
        else:
            emit_text("Views match the log.")
    else:
        written = result.report.written if result.report else []
        emit_text(f"Rebuilt; {len(written)} file(s) written." if written else "Views up to date.")
    if result.differing:
        raise SystemExit(Exit.VIEWS_DIFFER)


@cli.command()
@json_option
@space_options
def verify(as_json: bool, root: str | None, space: str | None) -> None:
    """Check every event's id, signature, chain link and payload."""
    from datacore_msg.app import audit

    with open_space_from(root, space) as sp:
        count, problems = audit.verify(sp)
    if as_json:
        emit_json(
            {
                "events": count,
                "problems": [
                    {"position": p.position, "id": p.event_id, "reason": p.reason}
                    for p in problems
                ],
            }
        )
    elif problems:
        emit_text(
            "\n".join(f"bad event at position {p.position} ({p.event_id[:12]}): {p.reason}"
                      for p in problems)
        )
    else:
        emit_text(f"All {count} events verify.")
    if problems:
        raise SystemExit(Exit.INTEGRITY)


@cli.command(name="export")
@click.argument("file")
@click.option(
    "--since",
    "since",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=0,
    help="Only events after this position.",
)
@space_options
def export_cmd(file: str, since: int, root: str | None, space: str | None) -> None:
    """Write events as JSON lines to FILE ('-' for standard output)."""
    from datacore_msg.app import exchange
    from datacore_msg.fsutil import open_private_text

    with open_space_from(root, space) as sp:
        if file == "-":
            exchange.export(sp, sys.stdout, since)
            return
        target = Path(file)
        temp = target.with_name(f".{target.name}.partial")
        try:
            with open_private_text(temp) as handle:  # the whole log: 0600, like the log itself
                count = exchange.export(sp, handle, since)
            temp.replace(target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise InvalidInput(f"{file}: cannot write: {exc.strerror}") from None
    emit_note(f"Exported {count} event(s) to {file}")


@cli.command(name="import")
@click.argument("file")
@click.option("--report", "report", default=None, help="Write every rejected line to this file (JSON lines).")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Read at most N lines, one event each (default 1000000).",
)
@json_option
@space_options
def import_cmd(
    file: str, report: str | None, max_events: int | None, as_json: bool, root: str | None, space: str | None
) -> None:
    """Verify and store events from a JSON-lines FILE ('-' for standard input)."""
    from contextlib import nullcontext

    from datacore_msg.app import exchange
    from datacore_msg.cli.formatting import import_problems, import_summary

    limit = max_events or exchange.MAX_IMPORT_LINES
    with open_space_from(root, space) as sp, open_report(report) if report else nullcontext() as sink:
        if file == "-":
            result = exchange.import_events(sp, sys.stdin.buffer, report=sink, max_lines=limit)
        else:
            try:
                handle = open(file, "rb")  # noqa: SIM115
            except OSError as exc:
                raise InvalidInput(f"{file}: cannot read: {exc.strerror}") from None
            with handle:
                result = exchange.import_events(sp, handle, report=sink, max_lines=limit)
    warn_views(result.views)
    problems = import_problems(file, result, report)
    if problems is not None:
        raise ImportRejected(problems, result.rejected, result.rejected_count)
    if as_json:
        emit_json({"accepted": result.accepted, "duplicates": result.duplicates, "rejected": []})
    else:
        emit_text(import_summary(result) + ".")


@cli.command()
@click.option("--keep", "keep", default=None, help="Keep the demo's files in this folder.")
def demo(keep: str | None) -> None:
    """Two users exchange messages by export/import in a throwaway folder; show their views."""
    from datacore_msg.app.demo import run_demo

    emit_text(run_demo(keep))


def _register_commands() -> None:
    from datacore_msg.cli.compat import COMMANDS as COMPAT
    from datacore_msg.cli.hooks import hook
    from datacore_msg.cli.tasks import COMMANDS as TASKS

    for command in (*TASKS, *COMPAT, hook):
        cli.add_command(command)


_register_commands()


def _check_arguments(args: list[str]) -> None:
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"argument {number} ({printable(arg.encode('utf-8', 'replace').decode())}) "
                "is not valid UTF-8"
            ) from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    options = args[: args.index("--")] if "--" in args else args
    as_json = "--json" in options
    try:
        _check_arguments(args)
        cli.main(args=args, prog_name="datacore-msg", standalone_mode=False)
    except DatacoreError as exc:
        extra: dict[str, Any] = {}
        if isinstance(exc, ImportRejected):
            extra["rejected"] = [{"line": n, "reason": r} for n, r in exc.rejected]
            extra["rejected_count"] = exc.count
        if "--traceback" in args:
            raise
        emit_error(exc.code, str(exc), as_json, extra)
        return int(exit_for(exc))
    except KeyboardInterrupt:
        emit_error("interrupted", "interrupted; every command that returned success is stored", as_json)
        return 130
    except click.exceptions.Abort:
        emit_error("aborted", "aborted", as_json)
        return int(Exit.USAGE)
    except click.ClickException as exc:
        if as_json:
            emit_error("usage", exc.format_message(), True)
        else:
            exc.show()
        return int(Exit.USAGE)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else int(Exit.BUG)
    except BrokenPipeError:
        sys.stderr.close()
        return int(Exit.OK)
    return int(Exit.OK)


def run() -> None:
    sys.exit(main())


__all__ = ["cli", "main", "printable", "run"]
