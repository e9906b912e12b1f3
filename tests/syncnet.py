"""An in-memory network for the sync protocol: real stores, endpoints, frames as strings in queues.

A :class:`Net` holds the relay's store (a real SQLite event log) and a set of peers (real spaces);
each connection is a client endpoint on a peer and a server endpoint on the relay, with one queue
of frame texts each way. Tests deliver frames one at a time (or duplicate one, or break the
connection instead of delivering it: TCP never loses a frame and goes on, so a lost frame is a lost
connection), or run everything until no frame is left. What a relay endpoint ingests is offered to
every other relay endpoint, as the relay server does; so is a presence announcement, and a ``who`` is
answered with the statuses of the open links.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from datacore_msg.app.space import Space
from datacore_msg.app.sync import _Receiver
from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import EventStore, IngestReport
from datacore_msg.transport.protocol import (
    Close,
    Endpoint,
    Ingest,
    NonceBook,
    Output,
    PresenceChanged,
    Send,
    WhoAsked,
)
from datacore_msg.transport.relay_store import open_relay_store

SECRET = b"team-secret-for-tests-0123456789"
_nonces = itertools.count()


def nonce() -> str:
    return hashlib.sha256(f"nonce-{next(_nonces)}".encode()).hexdigest()


@attrs.define
class Link:
    client: Endpoint
    server: Endpoint
    to_server: deque[str] = attrs.field(factory=deque)
    to_client: deque[str] = attrs.field(factory=deque)
    open: bool = True
    closes: list[Close] = attrs.field(factory=list)


class Net:
    def __init__(self, relay_dir: Path, now_ms: Callable[[], int]) -> None:
        self.relay = open_relay_store(relay_dir)
        self.now_ms = now_ms
        self.peers: dict[str, Space] = {}
        self.receivers: dict[str, Callable[[list[tuple[int, Event | IntegrityError]]], IngestReport]] = {}
        self.links: dict[str, Link] = {}
        self.nonces = NonceBook()

    def add(self, name: str, space: Space) -> None:
        self.peers[name] = space
        self.receivers[name] = _Receiver(space)

    def close(self) -> None:
        self.relay.close()

    # -- connections -----------------------------------------------------------------------------

    def connect(self, name: str, secret: bytes = SECRET) -> Link:
        space = self.peers[name]
        client = Endpoint.client(space.store, secret, space.signing_key(), nonce())
        server = Endpoint.server(self.relay, SECRET, nonce(), self.nonces)
        link = Link(client, server)
        self.links[name] = link
        self._route(name, link, "client", client.start())
        return link

    def disconnect(self, name: str) -> None:
        link = self.links.pop(name, None)
        if link is not None:
            link.open = False
            link.client.close()
            link.server.close()

    def appended(self, name: str, events: Sequence[Event]) -> None:
        """``name`` appended ``events`` locally: its client endpoint pushes them, if connected."""
        link = self.links.get(name)
        if link is not None and link.open:
            self._route(name, link, "client", link.client.events_appended(events))

    # -- frames ----------------------------------------------------------------------------------

    def deliver(self, name: str, to: str, mode: str = "once") -> bool:
        """Deliver the next frame on ``name``'s link towards ``to`` ("server" or "client"); ``mode``
        "twice" duplicates it, "drop" loses it (and with it the connection). False: nothing queued."""
        link = self.links.get(name)
        if link is None or not link.open:
            return False
        queue = link.to_server if to == "server" else link.to_client
        if not queue:
            return False
        text = queue.popleft()
        if mode == "drop":
            self.disconnect(name)
            return True
        endpoint = link.server if to == "server" else link.client
        for _ in range(2 if mode == "twice" else 1):
            if link.open:
                self._route(name, link, to, endpoint.receive(text))
        return True

    def run(self, limit: int = 100_000) -> None:
        """Deliver every queued frame, on every link, until none is left."""
        for _ in range(limit):
            moved = False
            for name in list(self.links):
                for to in ("server", "client"):
                    moved |= self.deliver(name, to)
            if not moved:
                return
        raise AssertionError("the network did not go quiet")

    def _route(self, name: str, link: Link, side: str, outputs: list[Output]) -> None:
        pending = list(outputs)
        endpoint = link.client if side == "client" else link.server
        while pending:
            out = pending.pop(0)
            if isinstance(out, Send):
                (link.to_server if side == "client" else link.to_client).append(out.text)
            elif isinstance(out, Ingest):
                if side == "client":
                    report = self.receivers[name](out.items)
                else:
                    report = self.relay.ingest(out.items, self.now_ms())
                pending += endpoint.ingested(out.batch, report.accepted, report.rejected)
                if side == "server" and report.accepted:
                    for other_name, other in list(self.links.items()):
                        if other is not link and other.open and other.server.admitted:
                            self._route(
                                other_name, other, "server", other.server.events_appended(report.accepted)
                            )
            elif isinstance(out, PresenceChanged):
                for other_name, other in list(self.links.items()):
                    if other is not link and other.open:
                        self._route(
                            other_name, other, "server", other.server.peer_presence(out.key, out.status)
                        )
            elif isinstance(out, WhoAsked):
                roster = {
                    lk.server.peer_key: lk.server.peer_status
                    for lk in self.links.values()
                    if lk.open and lk.server.peer_key and lk.server.peer_status
                }
                pending += endpoint.roster(roster)
            elif isinstance(out, Close):
                link.closes.append(out)
                link.open = False
                self.links.pop(name, None)


def event_ids(store: EventStore) -> set[str]:
    return {event.id for event in store.iter_since(0)}
