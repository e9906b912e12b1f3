"""The error boundary: a command's failure becomes one line (or a JSON error) and a typed exit status.

A :class:`~datacore_msg.errors.DatacoreError` prints one line on stderr (a JSON error on stdout with
``--json``) and exits with the status :func:`~datacore_msg.cli.exit_codes.exit_for` maps its code
to; the hidden ``--traceback`` lets it propagate instead. Anything else keeps its traceback, because
a bug should look like a bug.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from datacore_msg.cli.exit_codes import Exit, exit_for
from datacore_msg.cli.output import emit_error
from datacore_msg.errors import DatacoreError, ImportRejected, InvalidInput
from datacore_msg.records import TYPE_CHECKING
from datacore_msg.terminal import field

if TYPE_CHECKING:
    from typing import Any

    import click


def check_arguments(args: list[str]) -> None:
    """Refuse an argument that is not valid UTF-8 (a lone surrogate from the OS), naming it."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"argument {number} ({field(arg.encode('utf-8', 'replace').decode())}) is not valid UTF-8"
            ) from None


def guarded(command: click.Command, args: list[str], prog_name: str) -> int:
    """Run ``command`` on ``args`` and return its exit status, whatever it raised."""
    import click

    as_json = wants_json(args)
    usage: list[int] = []

    def call() -> None:
        try:
            command.main(args=args, prog_name=prog_name, standalone_mode=False)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # click's word for Ctrl-C: 130 below
                raise exc.__cause__ from None
            emit_error("aborted", "aborted", as_json)
            usage.append(int(Exit.USAGE))
        except click.ClickException as exc:
            if as_json:
                emit_error("usage", exc.format_message(), True)
            else:
                exc.show()
            usage.append(int(Exit.USAGE))

    status = run_guarded(call, args)
    return usage[0] if usage and status == int(Exit.OK) else status


def wants_json(args: list[str]) -> bool:
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def run_guarded(call: Callable[[], None], args: list[str]) -> int:
    """Run one command's ``call`` (its arguments ``args``) and return its exit status, whatever it
    raised: the boundary shared by the click commands and the fast path."""
    as_json = wants_json(args)
    try:
        check_arguments(args)
        call()
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
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else int(Exit.BUG)
    except BrokenPipeError:
        sys.stderr.close()
        return int(Exit.OK)
    return int(Exit.OK)
