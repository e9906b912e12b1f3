"""Presence: ``online`` (who is connected to the relay, with their status) and ``status`` (set
yours). Ephemeral: nothing of it is logged."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_text

STATUS_CHOICES = ("online", "busy", "away", "focusing")


@click.command(name="online")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the relays, all URLs together (when no watcher runs).",
)
@json_option
@space_options
def online_cmd(timeout: float, as_json: bool, root: str | None, space: str | None) -> None:
    """List who is connected to the team's relay, with their status: names for keys pinned in
    contacts.yaml, else the key's first 12 hex digits. Read from the running watcher, else asked of
    the relay over a short connection (the first of its URLs that answers); names the relay."""
    from datacore_msg.app.presence import who_is_online

    with open_space_from(root, space) as sp:
        result = who_is_online(sp, timeout)
    warn_views(result.views)
    if as_json:
        emit_json(
            {
                "source": result.source,
                "relay": result.relay,
                "online": [
                    {"name": p.name, "key": p.key, "status": p.status, "pinned": p.pinned, "you": p.you}
                    for p in result.peers
                ],
            }
        )
        return
    via = [f"(relay: {result.relay})"] if result.relay else []
    if not result.peers:
        emit_text("\n".join(["Nobody is online.", *via]))
        return
    width = max(len(p.name) for p in result.peers)
    lines = [
        f"{p.name:<{width}}  {p.status}"
        + ("  (you)" if p.you else "")
        + ("" if p.pinned else "  (unpinned key)")
        for p in result.peers
    ]
    emit_text("\n".join(lines + via))


@click.command(name="status")
@click.argument("status", required=False, type=click.Choice(STATUS_CHOICES))
@json_option
@space_options
def status_cmd(status: str | None, as_json: bool, root: str | None, space: str | None) -> None:
    """Set your status (online, busy, away, focusing), or show it. The watcher announces it to the
    team through the relay; it is never logged."""
    from datacore_msg.app.presence import current_status, set_status
    from datacore_msg.app.space import checked_user, locate

    paths, settings = locate(root, space)
    checked_user(paths, settings)
    value = set_status(paths, status) if status is not None else current_status(paths)
    if as_json:
        emit_json({"status": value})
    else:
        emit_text(f"Status: {value}")


COMMANDS: tuple[click.Command, ...] = (online_cmd, status_cmd)
