"""``chat`` (and ``gui``, v0.2's name): the chat window on the user's space (:mod:`datacore_msg.chat`)."""

from __future__ import annotations

import sys
from typing import IO

import click

from datacore_msg.cli.common import space_options
from datacore_msg.errors import InvalidInput


def needs_terminal(stdin: IO[str] | None, stderr: IO[str] | None) -> None:
    """Refuse to open the window where it cannot work: it reads keys from stdin and draws on
    stderr, and without a terminal there it would draw escape codes into a pipe or a file, waiting
    for keys that never come."""
    if not (stdin is not None and stdin.isatty() and stderr is not None and stderr.isatty()):
        raise InvalidInput(
            "the chat window needs a terminal (stdin and stderr are not one here); "
            "use inbox, send and sync --watch in a script"
        )


def run_chat(root: str | None, space: str | None, watch: bool) -> None:
    from datacore_msg.app.space import open_space

    open_space(root, space).close()  # a space that is not set up is one line and exit 3, not a window
    needs_terminal(sys.__stdin__, sys.__stderr__)
    from datacore_msg.chat.app import ChatApp

    ChatApp(lambda: open_space(root, space), watch=watch).run()


@click.command(name="chat")
@click.option("--no-relay", is_flag=True, help="Do not connect to the relay (work on the local log).")
@space_options
def chat_cmd(no_relay: bool, root: str | None, space: str | None) -> None:
    """Open the chat window: the messages and your agent's tasks, live; @user text sends,
    /help lists the commands; Ctrl-C or /quit leaves."""
    run_chat(root, space, not no_relay)


@click.command(name="gui")
@click.option("--no-relay", is_flag=True, help="Do not connect to the relay (work on the local log).")
@space_options
def gui_cmd(no_relay: bool, root: str | None, space: str | None) -> None:
    """The chat window (v0.2's name for it; same as 'chat')."""
    run_chat(root, space, not no_relay)


COMMANDS: tuple[click.Command, ...] = (chat_cmd, gui_cmd)
