"""The bodies of ``send``, ``inbox`` and ``mark`` (and the helpers v0.2's names reuse), free of the
command framework: :mod:`datacore_msg.cli.fastpath` runs them straight from ``sys.argv``, and the
click commands of :mod:`datacore_msg.cli.message_commands` call the same functions."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from datacore_msg.cli.common import open_space_from, open_space_to_append, warn_views
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


def run_send(
    to: str,
    text: str,
    priority: str | None,
    reply_to: str | None,
    tags: Sequence[str],
    effort: int | None,
    tokens: int | None,
    as_json: bool,
    root: str | None,
    space: str | None,
    strict: bool = False,
) -> None:
    """``send``: a message, or a task request to an agent. A name neither in contacts.yaml nor ever
    seen in the log asks for confirmation on a terminal, else warns (``strict``: refuses)."""
    from datacore_msg.app import messages
    from datacore_msg.eventlog.names import is_agent

    body = read_text_arg(text)
    with open_space_to_append(root, space) as sp:
        recipient = messages.recipient_of(sp, to)
        unknown = None if messages.is_known_name(sp, recipient) else recipient
        if unknown is not None:
            _confirm_unknown(unknown, strict, as_json)
        if is_agent(recipient):
            if reply_to is not None:
                raise InvalidInput("--reply-to: a task request to an agent cannot reply to a message")
            from datacore_msg.app import tasks

            requested = tasks.request(
                sp, recipient, body, tags=tuple(tags), effort=effort, tokens=tokens, priority=priority
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
        import click

        from datacore_msg.cli.exit_codes import Exit
        from datacore_msg.cli.output import emit_error

        try:
            confirmed = click.confirm(f"{_unknown(name)} (a typo?). Send anyway?", default=False, err=True)
        except click.exceptions.Abort as exc:  # Ctrl-C (interrupted, 130) or the input's end (no)
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            confirmed = False
        if not confirmed:
            emit_error("aborted", "aborted", as_json)
            raise SystemExit(int(Exit.USAGE))


def _interactive(as_json: bool) -> bool:
    return not as_json and sys.stdin.isatty() and sys.stderr.isatty()


def _warn_unknown(name: str | None, as_json: bool = False) -> None:
    """The one-line warning after sending to an unknown name (not asked on a terminal)."""
    if name is None or _interactive(as_json):
        return
    from datacore_msg.cli.output import emit_warning

    emit_warning(f"{_unknown(name)} (a typo?); sent anyway (--strict refuses such names)")


def run_inbox(include_all: bool, as_json: bool, root: str | None, space: str | None) -> None:
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


def run_mark(message_id: str, how: str, as_json: bool, root: str | None, space: str | None) -> None:
    """``mark`` and v0.2's ``mark-message``."""
    from datacore_msg.app import messages

    with open_space_to_append(root, space) as sp:
        result = messages.mark(sp, message_id, how)
    warn_views(result.views)
    if as_json:
        emit_json({"id": result.message_id, "mark": result.mark, "changed": result.changed})
    else:
        note = "" if result.changed else " (already)"
        emit_text(f"Marked {result.message_id} {result.mark}{note}")
