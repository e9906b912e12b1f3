"""``datacore-msg``: the command group, the registration of every command, and :func:`main`.

Each command turns its options into one library call and prints its result once; the commands live
by job in the ``*_commands`` modules, and :mod:`datacore_msg.cli.boundary` turns their failures into
one line and a typed exit status. The console script (:mod:`datacore_msg.cli.entry`) calls
:func:`main` for everything but the hooks' fast path.
"""

from __future__ import annotations

import sys

import click

from datacore_msg import __version__
from datacore_msg.cli.boundary import guarded

PROG = "datacore-msg"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG)
@click.option("--traceback", is_flag=True, hidden=True, help="Show tracebacks for errors.")
def cli(traceback: bool) -> None:
    """Messaging between teammates and their AI agents: a signed event log with org-mode views."""


def _register_commands() -> None:
    from datacore_msg.cli import (
        budget_command,
        chat_commands,
        compat,
        contact_commands,
        exchange_commands,
        identity_command,
        log_commands,
        mcp_commands,
        message_commands,
        migrate_commands,
        presence_commands,
        relay_commands,
        resident_commands,
        search_commands,
        setup_commands,
        sync_commands,
        task_commands,
    )
    from datacore_msg.cli.hooks import hook

    for module in (
        setup_commands,
        migrate_commands,
        message_commands,
        search_commands,
        log_commands,
        exchange_commands,
        task_commands,
        budget_command,
        identity_command,
        contact_commands,
        sync_commands,
        presence_commands,
        relay_commands,
        mcp_commands,
        resident_commands,
        chat_commands,
        compat,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)
    cli.add_command(hook)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: this process's arguments); the exit status. The
    plain spellings of the commonest commands take the click-free fast path, as from the console
    script."""
    from datacore_msg.cli.fastpath import dispatch

    args = sys.argv[1:] if argv is None else argv
    fast = dispatch(args)
    return guarded(cli, args, PROG) if fast is None else fast


def run() -> None:
    sys.exit(main())


__all__ = ["cli", "main", "run"]
