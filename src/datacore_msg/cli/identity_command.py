"""``whoami``: this installation's name, agent and public key, for teammates to pin."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options
from datacore_msg.cli.output import emit_json, emit_text


@click.command(name="whoami")
@json_option
@space_options
def whoami_cmd(as_json: bool, root: str | None, space: str | None) -> None:
    """Print this installation's name, agent and public key (for teammates to pin)."""
    with open_space_from(root, space) as sp:
        key = sp.signing_key().public_hex
        user, agent, space_name = sp.user, sp.agent, sp.paths.space
    if as_json:
        emit_json({"name": user, "agent": agent, "public_key": key, "space": space_name})
        return
    emit_text(
        f"name:       {user}\nagent:      {agent}\npublic key: {key}\n\n"
        f"A teammate pins it with:\n  datacore-msg contacts add {user} {key} --tier team"
    )


COMMANDS: tuple[click.Command, ...] = (whoami_cmd,)
