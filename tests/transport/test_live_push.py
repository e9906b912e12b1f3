"""Live push over real WebSockets, in one process: an in-process relay and two peer sessions that
stay connected (what ``sync --watch`` and push-on-append build on). An event appended on one peer
and pushed reaches the other without either reconnecting; a second append goes out in order. The
relay's heartbeat (time passed in) pings a silent peer and ends a dead one with ``timeout``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from datacore_msg.errors import ProtocolError
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import EventStore
from datacore_msg.transport import frames
from datacore_msg.transport.peer_client import PeerSession
from datacore_msg.transport.relay_server import Relay
from datacore_msg.transport.relay_store import open_relay_store

SECRET = "live-push-secret-0123456789abcdef"
NOW_MS = 1_767_225_600_000


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def served(relay: Relay) -> AsyncIterator[str]:
    """``relay`` served on a free loopback port; its WebSocket URL."""
    async with serve(
        relay.handler,
        "127.0.0.1",
        0,
        process_request=relay.process_request,
        max_size=frames.MAX_FRAME_BYTES,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


def ids(store: EventStore) -> set[str]:
    return {event.id for event in store.iter_since(0)}


def message(n: int) -> MessageSent:
    return MessageSent(id=f"msg-20260101-000000-{n:08x}", sender="tex", to="gregor", text=f"live {n}")


def test_a_pushed_event_reaches_a_connected_peer_without_a_reconnect(tmp_path: Path) -> None:
    relay_store = open_relay_store(tmp_path / "relay")
    store_a, store_b = open_relay_store(tmp_path / "a"), open_relay_store(tmp_path / "b")
    key_a, key_b = SigningKey.generate(), SigningKey.generate()

    async def scenario() -> None:
        relay = Relay(relay_store, SECRET)
        async with served(relay) as url:
            a = PeerSession(url, SECRET, key_a, store_a, lambda items: store_a.ingest(items, NOW_MS))
            b = PeerSession(url, SECRET, key_b, store_b, lambda items: store_b.ingest(items, NOW_MS))
            await a.open()
            await b.open()
            runs = [asyncio.create_task(s.run(until_settled=False)) for s in (a, b)]
            await until(lambda: a.endpoint.settled and b.endpoint.settled)
            assert relay.connected() == 2
            first = store_b.append(key_b, "tex", message(1), NOW_MS)
            await b.push([first])
            await until(lambda: first.id in ids(store_a))
            more = store_b.append_all(key_b, [("tex", message(n)) for n in range(2, 1200)], NOW_MS)
            await b.push(more)  # several batches under the window, in order
            await until(lambda: len(ids(store_a)) == 1199)
            assert ids(store_a) == ids(store_b) == ids(relay_store)
            assert not a.endpoint.rejected_here and not b.endpoint.rejected_there
            for session in (a, b):
                await session.close()
            for run in runs:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(run, 10)

    try:
        asyncio.run(scenario())
    finally:
        for store in (relay_store, store_a, store_b):
            store.close()


def test_the_relays_heartbeat_pings_a_silent_peer_and_closes_a_dead_one(tmp_path: Path) -> None:
    relay_store = open_relay_store(tmp_path / "relay")
    store_a = open_relay_store(tmp_path / "a")
    key_a = SigningKey.generate()

    async def scenario() -> None:
        relay = Relay(relay_store, SECRET)
        async with served(relay) as url:
            a = PeerSession(
                url,
                SECRET,
                key_a,
                store_a,
                lambda items: store_a.ingest(items, NOW_MS),
            )
            await a.open()
            run = asyncio.create_task(a.run(until_settled=False))
            await until(lambda: a.endpoint.settled and relay.connected() == 1)
            (conn,) = relay.connections
            # time is passed in: the relay's clock jumps; the peer answers the ping and stays
            await relay.heartbeat(NOW_MS)
            await relay.heartbeat(NOW_MS + 16_000)
            await until(lambda: conn.endpoint._last_ping_ms == NOW_MS + 16_000)
            await asyncio.sleep(0.2)  # the pong comes back
            await relay.heartbeat(NOW_MS + 17_000)
            await relay.heartbeat(NOW_MS + 60_000)  # heard at 17 s: 43 s of silence, still alive
            assert conn.endpoint.state.value == "live"
            await relay.heartbeat(NOW_MS + 62_000)  # 45 s without a frame: dead
            with pytest.raises(ProtocolError) as ended:
                await asyncio.wait_for(run, 10)
            assert ended.value.reason == "timeout"
            await until(lambda: relay.connected() == 0)

    try:
        asyncio.run(scenario())
    finally:
        relay_store.close()
        store_a.close()
