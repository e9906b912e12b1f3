"""``datacore-msg hook …``: the Claude Code hooks and their installation.

``hook prompt`` and ``hook session-start`` normally never reach click: the console script runs them
directly (:mod:`datacore_msg.cli.entry`); these commands exist for ``--help`` and the docs, and
behave the same when reached.
"""

from __future__ import annotations

import click

from datacore_msg.cli.common import space_options
from datacore_msg.cli.hook_setup import COMMANDS


@click.group()
def hook() -> None:
    """Claude Code hooks: surface tasks and messages to the agent on each prompt."""


def _run(name: str, root: str | None, space: str | None, check: bool) -> None:
    from datacore_msg.cli.hookrun import run

    argv = [*(["--root", root] if root else []), *(["--space", space] if space else [])]
    raise SystemExit(run(name, argv + (["--check"] if check else [])))


@hook.command()
@click.option("--check", is_flag=True, help="Show what would be printed; claim and record nothing.")
@space_options
def prompt(check: bool, root: str | None, space: str | None) -> None:
    """UserPromptSubmit hook: reads Claude Code's JSON on stdin; claims the agent's next task when
    nothing is WORKING and prints new tasks, approvals and messages as additionalContext JSON
    (nothing when nothing is new). Always exits 0."""
    _run("prompt", root, space, check)


@hook.command("session-start")
@click.option("--check", is_flag=True, help="Show what would be printed; record nothing.")
@space_options
def session_start(check: bool, root: str | None, space: str | None) -> None:
    """SessionStart hook: a short digest of the agent's queue, approvals and unread messages, once
    per Claude session; with a relay configured, also starts a watcher (sync --watch, in the
    background) for the space if none runs. Always exits 0."""
    _run("session-start", root, space, check)


for command in COMMANDS:
    hook.add_command(command)
