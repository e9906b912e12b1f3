"""The peer's side of a relay connection (websockets' asyncio client) driving a client endpoint.

:class:`PeerSession` connects, carries the endpoint's outputs out (frames sent, batches handed to the
``ingest`` callback, which stores them and returns the report) and feeds it what arrives.
:meth:`PeerSession.run` returns once both sides are caught up and nothing is in flight (a one-shot
``sync``); with ``until_settled=False`` it stays connected and keeps receiving until the relay
closes or :meth:`PeerSession.close` is called, and :meth:`PeerSession.push` offers events appended
locally meanwhile (what a watcher or ``send``'s push-on-append use); :meth:`PeerSession.tick`,
:meth:`PeerSession.announce` and :meth:`PeerSession.ask_who` carry the heartbeat and presence.
:func:`push_once` delivers what the relay lacks and closes without waiting for the relay's catch-up;
:func:`who_once` asks who is connected. Failures are typed: the relay
cannot be reached or drops the connection (:class:`~datacore_msg.errors.Unreachable`), refuses the
secret (:class:`~datacore_msg.errors.AuthRefused`), or breaks the protocol
(:class:`~datacore_msg.errors.ProtocolError`); nothing stored before the failure is undone.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from datacore_msg.errors import AuthRefused, IntegrityError, ProtocolError, Unreachable
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import (
    SECRET_HINT,
    WRONG_RELAY_PROOF,
    WRONG_SECRET,
    Close,
    Endpoint,
    EventSource,
    Ingest,
    Output,
    Send,
    Stats,
)

if TYPE_CHECKING:
    from datacore_msg.eventlog.store import IngestReport

#: Close reasons of a relay that ended a connection on purpose (see :meth:`PeerSession._ended_by_relay`).
ENDED_BY_RELAY = ("replaced", "timeout")
#: Stores one received batch (``EventStore.ingest`` and whatever the app does after it).
IngestFn = Callable[[list[tuple[int, Event | IntegrityError]]], "IngestReport"]


class PeerSession:
    def __init__(
        self,
        url: str,
        secret: str,
        key: SigningKey,
        source: EventSource,
        ingest: IngestFn,
        timeout_s: float = 30,
        connect_s: float | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        #: Seconds to connect (TCP, TLS, the WebSocket upgrade); ``timeout_s`` unless given.
        self.connect_s = timeout_s if connect_s is None else connect_s
        self.endpoint = Endpoint.client(source, secret.encode("utf-8"), key, secrets.token_hex(32))
        self._ingest = ingest
        self._ws: ClientConnection | None = None
        # One endpoint call and the sending of its outputs at a time: batches go out in the order
        # the endpoint numbered them, even when push() runs while run() is carrying a frame's outputs.
        self._turn = asyncio.Lock()

    async def open(self) -> None:
        try:
            self._ws = await asyncio.wait_for(
                connect(self.url, max_size=frames.MAX_FRAME_BYTES, compression=None, open_timeout=None),
                self.connect_s,
            )
        except asyncio.TimeoutError:
            raise Unreachable(f"relay {self.url}: no answer within {self.connect_s:g} s") from None
        except InvalidURI:
            raise Unreachable(f"relay {self.url}: not a WebSocket URL") from None
        except InvalidHandshake as exc:
            raise Unreachable(f"relay {self.url}: the WebSocket handshake failed ({exc})") from None
        except (OSError, EOFError) as exc:
            raise Unreachable(f"relay {self.url}: {_connect_failure(self.url, exc)}") from None
        async with self._turn:
            await self._carry(self.endpoint.start())

    async def run(self, until_settled: bool = True, until: Callable[[], bool] | None = None) -> Stats:
        """Exchange frames until settled (``until_settled``), until ``until()`` holds (checked after
        every frame), or until the connection ends."""
        ws = self._require()
        while not (until_settled and self.endpoint.settled) and not (until is not None and until()):
            try:
                raw = await asyncio.wait_for(ws.recv(), self.timeout_s if until_settled else None)
            except asyncio.TimeoutError:
                raise Unreachable(f"relay {self.url}: no frame within {self.timeout_s:g} s") from None
            except ConnectionClosed as exc:
                ended = self._ended_by_relay(exc)
                if ended is not None:
                    raise ended from None
                if not until_settled and self.endpoint.closed_by is None and exc.rcvd is not None:
                    break
                raise Unreachable(f"relay {self.url}: the connection was closed ({exc})") from None
            async with self._turn:
                await self._carry(self.endpoint.receive(raw))
        return self.endpoint.stats()

    async def push(self, events: Iterable[Event]) -> None:
        async with self._turn:
            await self._carry(self.endpoint.events_appended(events))

    async def tick(self, now_ms: int) -> None:
        async with self._turn:
            await self._carry(self.endpoint.tick(now_ms))

    async def announce(self, status: str) -> None:
        async with self._turn:
            await self._carry(self.endpoint.announce(status))

    async def ask_who(self) -> None:
        async with self._turn:
            await self._carry(self.endpoint.ask_who())

    async def close(self) -> None:
        async with self._turn:
            self.endpoint.close()
        if self._ws is not None:
            await self._ws.close()

    def _ended_by_relay(self, exc: ConnectionClosed) -> ProtocolError | None:
        """The relay's close frame names why it ended the connection (its reason is the error code):
        replaced by a newer connection of this key, or timed out by its heartbeat. The error frame
        before it may be left unread when a send of ours failed first."""
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        if reason in ENDED_BY_RELAY:
            return ProtocolError(f"relay {self.url}: the relay ended the connection: {reason}", reason)
        return None

    def _require(self) -> ClientConnection:
        if self._ws is None:
            raise Unreachable(f"relay {self.url}: not connected")
        return self._ws

    async def _carry(self, outputs: Sequence[Output]) -> None:
        ws = self._require()
        pending = list(outputs)
        while pending:
            out = pending.pop(0)
            if isinstance(out, Send):
                try:
                    await ws.send(out.text)
                except ConnectionClosed as exc:
                    raise self._ended_by_relay(exc) or Unreachable(
                        f"relay {self.url}: the connection was closed ({exc})"
                    ) from None
            elif isinstance(out, Ingest):
                report = self._ingest(out.items)
                pending += self.endpoint.ingested(out.batch, report.accepted, report.rejected)
            elif isinstance(out, Close):
                await ws.close()
                if out.code == "done":
                    return
                if out.code == "auth_failed":
                    hint = f": {SECRET_HINT}" if out.reason in (WRONG_SECRET, WRONG_RELAY_PROOF) else ""
                    raise AuthRefused(f"relay {self.url}: {out.reason}{hint}")
                side = "the relay" if out.by_peer else "this side"
                raise ProtocolError(
                    f"relay {self.url}: {side} ended the sync: {out.code}: {out.reason}", out.code
                )


def _connect_failure(url: str, exc: OSError | EOFError) -> str:
    """Why connecting failed, never empty: the description, else the exception's class; a ``wss://``
    URL whose TLS handshake broke off (an SSL error, or a reset or end of stream from a relay that
    speaks plain WebSocket) asks whether the relay is behind TLS at all."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    tls_broke = isinstance(exc, (ssl.SSLError, ConnectionResetError, ConnectionAbortedError, EOFError))
    if url.lower().startswith("wss://") and tls_broke:
        return f"TLS handshake failed ({text}): is the relay behind TLS? (a plain relay takes ws://)"
    return f"cannot connect ({text})"


