"""``relay serve``: run the team's relay (the secret from ``RELAY_SECRET``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from datacore_msg.cli.output import emit_note
from datacore_msg.errors import ConfigError
from datacore_msg.transport.protocol_limits import MAX_ORIGINS

SECRET_HOW = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MIN_SECRET_CHARS = 16


@click.group(name="relay")
def relay() -> None:
    """The team's relay: it stores every event and passes it on to every peer."""


@relay.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on."
)
@click.option(
    "--data",
    "data_dir",
    default="relay-data",
    show_default=True,
    help="Folder of the relay's event log (created if missing).",
)
@click.option(
    "--max-origins",
    type=click.IntRange(min=1),
    default=MAX_ORIGINS,
    show_default=True,
    help="Installations whose events the relay keeps, at most; events of a new one beyond are refused.",
)
def serve_cmd(host: str, port: int, data_dir: str, max_origins: int) -> None:
    """Serve the sync endpoint ws://HOST:PORT/ws, GET /status and GET /metrics until SIGTERM."""
    import asyncio

    from datacore_msg.transport.relay_server import Limits, Relay, run_relay
    from datacore_msg.transport.relay_store import open_relay_store

    secret = os.environ.get("RELAY_SECRET", "")
    if not secret.strip():
        raise ConfigError(
            f"RELAY_SECRET is not set: the relay refuses to start without one; make one with {SECRET_HOW}"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"RELAY_SECRET is shorter than {MIN_SECRET_CHARS} characters; make a strong one with {SECRET_HOW}"
        )
    store = open_relay_store(Path(data_dir))

    def ready(addresses: list[object]) -> None:
        shown = ", ".join(f"ws://{a[0]}:{a[1]}/ws" for a in addresses if isinstance(a, tuple))
        emit_note(f"relay listening on {shown} ({store.count()} events in {store.path})")

    server = Relay(store, secret, Limits(max_origins=max_origins))
    try:
        asyncio.run(run_relay(server, host, port, ready))
    except OSError as exc:
        raise ConfigError(f"relay cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        server.close()
        store.close()
    emit_note("relay stopped")


COMMANDS: tuple[click.Command, ...] = (relay,)
