"""``resident``: show or stop this interpreter's resident process (see ``cli/resident_client.py``)."""

from __future__ import annotations

import os

import click

from datacore_msg.cli.common import json_option
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.jsontext import loads
from datacore_msg.transport import resident


@click.group(name="resident")
def resident_group() -> None:
    """The resident process that runs commands with the package already loaded (started by the first
    command that finds none; DATACORE_MSG_RESIDENT=off turns it off)."""


@resident_group.command(name="status")
@json_option
def status_cmd(as_json: bool) -> None:
    """Whether a resident process serves this interpreter, and since when."""
    path = resident.socket_path(os.environ)
    answer = resident.ask(path, "status")
    info = loads(answer[1:]) if answer and answer.startswith("I") else None
    off = resident.switched_off(os.environ)
    if as_json:
        emit_json({"running": info is not None, "switched_off": off, "socket": path, **(info or {})})
        return
    if info is None:
        state = "off (DATACORE_MSG_RESIDENT)" if off else "not running (the next command starts one)"
        emit_text(f"resident process: {state}\n  socket: {path}")
        return
    emit_text(
        f"resident process: running (pid {info['pid']}, up {info['up_s']:.0f} s, "
        f"{info['served']} command(s) served, exits after {info['idle_s']:.0f} s idle)"
        + (" -- switched off for new commands (DATACORE_MSG_RESIDENT)" if off else "")
        + f"\n  socket: {path}"
    )


@resident_group.command(name="stop")
def stop_cmd() -> None:
    """Stop this interpreter's resident process (the next command starts a new one unless it is off)."""
    path = resident.socket_path(os.environ)
    answer = resident.ask(path, "stop")
    emit_text("resident process: stopped" if answer is not None else "resident process: not running")


COMMANDS: tuple[click.Command, ...] = (resident_group,)
