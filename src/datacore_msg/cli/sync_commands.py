"""``sync``: exchange events with the team's relay once."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_text, emit_warning


@click.command(name="sync")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the relay (to connect, and for each frame).",
)
@json_option
@space_options
def sync_cmd(timeout: float, as_json: bool, root: str | None, space: str | None) -> None:
    """Exchange events with the relay until both hold the same events, then update the views."""
    from datacore_msg.app.sync import sync_with_relay

    with open_space_from(root, space) as sp:
        result = sync_with_relay(sp, timeout)
    warn_views(result.views)
    for clash in result.clashes:
        emit_warning("clash: " + clash.describe())
    reasons = [f"received: {r}" for r in result.rejected_here] + [f"sent: {r}" for r in result.rejected_there]
    if as_json:
        emit_json({"sent": result.sent, "received": result.received, "rejected": reasons})
        return
    lines = [
        f"Synced with {result.url}: sent {result.sent}, received {result.received}, "
        f"rejected {result.rejected}"
    ]
    lines += [f"  rejected {reason}" for reason in reasons[:20]]
    if len(reasons) > 20:
        lines.append(f"  ... and {len(reasons) - 20} more")
    emit_text("\n".join(lines))


COMMANDS: tuple[click.Command, ...] = (sync_cmd,)
