"""Raw WebSocket clients of a real relay process, for the attack and robustness tests.

``admitted`` drives the admission with a real client endpoint and hands back the socket;
``Tally`` wraps a socket and counts the bytes each way (to check ``/metrics``); ``chain`` seals
valid events; ``well_behaved_sync`` is a real peer (its own SQLite log, ``PeerSession``) sending one
new event, after which the relay's log is checked: the event is there, nothing else was added, and
``verify`` finds nothing wrong.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.peer_client import sync_once
from datacore_msg.transport.protocol import Endpoint, Send, State
from datacore_msg.transport.relay_store import open_relay_store
from relayproc import RelayProcess
from syncnet import nonce

NOW_MS = 1_767_225_600_000


def size(message: str | bytes) -> int:
    return len(message.encode("utf-8") if isinstance(message, str) else message)


class Tally:
    """A client socket that counts the frame bytes it sends and receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent = 0
        self.received = 0

    def send(self, text: str | bytes) -> None:
        self.sent += size(text)
        self.ws.send(text)

    def recv(self, timeout: float = 30) -> frames.Frame:
        raw = self.ws.recv(timeout=timeout)
        self.received += size(raw)
        return frames.decode(raw)

    def close(self) -> None:
        self.ws.close()


def admitted(relay: RelayProcess, tmp_path: Path, stack: ExitStack, **options: Any) -> Tally:
    """A raw WebSocket admitted by the relay, its handshake driven by a real client endpoint (its
    heads: none, and its ``caught_up`` sent); the relay's ``heads`` frame is the last frame read."""
    source = open_relay_store(tmp_path / f"empty-{nonce()[:8]}")
    stack.callback(source.close)
    secret = relay.secret.encode() if relay.secret else b""
    endpoint = Endpoint.client(source, secret, SigningKey.generate(), nonce())
    ws = Tally(stack.enter_context(connect(relay.url, max_size=None, **options)))
    pending = endpoint.start()
    while True:
        for out in pending:
            if isinstance(out, Send):
                ws.send(out.text)  # the last of them: this side's caught_up
        if endpoint.state in (State.SYNCING, State.LIVE):
            return ws
        raw = ws.ws.recv(timeout=30)
        ws.received += size(raw)
        pending = endpoint.receive(raw)


def error_then_close(ws: ClientConnection) -> frames.Error:
    """The error frame the relay sends, then the close that follows it."""
    while True:
        error = frames.decode(ws.recv(timeout=30))
        if isinstance(error, frames.Error):
            break
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=30)
    return error


def chain(
    key: SigningKey,
    count: int,
    pad: str = "",
    first: int = 1,
    prev: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Event]:
    """``count`` valid notes of ``key``'s origin from seq ``first`` on, each ``{"n": seq, "pad": pad}``
    (and ``extra``'s keys)."""
    out: list[Event] = []
    for seq in range(first, first + count):
        event = seal(
            key,
            seq=seq,
            prev=prev,
            hlc=(NOW_MS << 16) + seq,
            actor="tex",
            type_name="note",
            version=1,
            data={"n": seq, "pad": pad, **(extra or {})},
        )
        out.append(event)
        prev = event.id
    return out


def relay_log(relay: RelayProcess) -> set[str]:
    """The ids in the relay's log, after checking every stored event (``verify``)."""
    store = open_relay_store(relay.data)
    try:
        assert store.verify() == []
        return {event.id for event in store.iter_since(0)}
    finally:
        store.close()


def well_behaved_sync(relay: RelayProcess, tmp_path: Path) -> None:
    """A real peer syncs one new event through the relay; the relay's log gains exactly that."""
    before = relay_log(relay)
    folder = tmp_path / f"good-{nonce()[:8]}"
    store = open_relay_store(folder)
    try:
        key = SigningKey.generate()
        [event] = chain(key, 1)
        assert len(store.ingest([(0, event)], NOW_MS).accepted) == 1
        secret = relay.secret or ""
        stats = sync_once(relay.url, secret, key, store, lambda items: store.ingest(items, NOW_MS), 60)
        assert stats.sent == 1 and not stats.rejected_there
        assert stats.received == len(before)
    finally:
        store.close()
    assert relay_log(relay) == before | {event.id}
    assert relay.status()["status"] == "ok"
