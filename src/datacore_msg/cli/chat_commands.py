"""``chat`` (and ``gui``, v0.2's name): the chat window on the user's space (:mod:`datacore_msg.chat`)."""

from __future__ import annotations

import click

from datacore_msg.cli.chat_run import run_chat
from datacore_msg.cli.common import space_options


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
