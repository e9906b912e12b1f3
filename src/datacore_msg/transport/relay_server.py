"""The relay: a WebSocket server (websockets' asyncio API) that drives one protocol endpoint per
connection over the relay's own event log.

Theory of operation
-------------------
Each connection gets a server :class:`~.protocol.Endpoint`, a bounded queue of frames to send and a
writer task. Its handler reads one frame at a time and carries the endpoint's outputs out; a batch
to ingest is handed to the relay's one store thread (:class:`~.relay_store.StoreWorker`) and
awaited, so the event loop keeps serving every other connection while signatures are checked and
the transaction is made durable; the ack goes out after the commit. The store is a
:class:`~.relay_store.RelayStore`: the relay's SQLite log by default, or NATS JetStream
(:mod:`~.relay_jetstream`), whose events stored by another relay instance arrive through
:meth:`Relay.remote_stored` and are fanned out like a local batch. A store that cannot take a batch
(JetStream unreachable) makes the relay answer ``error store_unavailable`` and close: nothing of
the batch is acknowledged, the peer keeps it and sends it again when it reconnects. Before a
connection's ``auth`` is answered (with the relay's heads) the relay awaits the store's ``settle``:
its heads then hold every event the store had acknowledged, whichever instance stored it; a store
that cannot say so in time, or a catch-up read the store cannot answer in full, gets the same
``error store_unavailable``, so a one-shot ``sync`` fails and is tried again rather than end OK
short of what was acknowledged before it began. What a batch
added is told to the :class:`~.relay_source.RelaySource` (heads and recent events in memory) and
then offered to every other admitted connection (``events_appended``): that is the fan-out, served
from memory and serialised once per batch (:func:`~.relay_source.encode_frame`), not read from the log per
connection. A peer further behind is served from the log through the loop's read connection.

A slow peer: the protocol's window (4 unacknowledged batches) stops it being given batches, so it
falls behind and is later served from the log like any catch-up. A frame with nothing waiting
before it is written to the socket at once (no task switch: what makes a fan-out to thousands of
peers cheap); what waits for one peer, its socket's buffer and its queue together, is bounded
(:attr:`Limits.queue_bytes`, :attr:`Limits.queue_frames`; raised when the relay's whole version
vector, every ``heads`` page of which goes out at admission, needs more:
:meth:`Limits.waiting_bytes_allowed`). A peer that lets that overflow anyway (it
sends pings or batches but never reads the answers) is cut off: ``error limit`` and close, and its
socket is aborted if it does not take the close within :attr:`Limits.cut_off_grace_s`. A
peer that never reads also stops answering WebSocket pings and is closed by the heartbeat.

Limits: the frame size (the WebSocket ``max_size``, over it the connection closes with 1009), the
batch size and window (the protocol), events per second per connection (a token bucket,
:class:`~.protocol_limits.TokenBucket`: over it, the relay stops reading that connection until the
tokens are there), connections (:attr:`Limits.max_connections`, refused with HTTP 503), the time to
be admitted (:attr:`Limits.admit_timeout_s`). A wrong secret or a replayed hello from an address
waits longer each time before its answer, and new connections from the address are refused with
HTTP 429 for as long (:class:`~.protocol_limits.AuthPenalty`). HTTP requests that are not a
WebSocket upgrade on ``/ws`` are answered in ``process_request``: ``GET /status`` with the number of
admitted connections (never a name or key), HTTP 200 while the store can take events and 503
(``"status": "degraded"``) while it cannot, so a health check takes a relay that cannot store out of
rotation; ``GET /metrics`` in Prometheus text format. A store failure is told to the peer in generic
words (:data:`STORE_WRITE_FAILED`, :data:`STORE_READ_FAILED`); the store's own error, which may name
the NATS servers, goes only to the relay's log (:attr:`Relay.note`). WebSocket
pings (every 20 s, 20 s to answer) and the protocol's heartbeat (:meth:`Relay.heartbeat`, every
second: ``ping`` after 15 s of silence, ``error timeout`` after 45 s) close dead peers. Presence is
kept per connection (the endpoint's ``peer_status``) and never stored: an announcement is offered to
every other connection, a ``who`` is answered with every connected key's status, and a key whose
last connection closes is announced ``offline``. A key admitted again replaces its older connection
(``error replaced``, then close.) SIGTERM and SIGINT stop accepting, close every
connection (1001) and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import attrs
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState

from datacore_msg.errors import DatacoreError, IntegrityError, StorageError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import EventStore, IngestReport
from datacore_msg.transport import frames
from datacore_msg.transport.frames import OFFLINE
from datacore_msg.transport.protocol import (
    BATCH_BYTES,
    WINDOW,
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
from datacore_msg.transport.protocol_limits import MAX_ORIGINS, AuthPenalty, TokenBucket
from datacore_msg.transport.relay_source import RelaySource, encode_frame
from datacore_msg.transport.relay_store import RelayStore, SqliteRelayStore, StoreHealth


@attrs.frozen
class Limits:
    max_connections: int = 10_000
    max_frame_bytes: int = frames.MAX_FRAME_BYTES
    admit_timeout_s: float = 10.0
    auth_failure_delay_s: float = 0.25
    auth_failure_delay_max_s: float = 5.0
    #: How long an address's failures are remembered after its last one.
    auth_failure_memory_s: float = 600.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    heartbeat_s: float = 1.0
    #: Events a connection may send per second, sustained, and at once (the token bucket).
    events_per_s: float = 10_000.0
    events_burst: int = 50_000
    #: Frames queued for one peer, and bytes waiting for it (queued or in its socket's buffer);
    #: over either, the peer is cut off. The window's 4 batches are at most 2 MiB.
    queue_frames: int = 64
    queue_bytes: int = 4 * 1024 * 1024
    #: Seconds a cut-off peer has to take the close before its socket is aborted.
    cut_off_grace_s: float = 5.0
    #: Origins (installation keys) the relay holds events of, at most: an event from a new origin
    #: beyond it is rejected with a reason (the others of its batch are stored), so throwaway keys
    #: cannot grow the relay's memory and every peer's catch-up without bound.
    max_origins: int = MAX_ORIGINS

    def waiting_bytes_allowed(self) -> int:
        """What may wait for one peer before it is cut off: :attr:`queue_bytes`, or more if the
        relay's whole version vector (its ``heads`` pages, all sent at admission) and a full window
        of batches need more: a long vector must never cut every peer off."""
        needed = frames.max_heads_bytes(self.max_origins) + WINDOW * BATCH_BYTES + 64 * 1024
        return max(self.queue_bytes, needed)

    def waiting_frames_allowed(self) -> int:
        """What may wait for one peer in frames: :attr:`queue_frames`, or more for a long vector."""
        pages = -(-self.max_origins // frames.MAX_VECTOR_ORIGINS)
        return max(self.queue_frames, pages + 2 * WINDOW + 8)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _size(message: str | bytes) -> int:
    if isinstance(message, bytes):
        return len(message)
    return len(message) if message.isascii() else len(message.encode("utf-8", "surrogatepass"))


@attrs.define
class Metrics:
    events_in: int = 0
    events_out: int = 0
    rejects: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    auth_failures: int = 0
    protocol_errors: int = 0
    refused_full: int = 0
    refused_penalty: int = 0
    cut_off: int = 0
    throttled: int = 0

    def render(
        self,
        sockets: int,
        connected: int,
        in_flight: int,
        lacking: int,
        store_reads: int,
        health: StoreHealth | None = None,
    ) -> str:
        health = health or StoreHealth(reachable=True)
        rows = [
            ("datacore_relay_store_up", "gauge", "1 when the store takes events now.", int(health.reachable)),
            (
                "datacore_relay_store_lag_events",
                "gauge",
                "Events in the store this relay instance has not seen yet (JetStream).",
                health.lag,
            ),
            ("datacore_relay_connections", "gauge", "Admitted connections.", connected),
            ("datacore_relay_sockets", "gauge", "Open WebSocket connections, admitted or not.", sockets),
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
                "datacore_relay_refused_full_total",
                "counter",
                "Connections refused: the relay was full (503).",
                self.refused_full,
            ),
            (
                "datacore_relay_refused_penalty_total",
                "counter",
                "Connections refused: their address failed admission just before (429).",
                self.refused_penalty,
            ),
            (
                "datacore_relay_cut_off_total",
                "counter",
                "Peers cut off: their queue of frames to send overflowed.",
                self.cut_off,
            ),
            (
                "datacore_relay_throttled_batches_total",
                "counter",
                "Batches held back by the events-per-second limit.",
                self.throttled,
            ),
            (
                "datacore_relay_store_reads_total",
                "counter",
                "Batches read from the log (catch-up), not from memory.",
                store_reads,
            ),
            (
                "datacore_relay_catchup_batches_in_flight",
                "gauge",
                "Unacknowledged batches, all peers.",
                in_flight,
            ),
            (
                "datacore_relay_catchup_lag_events",
                "gauge",
                "Events the relay holds that its admitted peers are not known to hold, summed.",
                lacking,
            ),
        ]
        lines: list[str] = []
        for name, kind, help_text, value in rows:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"


def _address(ws: ServerConnection) -> str:
    remote = ws.remote_address
    return str(remote[0]) if remote else "?"


class _Connection:
    def __init__(self, ws: ServerConnection, endpoint: Endpoint, bucket: TokenBucket) -> None:
        self.ws = ws
        self.endpoint = endpoint
        self.bucket = bucket
        self.address = _address(ws)
        self.queue: deque[bytes | None] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.closing = False
        self.sending = False
        self.close_code = 1000
        self.close_reason = ""


#: What a peer is told when the store fails it (the store's own error stays in the relay's log).
STORE_WRITE_FAILED = "the relay cannot store events now; nothing of this batch was acknowledged; try again"
STORE_READ_FAILED = "the relay cannot read its store now; try again"
#: The same store failure is logged again after this long at most once.
STORE_NOTE_EVERY_S = 60.0


class Relay:
    """The relay's state: its store (a :class:`~.relay_store.RelayStore`; an
    :class:`~datacore_msg.eventlog.store.EventStore` is served as a
    :class:`~.relay_store.SqliteRelayStore`: read on the event loop's thread, written by a store
    thread on the same file), the secret, the connections, the counters. :meth:`close` stops the
    store's thread."""

    def __init__(
        self,
        store: EventStore | RelayStore,
        secret: str,
        limits: Limits | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.store: RelayStore = SqliteRelayStore(store) if isinstance(store, EventStore) else store
        #: Where the relay's own log lines go (``relay serve``: standard error); never to a peer.
        self.note: Callable[[str], None] = note or (lambda _text: None)
        self._last_note = ("", -math.inf)
        self._secret = secret.encode("utf-8")
        self.limits = limits or Limits()
        self._waiting_allowed = self.limits.waiting_bytes_allowed()
        self._frames_allowed = self.limits.waiting_frames_allowed()
        self.nonces = NonceBook()
        self.connections: set[_Connection] = set()
        self.metrics = Metrics()
        self.source = RelaySource(self.store)
        self.penalty = AuthPenalty(
            self.limits.auth_failure_delay_s,
            self.limits.auth_failure_delay_max_s,
            self.limits.auth_failure_memory_s,
        )

    def close(self) -> None:
        self.store.close()

    def connected(self) -> int:
        return sum(1 for c in self.connections if c.endpoint.admitted)

    def metrics_text(self) -> str:
        admitted = [c for c in self.connections if c.endpoint.admitted]
        return self.metrics.render(
            len(self.connections),
            len(admitted),
            sum(c.endpoint.in_flight for c in admitted),
            sum(c.endpoint.lacking for c in admitted),
            self.source.reads,
            self.store.health(),
        )

    # -- HTTP --------------------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/status":
            health = self.store.health()
            body = json.dumps(
                {
                    "status": "ok" if health.reachable else "degraded",
                    "connected": self.connected(),
                    "store": {"reachable": health.reachable, "lag": health.lag},
                }
            )
            code = HTTPStatus.OK if health.reachable else HTTPStatus.SERVICE_UNAVAILABLE
            return _respond(connection, code, body + "\n", "application/json")
        if path == "/metrics":
            return _respond(
                connection, HTTPStatus.OK, self.metrics_text(), "text/plain; version=0.0.4; charset=utf-8"
            )
        if path != "/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found: the sync endpoint is /ws\n")
        if len(self.connections) >= self.limits.max_connections:
            self.metrics.refused_full += 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "the relay is full, try again later\n")
        wait = self.penalty.blocked_for(_address(connection), time.monotonic())
        if wait > 0:
            self.metrics.refused_penalty += 1
            response = connection.respond(
                HTTPStatus.TOO_MANY_REQUESTS, "admission failed from this address just before; wait\n"
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        return None

    # -- WebSocket ---------------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        endpoint = Endpoint.server(self.source, self._secret, secrets.token_hex(32), self.nonces)
        conn = _Connection(ws, endpoint, TokenBucket(self.limits.events_per_s, self.limits.events_burst))
        self.connections.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        loop = asyncio.get_running_loop()
        watchdog = loop.call_later(self.limits.admit_timeout_s, self._admission_expired, conn)
        try:
            async for message in ws:
                self.metrics.bytes_in += _size(message)
                was_admitted = endpoint.admitted
                try:
                    if endpoint.state is State.AWAIT_AUTH:
                        await self.store.settle()  # the heads sent on admission hold all acknowledged
                    await self._carry(conn, endpoint.receive(message))
                except StorageError as exc:
                    detail = f"the relay cannot read its store now ({exc})"
                    self._store_failed(conn, STORE_READ_FAILED, detail)
                    break
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
            self._finish(conn, conn.close_code, conn.close_reason)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=self.limits.cut_off_grace_s)
            if not writer.done():
                writer.cancel()
                ws.transport.abort()

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
            conn.endpoint.close("not admitted in time")
            self._finish(conn, 1008, "not admitted in time")

    def _finish(self, conn: _Connection, code: int, reason: str) -> None:
        """Queue the WebSocket close after what is queued (once)."""
        if conn.closing:
            return
        conn.closing = True
        conn.close_code, conn.close_reason = code, reason
        conn.queue.append(None)
        conn.ready.set()

    def _enqueue(self, conn: _Connection, data: bytes) -> None:
        """Send ``data`` to the peer: at once when nothing waits before it, else after what waits.
        What waits for one peer (its socket's buffer and its queue) is bounded: over
        :attr:`Limits.queue_bytes` or :attr:`Limits.queue_frames`, the peer is cut off."""
        if conn.closing:
            return
        ws = conn.ws
        waiting = conn.queued_bytes + ws.transport.get_write_buffer_size()
        if waiting + len(data) > self._waiting_allowed or len(conn.queue) >= self._frames_allowed:
            self._cut_off(conn)
            return
        if not conn.queue and not conn.sending and ws.protocol.state is WsState.OPEN:
            # written to the socket now, without a task switch: what makes a fan-out to thousands
            # of peers cheap
            try:
                broadcast([ws], data, raise_exceptions=True, text=True)
            except Exception:  # an ExceptionGroup (Python 3.11+) naming the failed write
                self._finish(conn, 1011, "write failed")
                return
            self.metrics.bytes_out += len(data)
            return
        conn.queue.append(data)
        conn.queued_bytes += len(data)
        conn.ready.set()

    def _cut_off(self, conn: _Connection) -> None:
        """The peer does not read what it is sent: drop its queue, tell it why, close; abort the
        socket if it does not take the close in time."""
        self.metrics.cut_off += 1
        conn.endpoint.close("cut off")
        conn.queue.clear()
        conn.queued_bytes = 0
        reason = (
            f"over {self._waiting_allowed // 1024} KiB or {self._frames_allowed} frames wait to be "
            "sent: this peer does not read"
        )
        conn.queue.append(frames.encode(frames.Error("limit", reason)).encode("utf-8"))
        self._finish(conn, 1008, "limit")
        asyncio.get_running_loop().call_later(self.limits.cut_off_grace_s, _abort, conn)

    async def _writer(self, conn: _Connection) -> None:
        try:
            while True:
                while not conn.queue:
                    conn.ready.clear()
                    await conn.ready.wait()
                data = conn.queue.popleft()
                if data is None:
                    await conn.ws.close(conn.close_code, conn.close_reason)
                    return
                conn.queued_bytes -= len(data)
                self.metrics.bytes_out += len(data)
                conn.sending = True
                await conn.ws.send(data, text=True)
                conn.sending = False
        except ConnectionClosed:
            return

    def _send(self, conn: _Connection, out: Send) -> None:
        if isinstance(out.frame, frames.Events):
            self.metrics.events_out += len(out.frame.events)
        self._enqueue(conn, encode_frame(out.frame, self.source.recent))

    def _within_origin_limit(
        self, items: list[tuple[int, Event | IntegrityError]]
    ) -> list[tuple[int, Event | IntegrityError]]:
        """``items`` with every event from an origin the relay does not hold yet, beyond
        :attr:`Limits.max_origins`, replaced by the error that rejects it."""
        limit = self.limits.max_origins
        held = self.source.origin_count()
        new: set[str] = set()
        kept: list[tuple[int, Event | IntegrityError]] = []
        for index, item in items:
            if isinstance(item, Event) and item.origin not in new and self.source.head(item.origin) == 0:
                if held + len(new) >= limit:
                    reason = (
                        f"the relay holds events of its limit of {limit} origins; events of a new "
                        "origin are refused (its operator can raise relay serve --max-origins)"
                    )
                    kept.append((index, IntegrityError(reason)))
                    continue
                new.add(item.origin)
            kept.append((index, item))
        return kept

    async def _carry(self, conn: _Connection, outputs: list[Output]) -> None:
        pending = list(outputs)
        if any(
            isinstance(o, Close) and o.code in ("auth_failed", "nonce_reused") and not o.by_peer
            for o in pending
        ):
            await self._slow_down(conn)  # before the answer goes out: guessing gets slower
        while pending:
            out = pending.pop(0)
            if isinstance(out, Send):
                self._send(conn, out)
            elif isinstance(out, Ingest):
                await self._throttle(conn, len(out.items))
                try:
                    report = await self.store.ingest(self._within_origin_limit(out.items), wall_ms())
                except DatacoreError as exc:
                    self._store_failed(conn, STORE_WRITE_FAILED, f"the relay cannot store events now ({exc})")
                    return
                self.metrics.events_in += len(report.accepted)
                self.metrics.rejects += len(report.rejected)
                self.source.stored(report.accepted)
                pending += conn.endpoint.ingested(out.batch, report.accepted, report.rejected)
                if report.accepted:
                    self._fan_out(conn, report)
            elif isinstance(out, PresenceChanged):
                for other in list(self.connections):
                    if other is not conn:
                        await self._carry(other, other.endpoint.peer_presence(out.key, out.status))
            elif isinstance(out, WhoAsked):
                pending += conn.endpoint.roster(self.roster())
            elif isinstance(out, Close):
                if (
                    out.code not in ("done", "auth_failed", "nonce_reused", "replaced", "timeout")
                    and not out.by_peer
                ):
                    self.metrics.protocol_errors += 1
                self._finish(conn, 1000 if out.code == "done" or out.by_peer else 1008, out.code)

    def remote_stored(self, events: list[Event]) -> None:
        """Events another relay instance stored (the store's consumer): those this instance has not
        seen go to the source and out to every admitted connection."""
        fresh = [event for event in events if event.seq > self.source.head(event.origin)]
        if not fresh:
            return
        self.source.stored(fresh)
        self._fan_out(None, IngestReport(accepted=fresh, duplicates=0, rejected=[]))

    def _store_failed(self, conn: _Connection, reason: str, detail: str) -> None:
        """The store failed this connection (JetStream unreachable, or a read answered short): the
        peer is told ``store_unavailable`` with the generic ``reason`` and the connection closes, so
        a ``sync`` fails (and is tried again) rather than end believing it has everything. The
        ``detail`` (the store's own error: it may name the NATS servers) goes to the relay's log
        only, once per change or minute, not once per failed connection."""
        now = time.monotonic()
        if detail != self._last_note[0] or now - self._last_note[1] >= STORE_NOTE_EVERY_S:
            self._last_note = (detail, now)
            self.note(detail)
        conn.endpoint.close("store failed")
        error = frames.Error("store_unavailable", reason)
        self._enqueue(conn, frames.encode(error).encode("utf-8"))
        self._finish(conn, 1011, "store failed")

    def _fan_out(self, origin: _Connection | None, report: IngestReport) -> None:
        for other in list(self.connections):
            if other is origin or other.closing or not other.endpoint.admitted:
                continue
            try:
                outputs = other.endpoint.events_appended(report.accepted)
            except StorageError as exc:
                self._store_failed(other, STORE_READ_FAILED, f"the relay cannot read its store now ({exc})")
                continue
            for out in outputs:
                if isinstance(out, Send):
                    self._send(other, out)

    async def _throttle(self, conn: _Connection, count: int) -> None:
        wait = conn.bucket.wait(count, time.monotonic())
        if wait > 0:
            self.metrics.throttled += 1
            await asyncio.sleep(wait)
        conn.bucket.take(count, time.monotonic())

    async def _slow_down(self, conn: _Connection) -> None:
        self.metrics.auth_failures += 1
        await asyncio.sleep(self.penalty.failed(conn.address, time.monotonic()))


def _abort(conn: _Connection) -> None:
    if conn.ws.state is not WsState.CLOSED:
        conn.ws.transport.abort()


async def _beat(relay: Relay) -> None:
    while True:
        await asyncio.sleep(relay.limits.heartbeat_s)
        await relay.heartbeat(wall_ms())


def _respond(connection: ServerConnection, status: HTTPStatus, body: str, content_type: str) -> Response:
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (one per connection), as far as the
    hard limit allows; the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _stopper(stop: asyncio.Future[None]) -> Callable[[], None]:
    def set_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    return set_stop


async def run_relay(
    relay: Relay, host: str, port: int, on_ready: Callable[[list[Any]], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then close every connection and return."""
    raise_fd_limit(relay.limits.max_connections + 64)
    loop = asyncio.get_running_loop()
    relay.store.listen(relay.remote_stored)
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
