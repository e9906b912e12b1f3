"""``relay serve``: run the team's relay (the secret from ``RELAY_SECRET``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from datacore_msg.cli.output import emit_note
from datacore_msg.errors import ConfigError, StorageError
from datacore_msg.transport.protocol_limits import MAX_ORIGINS

SECRET_HOW = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MIN_SECRET_CHARS = 16


def _nats_login() -> tuple[str, str] | None:
    """``NATS_USER`` and ``NATS_PASSWORD`` from the environment: both or neither."""
    user, password = os.environ.get("NATS_USER", ""), os.environ.get("NATS_PASSWORD", "")
    if bool(user) != bool(password):
        raise ConfigError("set both NATS_USER and NATS_PASSWORD (the relay's NATS login), or neither")
    return (user, password) if user else None


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
    "--store",
    "store_spec",
    default=None,
    metavar="sqlite:PATH|nats://HOST:PORT[,HOST:PORT...]",
    help="Where the relay keeps events: its SQLite log in the folder PATH (default: --data's) or a NATS "
    "JetStream stream on these servers.",
)
@click.option(
    "--stream",
    default="DATACORE",
    show_default=True,
    help="The JetStream stream (with --store nats://...; created with file storage if missing).",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="Replicas of a JetStream stream the relay creates (3 in production: see docs/relay.md).",
)
@click.option(
    "--max-origins",
    type=click.IntRange(min=1),
    default=MAX_ORIGINS,
    show_default=True,
    help="Installations whose events the relay keeps, at most; events of a new one beyond are refused.",
)
def serve_cmd(
    host: str, port: int, data_dir: str, store_spec: str | None, stream: str, replicas: int, max_origins: int
) -> None:
    """Serve the sync endpoint ws://HOST:PORT/ws, GET /status and GET /metrics until SIGTERM."""
    import asyncio

    from datacore_msg.transport.relay_server import Limits, Relay, run_relay
    from datacore_msg.transport.relay_store import RelayStore, SqliteRelayStore, open_relay_store

    secret = os.environ.get("RELAY_SECRET", "")
    if not secret.strip():
        raise ConfigError(
            f"RELAY_SECRET is not set: the relay refuses to start without one; make one with {SECRET_HOW}"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"RELAY_SECRET is shorter than {MIN_SECRET_CHARS} characters; make a strong one with {SECRET_HOW}"
        )
    log = None
    store: RelayStore
    if store_spec is not None and store_spec.startswith("nats://"):
        from datacore_msg.transport.relay_jetstream import JetStreamStore, check_stream_name, parse_servers

        try:  # a wrong option is the settings' fault (exit 7); a JetStream that fails, the store's
            servers = parse_servers(store_spec)
            check_stream_name(stream)
        except StorageError as exc:
            raise ConfigError(str(exc)) from None
        store = JetStreamStore(servers, stream, replicas, login=_nats_login())
        for note in store.notes:
            emit_note(note)
    elif store_spec == "sqlite:":
        raise ConfigError("--store 'sqlite:': give the folder of the relay's log (sqlite:PATH)")
    elif store_spec is None or store_spec.startswith("sqlite:"):
        folder = Path(store_spec.removeprefix("sqlite:")) if store_spec else Path(data_dir)
        log = open_relay_store(folder)
        store = SqliteRelayStore(log)
    else:
        raise ConfigError(f"--store {store_spec!r}: give sqlite:PATH or nats://HOST:PORT[,HOST:PORT...]")

    def ready(addresses: list[object]) -> None:
        shown = ", ".join(f"ws://{a[0]}:{a[1]}/ws" for a in addresses if isinstance(a, tuple))
        emit_note(f"relay listening on {shown} ({store.describe()})")

    server = Relay(store, secret, Limits(max_origins=max_origins), note=emit_note)
    try:
        asyncio.run(run_relay(server, host, port, ready))
    except OSError as exc:
        raise ConfigError(f"relay cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        server.close()
        if log is not None:
            log.close()
    emit_note("relay stopped")


COMMANDS: tuple[click.Command, ...] = (relay,)