async def _bounded(work: Awaitable[Stats], session: PeerSession, timeout_s: float) -> Stats:
    try:
        return await asyncio.wait_for(work, timeout_s)
    except asyncio.TimeoutError:
        raise Unreachable(f"relay {session.url}: not done within {timeout_s:g} s") from None


async def _push_once(session: PeerSession) -> Stats:
    await session.open()
    try:
        return await session.run(until_settled=False, until=lambda: session.endpoint.delivered)
    finally:
        await session.close()


def push_once(
    url: str, secret: str, key: SigningKey, source: EventSource, ingest: IngestFn, timeout_s: float
) -> Stats:
    """Connect, send what the relay lacks until it has acknowledged all of it, close; all within
    ``timeout_s`` (batches the relay sent meanwhile are stored through ``ingest``)."""
    session = PeerSession(url, secret, key, source, ingest, timeout_s)
    return asyncio.run(_bounded(_push_once(session), session, timeout_s))


async def _who_once(session: PeerSession) -> Stats:
    await session.open()
    try:
        await session.ask_who()
        return await session.run(until_settled=False, until=lambda: session.endpoint.roster_received)
    finally:
        await session.close()


def who_once(
    url: str,
    secret: str,
    key: SigningKey,
    source: EventSource,
    ingest: IngestFn,
    timeout_s: float,
    connect_s: float | None = None,
) -> tuple[dict[str, str], Stats]:
    """Connect (within ``connect_s``, else ``timeout_s``), ask who is connected, close, all within
    ``timeout_s``: the roster (key → status) and what moved meanwhile."""
    session = PeerSession(url, secret, key, source, ingest, timeout_s, connect_s)
    stats = asyncio.run(_bounded(_who_once(session), session, timeout_s))
    return dict(session.endpoint.presence), stats


async def _sync_once(session: PeerSession) -> Stats:
    await session.open()
    try:
        return await session.run(until_settled=True)
    finally:
        await session.close()


def sync_once(
    url: str,
    secret: str,
    key: SigningKey,
    source: EventSource,
    ingest: IngestFn,
    timeout_s: float = 30,
    connect_s: float | None = None,
    total_s: float | None = None,
) -> Stats:
    """Connect (within ``connect_s``, else ``timeout_s``), exchange until both sides hold the same
    events (waiting at most ``timeout_s`` for each frame), close, all within ``total_s`` when
    given: what moved."""
    session = PeerSession(url, secret, key, source, ingest, timeout_s, connect_s)
    if total_s is None:
        return asyncio.run(_sync_once(session))
    return asyncio.run(_bounded(_sync_once(session), session, total_s))
