"""The relay: a WebSocket server (websockets' asyncio API) that drives one protocol endpoint per
connection over the relay's own event log.

Theory of operation
-------------------
Each connection gets a server :class:`~.protocol.Endpoint`, a queue of frames to send and a writer
task, so a peer that does not read only stalls its own writer (and, through the protocol's window,
stops being given batches); every other peer keeps being served. A received batch is ingested in
one transaction (durable before the ack goes out); what it added is then offered to every other
admitted connection (``events_appended``), which is the fan-out. HTTP requests that are not a
WebSocket upgrade on ``/ws`` are answered in ``process_request``: ``GET /status`` with the number of
admitted connections (never a name or key), ``GET /metrics`` in Prometheus text format.

Limits: the frame size (the WebSocket ``max_size``, over it the connection closes with 1009), the
batch size and window (the protocol), connections (:attr:`Limits.max_connections`, refused with
HTTP 503), the time to be admitted (:attr:`Limits.admit_timeout_s`); a wrong secret from an
address waits longer each time (:attr:`Limits.auth_failure_delay_s`, doubled per failure, capped).
WebSocket pings (every 20 s, 20 s to answer) and the protocol's heartbeat (:meth:`Relay.heartbeat`,
every second: ``ping`` after 15 s of silence, ``error timeout`` after 45 s) close dead peers.
Presence is kept per connection (the endpoint's ``peer_status``) and never stored: an announcement
is offered to every other connection, a ``who`` is answered with every connected key's status, and a
key whose last connection closes is announced ``offline``. A key admitted again replaces its older
connection (``error replaced``, then close). SIGTERM and SIGINT stop accepting, close every
connection (1001) and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import attrs
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from datacore_msg.eventlog.store import EventStore
from datacore_msg.transport import frames
from datacore_msg.transport.frames import OFFLINE
from datacore_msg.transport.protocol import (
    Close,
    Endpoint,
    Ingest,
    NonceBook,
    Output,
    PresenceChanged,
    Send,
    State,
    WhoAsked,
)


@attrs.frozen
class Limits:
    max_connections: int = 10_000
    max_frame_bytes: int = frames.MAX_FRAME_BYTES
    admit_timeout_s: float = 10.0
    auth_failure_delay_s: float = 0.25
    auth_failure_delay_max_s: float = 5.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    heartbeat_s: float = 1.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@attrs.define
class Metrics:
    events_in: int = 0
    events_out: int = 0
    rejects: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    auth_failures: int = 0
    protocol_errors: int = 0

    def render(self, connected: int, catchup_lag: int) -> str:
        rows = [
            ("datacore_relay_connections", "gauge", "Admitted connections.", connected),
            ("datacore_relay_events_in_total", "counter", "Events received and stored.", self.events_in),
            ("datacore_relay_events_out_total", "counter", "Events sent to peers.", self.events_out),
            ("datacore_relay_rejects_total", "counter", "Events received and refused.", self.rejects),
            ("datacore_relay_bytes_in_total", "counter", "Frame bytes received.", self.bytes_in),
            ("datacore_relay_bytes_out_total", "counter", "Frame bytes sent.", self.bytes_out),
            ("datacore_relay_auth_failures_total", "counter", "Refused admissions.", self.auth_failures),
            (
                "datacore_relay_protocol_errors_total",
                "counter",
                "Connections closed for a bad frame.",
                self.protocol_errors,
            ),
            (
                "datacore_relay_catchup_batches_in_flight",
                "gauge",
                "Unacknowledged batches, all peers.",
                catchup_lag,
            ),
        ]
        lines: list[str] = []
        for name, kind, help_text, value in rows:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"


class _Connection:
    def __init__(self, ws: ServerConnection, endpoint: Endpoint) -> None:
        self.ws = ws
        self.endpoint = endpoint
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.close_code = 1000
        self.close_reason = ""


class Relay:
    """The relay's state: its store, the secret, the connections, the counters."""

    def __init__(self, store: EventStore, secret: str, limits: Limits | None = None) -> None:
        self.store = store
        self._secret = secret.encode("utf-8")
        self.limits = limits or Limits()
        self.nonces = NonceBook()
        self.connections: set[_Connection] = set()
        self.metrics = Metrics()
        self._failures: dict[str, int] = {}

    def connected(self) -> int:
        return sum(1 for c in self.connections if c.endpoint.admitted)

    # -- HTTP --------------------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/status":
            body = json.dumps({"status": "ok", "connected": self.connected()})
            return _respond(connection, HTTPStatus.OK, body + "\n", "application/json")
        if path == "/metrics":
            lag = sum(c.endpoint.in_flight for c in self.connections)
            text = self.metrics.render(self.connected(), lag)
            return _respond(connection, HTTPStatus.OK, text, "text/plain; version=0.0.4; charset=utf-8")
        if path != "/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found: the sync endpoint is /ws\n")
        if len(self.connections) >= self.limits.max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "the relay is full, try again later\n")
        return None

    # -- WebSocket ---------------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        endpoint = Endpoint.server(self.store, self._secret, secrets.token_hex(32), self.nonces)
        conn = _Connection(ws, endpoint)
        self.connections.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        loop = asyncio.get_running_loop()
        watchdog = loop.call_later(self.limits.admit_timeout_s, self._admission_expired, conn)
        try:
            async for message in ws:
                self.metrics.bytes_in += len(message)
                was_admitted = endpoint.admitted
                await self._carry(conn, endpoint.receive(message))
                if endpoint.admitted:
                    watchdog.cancel()
                    if not was_admitted:
                        await self._replace_older(conn)
                if endpoint.state is State.CLOSED:
                    break
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            self.connections.discard(conn)
            await self._left(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=5)

    async def _replace_older(self, conn: _Connection) -> None:
        """One connection per key: the older ones of the newly admitted key are told and closed."""
        key = conn.endpoint.peer_key
        for other in list(self.connections):
            if other is not conn and other.endpoint.admitted and other.endpoint.peer_key == key:
                await self._carry(other, other.endpoint.replace())

    async def _left(self, conn: _Connection) -> None:
        key = conn.endpoint.peer_key
        if conn.endpoint.peer_status is None or key is None:
            return
        if any(c.endpoint.peer_key == key and c.endpoint.admitted for c in self.connections):
            return  # replaced: the key is still here
        for other in list(self.connections):
            await self._carry(other, other.endpoint.peer_presence(key, OFFLINE))

    def roster(self) -> dict[str, str]:
        """Every connected key that announced a status (for ``who``; never served over HTTP)."""
        return {
            c.endpoint.peer_key: c.endpoint.peer_status
            for c in self.connections
            if c.endpoint.peer_key and c.endpoint.peer_status and c.endpoint.state is not State.CLOSED
        }

    async def heartbeat(self, now_ms: int) -> None:
        """One beat of every connection's heartbeat (pings, and closing peers that went silent)."""
        for conn in list(self.connections):
            await self._carry(conn, conn.endpoint.tick(now_ms))

    def _admission_expired(self, conn: _Connection) -> None:
        if not conn.endpoint.admitted and conn.endpoint.state is not State.CLOSED:
            for out in conn.endpoint.close("not admitted in time"):
                assert isinstance(out, Close)
            conn.close_code, conn.close_reason = 1008, "not admitted in time"
            conn.queue.put_nowait(None)

    async def _writer(self, conn: _Connection) -> None:
        try:
            while True:
                text = await conn.queue.get()
                if text is None:
                    await conn.ws.close(conn.close_code, conn.close_reason)
                    return
                self.metrics.bytes_out += len(text)
                await conn.ws.send(text)
        except ConnectionClosed:
            return

    async def _carry(self, conn: _Connection, outputs: list[Output]) -> None:
        pending = list(outputs)
        if any(isinstance(o, Close) and o.code == "auth_failed" and not o.by_peer for o in pending):
            await self._slow_down(conn)  # before the answer goes out: guessing gets slower
        while pending:
            out = pending.pop(0)
            if isinstance(out, Send):
                if isinstance(out.frame, frames.Events):
                    self.metrics.events_out += len(out.frame.events)
                conn.queue.put_nowait(out.text)
            elif isinstance(out, Ingest):
                report = self.store.ingest(out.items, wall_ms())
                self.metrics.events_in += len(report.accepted)
                self.metrics.rejects += len(report.rejected)
                pending += conn.endpoint.ingested(out.batch, report.accepted, report.rejected)
                if report.accepted:
                    for other in list(self.connections):
                        if other is not conn and other.endpoint.admitted:
                            await self._carry(other, other.endpoint.events_appended(report.accepted))
            elif isinstance(out, PresenceChanged):
                for other in list(self.connections):
                    if other is not conn:
                        await self._carry(other, other.endpoint.peer_presence(out.key, out.status))
            elif isinstance(out, WhoAsked):
                pending += conn.endpoint.roster(self.roster())
            elif isinstance(out, Close):
                if out.code not in ("done", "auth_failed", "replaced", "timeout") and not out.by_peer:
                    self.metrics.protocol_errors += 1
                conn.close_code = 1000 if out.code == "done" or out.by_peer else 1008
                conn.close_reason = out.code
                conn.queue.put_nowait(None)

    async def _slow_down(self, conn: _Connection) -> None:
        self.metrics.auth_failures += 1
        address = str(conn.ws.remote_address[0]) if conn.ws.remote_address else "?"
        failures = self._failures.get(address, 0)
        self._failures[address] = failures + 1
        if len(self._failures) > 10_000:
            self._failures.clear()
        delay = min(self.limits.auth_failure_delay_s * (2**failures), self.limits.auth_failure_delay_max_s)
        await asyncio.sleep(delay)


async def _beat(relay: Relay) -> None:
    while True:
        await asyncio.sleep(relay.limits.heartbeat_s)
        await relay.heartbeat(wall_ms())


def _respond(connection: ServerConnection, status: HTTPStatus, body: str, content_type: str) -> Response:
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def _stopper(stop: asyncio.Future[None]) -> Callable[[], None]:
    def set_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    return set_stop


async def run_relay(
    relay: Relay, host: str, port: int, on_ready: Callable[[list[Any]], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then close every connection and return."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stopper(stop))
    server: Server
    async with serve(
        relay.handler,
        host,
        port,
        process_request=relay.process_request,
        max_size=relay.limits.max_frame_bytes,
        compression=None,
        ping_interval=relay.limits.ping_interval_s,
        ping_timeout=relay.limits.ping_timeout_s,
    ) as server:
        if on_ready is not None:
            on_ready([sock.getsockname() for sock in server.sockets])
        beats = asyncio.create_task(_beat(relay))
        await stop
        beats.cancel()
        server.close(close_connections=True)
        await server.wait_closed()
