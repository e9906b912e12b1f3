"""Helper processes of figure 10 (``python -m bench.relay_helpers MODE ...``).

* ``echo PORT`` — a raw ``websockets`` server that sends every message back (the throughput and
  latency baseline);
* ``broadcast PORT`` — a raw ``websockets`` server that sends every message it receives to every
  other connection (``websockets.broadcast``; the fan-out baseline);
* ``peers URL COUNT [SECRET]`` — COUNT idle WebSocket clients. With SECRET each is admitted by the
  relay (a real client endpoint, with a key of its own and an empty in-memory log) and acknowledges
  what it is sent; without, they only connect. Prints ``ready`` once all are connected (admitted),
  then, for every round ``n`` (the ``n`` of the event received), one JSON line
  ``{"round": n, "times": [...]}`` once every connection got it: ``time.monotonic()`` at arrival
  (system-wide on Linux, so comparable with the parent's).
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import time
from collections import defaultdict

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport.protocol import Endpoint, Ingest, Send


class EmptyLog:
    """An event source that holds nothing (the idle peers store nothing)."""

    def heads(self) -> dict[str, int]:
        return {}

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]:
        return []


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _echo(port: int) -> None:
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


async def _broadcast(port: int) -> None:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            async for message in ws:
                broadcast([c for c in clients if c is not ws], message)
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


class _Rounds:
    def __init__(self, count: int) -> None:
        self.count = count
        self.times: dict[int, list[float]] = defaultdict(list)

    def arrived(self, n: int, at: float) -> None:
        times = self.times[n]
        times.append(at)
        if len(times) == self.count:
            print(json.dumps({"round": n, "times": times}), flush=True)
            del self.times[n]


async def _admit(ws: ClientConnection, secret: bytes) -> Endpoint:
    endpoint = Endpoint.client(EmptyLog(), secret, SigningKey.generate(), secrets.token_hex(32))
    pending = endpoint.start()
    while True:
        for out in pending:
            if isinstance(out, Send):
                await ws.send(out.text)
        if endpoint.admitted and endpoint.state.value in ("syncing", "live"):
            return endpoint
        pending = endpoint.receive(await ws.recv())


async def _peer(
    url: str, secret: bytes | None, rounds: _Rounds, ready: asyncio.Queue[None], gate: asyncio.Semaphore
) -> None:
    async with gate:
        ws = await connect(url, max_size=None, compression=None, open_timeout=120, ping_interval=None)
        endpoint = await _admit(ws, secret) if secret is not None else None
    ready.put_nowait(None)
    async for raw in ws:
        at = time.monotonic()
        # let every other peer woken by the same read note its time before this one does any work,
        # so a peer's time is when its frame was read, not when the peers before it were done
        await asyncio.sleep(0)
        if endpoint is None:
            rounds.arrived(int(json.loads(raw)["events"][0]["data"]["n"]), at)
            continue
        for out in endpoint.receive(raw):
            if isinstance(out, Send):
                await ws.send(out.text)
            elif isinstance(out, Ingest):
                events = [item for _, item in out.items if isinstance(item, Event)]
                for event in events:
                    rounds.arrived(int(event.data["n"]), at)
                for ack in endpoint.ingested(out.batch, events, []):
                    if isinstance(ack, Send):
                        await ws.send(ack.text)


async def _peers(url: str, count: int, secret: bytes | None) -> None:
    rounds = _Rounds(count)
    ready: asyncio.Queue[None] = asyncio.Queue()
    gate = asyncio.Semaphore(32)
    tasks = [asyncio.create_task(_peer(url, secret, rounds, ready, gate)) for _ in range(count)]
    for _ in range(count):
        getter = asyncio.ensure_future(ready.get())
        done, _ = await asyncio.wait(
            [getter, *[t for t in tasks if t.done()]], return_when=asyncio.FIRST_COMPLETED
        )
        if getter not in done:
            getter.cancel()
            for task in done:
                task.result()  # a peer failed: say why
    print("ready", flush=True)
    await asyncio.gather(*tasks)


def main(argv: list[str]) -> int:
    raise_fd_limit()
    mode = argv[0]
    if mode == "echo":
        asyncio.run(_echo(int(argv[1])))
    elif mode == "broadcast":
        asyncio.run(_broadcast(int(argv[1])))
    elif mode == "peers":
        asyncio.run(_peers(argv[1], int(argv[2]), argv[3].encode() if len(argv) > 3 else None))
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
