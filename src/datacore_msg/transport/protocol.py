"""The sync protocol as a sans-I/O state machine: frames in, frames and events out.

Theory of operation
-------------------
One :class:`Endpoint` is one side of one connection. It opens no socket, reads no clock and writes
nothing: the driver (:mod:`.relay_server`, :mod:`.peer_client`, or a test shuttling strings) feeds
it what arrived — :meth:`Endpoint.receive` (a frame's text), :meth:`Endpoint.ingested` (what the
driver's store did with a batch it was asked to ingest), :meth:`Endpoint.events_appended` (events
that reached the local store some other way) — and carries out the :data:`Output` items it returns,
in order: :class:`Send` a frame, :class:`Ingest` a batch (then report back with ``ingested``),
:class:`Close` the connection. The only thing it reads is the local store, through the read-only
:class:`EventSource` (``heads`` and ``events_after``), to fill the batches it sends.

1. **Admission** (client and relay differ only here). The client sends ``hello`` (its public key and
   a fresh nonce). The relay answers ``challenge``: its own fresh nonce, and nothing else — no
   answer to an unauthenticated caller depends on the team secret, so a weak secret cannot be
   guessed offline from what the relay says before the caller proved anything. The client answers
   ``auth``: ``HMAC(secret, "peer" | relay nonce | client nonce | key)`` and the key's ed25519
   signature over both nonces. The relay compares the MAC in constant time
   (:func:`hmac.compare_digest`) and checks the signature, so it knows which key is connected; only
   then does it prove that it knows the secret too: ``welcome`` carries
   ``HMAC(secret, "relay" | client nonce | relay nonce)``, which the client checks before it sends
   anything else (a relay without the secret gets the client's ``auth``, which, bound to the
   relay's nonce, is worth as much to it as a guess it could check itself, and nothing more). The
   secret never travels, and a recorded ``auth`` is worthless on another connection (new relay
   nonce). A client nonce seen before is refused (:class:`NonceBook`). A wrong secret gets
   ``error auth_failed`` and the connection closes. Admission says nothing about names: authorship
   is each event's signature, checked by every reader against its own pinned keys.
2. **Catch-up.** Both sides send ``heads``, their version vector (per origin, the highest seq held
   with none missing), in pages of at most :data:`~.frames.MAX_VECTOR_ORIGINS` origins, every page
   but the last marked ``more`` (at most :data:`MAX_HEADS_PAGES` pages): so however many origins a
   sender of events creates, the vector can be sent. The receiver keeps the other side's heads for
   the origins it holds itself and for at most :data:`FOREIGN_HEADS_KEPT` others (those it may
   receive later by another way and then need not send back), so what it remembers is bounded by
   its own store, not by what the other side says. Each then sends the other what it
   lacks — per origin, ``events_after(origin, their head)`` in seq order — in batches of at most
   :data:`~.frames.MAX_BATCH_EVENTS` events and :data:`BATCH_BYTES` bytes, with at most
   :data:`WINDOW` batches unacknowledged (flow control: a side that stops reading stops receiving).
   The receiver ingests each batch (one transaction, every check of ``import``), and only then acks
   it with the new heads of the origins it touched and the rejected items with their reasons. When
   everything a side held at the time it learnt the other's heads is sent and acked, it sends
   ``caught_up``.
3. **Live.** Once both sides sent ``caught_up`` the endpoint is ``LIVE`` (:attr:`Endpoint.settled`
   tells a one-shot ``sync`` it may close once nothing is in flight). Events appended afterwards —
   by this installation, or received by the relay from another peer — are pushed the same way,
   through :meth:`Endpoint.events_appended`.
4. **Presence** (ephemeral: never stored, never an event). Once syncing, a client may announce its
   status (``presence``, :meth:`Endpoint.announce`) and ask who is connected (``who`` with no peers,
   :meth:`Endpoint.ask_who`); asked before, both go out as soon as the relay's heads arrive. The
   relay's endpoint reports an announcement as :class:`PresenceChanged` and a question as
   :class:`WhoAsked`; its driver fans the first out to the other connections
   (:meth:`Endpoint.peer_presence`) and answers the second with the roster (:meth:`Endpoint.roster`).
   A client keeps the latest roster in :attr:`Endpoint.presence`.
5. **Heartbeat.** The driver calls :meth:`Endpoint.tick` with the time now and then (about once a
   second). A side that has heard nothing for :attr:`Endpoint.ping_every_ms` sends ``ping``; one
   that has heard nothing for :attr:`Endpoint.dead_after_ms` sends ``error timeout`` and closes.
   Any frame counts as a sign of life (a ``pong`` too).
6. **Replacement.** A relay admits one connection per key: when a key is admitted again its older
   connection is told so (:meth:`Endpoint.replace`: ``error replaced``) and closed; the new one wins.

What the other side holds is tracked per origin (its heads, raised by its acks and by what it sent),
and what was sent on this connection by a cursor per origin, so nothing is sent twice on one
connection and nothing is sent back to the side it came from. Duplicates across connections are
harmless: ingest is idempotent by event id. Every frame not allowed in the current state (see
:data:`TRANSITIONS`, from which the state diagram of ``docs/protocol.md`` is drawn and checked) is a
protocol error: the endpoint sends ``error`` with the cause and closes.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Protocol

import attrs

from datacore_msg.errors import IntegrityError, ProtocolError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.signing import SigningKey, signature_ok
from datacore_msg.transport import frames
from datacore_msg.transport.frames import (
    Ack,
    Auth,
    CaughtUp,
    Challenge,
    Error,
    Events,
    Frame,
    Heads,
    Hello,
    Ping,
    Pong,
    Presence,
    Welcome,
    Who,
)

#: Unacknowledged ``events`` batches one side may have in flight on a connection.
WINDOW = 4
#: The most bytes of events put into one batch (well under :data:`~.frames.MAX_FRAME_BYTES`; one
#: event is at most ~400 KiB, so one always fits).
BATCH_BYTES = 512 * 1024
#: Client nonces the relay remembers (and refuses to see again).
NONCES_KEPT = 100_000
#: Origins of the other side's heads kept although this side holds none of their events (so what
#: reaches it later by another way is not sent back): a bound, so the other side's claims cannot
#: grow this side's memory beyond its own store and this many.
FOREIGN_HEADS_KEPT = 1_000
#: The most ``heads`` pages one side may send (10,000 origins each: 10 million origins).
MAX_HEADS_PAGES = 1_000
#: Heartbeat: ping after this long without hearing from the other side; close after this long.
PING_EVERY_MS = 15_000
DEAD_AFTER_MS = 45_000
_AUTH_CONTEXT = b"datacore-msg relay auth v1\x00"
#: The reasons of ``error auth_failed`` when the two sides' team secrets differ (the relay found
#: the client's MAC wrong; the client found the relay's proof wrong), and what to do about it.
WRONG_SECRET = "the relay refused this installation's team secret (the two sides' secrets differ)"
WRONG_RELAY_PROOF = "the relay's proof does not match this installation's team secret (the secrets differ)"
SECRET_HINT = "check messaging.relay.secret / RELAY_SECRET on both sides"


class State(enum.Enum):
    START = "start"
    AWAIT_CHALLENGE = "await_challenge"
    AWAIT_AUTH = "await_auth"
    AWAIT_WELCOME = "await_welcome"
    AWAIT_HEADS = "await_heads"
    SYNCING = "syncing"
    LIVE = "live"
    CLOSED = "closed"


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


S = State
#: Every allowed (state, trigger) → next state. A trigger is a frame type received, or one of the
#: local triggers ``start`` (the client opens), ``settled`` (both sides sent ``caught_up``) and
#: ``close``; ``heads_page`` is a ``heads`` frame marked ``more``. ``error`` (received, or sent on a
#: protocol error) closes from any state.
TRANSITIONS: dict[tuple[State, str], State] = {
    (S.START, "start"): S.AWAIT_CHALLENGE,  # client: send hello
    (S.START, "hello"): S.AWAIT_AUTH,  # relay: send challenge (a nonce, nothing secret)
    (S.AWAIT_CHALLENGE, "challenge"): S.AWAIT_WELCOME,  # client: send auth (MAC and signature)
    (S.AWAIT_AUTH, "auth"): S.AWAIT_HEADS,  # relay: check MAC and signature, send welcome (proof), heads
    (S.AWAIT_WELCOME, "welcome"): S.AWAIT_HEADS,  # client: check the relay's proof, send heads
    (S.AWAIT_HEADS, "heads_page"): S.AWAIT_HEADS,  # both: a heads frame with more to follow
    (S.AWAIT_HEADS, "heads"): S.SYNCING,  # both: the last heads page; send what the other lacks
    (S.SYNCING, "events"): S.SYNCING,
    (S.SYNCING, "ack"): S.SYNCING,
    (S.SYNCING, "caught_up"): S.SYNCING,
    (S.SYNCING, "settled"): S.LIVE,
    (S.LIVE, "events"): S.LIVE,
    (S.LIVE, "ack"): S.LIVE,
    (S.SYNCING, "ping"): S.SYNCING,
    (S.SYNCING, "pong"): S.SYNCING,
    (S.LIVE, "ping"): S.LIVE,
    (S.LIVE, "pong"): S.LIVE,
    (S.SYNCING, "presence"): S.SYNCING,  # relay: fan out; client: update the roster
    (S.SYNCING, "who"): S.SYNCING,  # relay: answer with the roster; client: the roster
    (S.LIVE, "presence"): S.LIVE,
    (S.LIVE, "who"): S.LIVE,
    (S.AWAIT_HEADS, "replaced"): S.CLOSED,  # relay: the same key was admitted again
    (S.SYNCING, "replaced"): S.CLOSED,
    (S.LIVE, "replaced"): S.CLOSED,
}
for _state in State:
    if _state is not S.CLOSED:
        TRANSITIONS[(_state, "error")] = S.CLOSED
        TRANSITIONS[(_state, "close")] = S.CLOSED
        TRANSITIONS[(_state, "timeout")] = S.CLOSED  # tick: nothing heard for dead_after_ms
#: The frames each role may receive (a relay never receives ``challenge``; a client never ``hello``).
RECEIVES: dict[Role, frozenset[str]] = {
    Role.CLIENT: frozenset(frames.FRAME_TYPES) - {"hello", "auth"},
    Role.SERVER: frozenset(frames.FRAME_TYPES) - {"challenge", "welcome"},
}


_FROM_ANY = ("error", "close", "timeout")


def state_diagram() -> str:
    """The Mermaid state diagram of :data:`TRANSITIONS` (``docs/protocol.md`` holds this text; a
    test checks that they agree). ``error``, ``close`` and ``timeout`` lead from every state to
    ``closed``."""
    lines = ["stateDiagram-v2", "    [*] --> start"]
    for (state, trigger), following in TRANSITIONS.items():
        if trigger in _FROM_ANY or state is following:
            continue
        lines.append(f"    {state.value} --> {following.value}: {trigger}")
    loops: dict[State, list[str]] = {}
    for (state, trigger), following in TRANSITIONS.items():
        if state is following:
            loops.setdefault(state, []).append(trigger)
    for state, triggers in loops.items():
        lines.append(f"    {state.value} --> {state.value}: {', '.join(triggers)}")
    lines += ["    closed --> [*]", "    note right of closed: error, close or timeout, from any state"]
    return "\n".join(lines) + "\n"


class EventSource(Protocol):
    """What an endpoint reads from the local store (an :class:`~datacore_msg.eventlog.store.EventStore`)."""

    def heads(self) -> dict[str, int]: ...

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]: ...


@attrs.frozen
class Send:
    frame: Frame

    @property
    def text(self) -> str:
        return frames.encode(self.frame)


@attrs.frozen
class Ingest:
    """Verify and store these items (``EventStore.ingest`` takes them as they are), then call
    :meth:`Endpoint.ingested` with the batch number and the report."""

    batch: int
    items: list[tuple[int, Event | IntegrityError]]


@attrs.frozen
class Close:
    """Close the connection: ``code`` and ``reason`` from an error frame (sent or received), or
    ``"done"`` for an orderly close; ``by_peer``: the other side sent the error."""

    code: str
    reason: str
    by_peer: bool = False


@attrs.frozen
class PresenceChanged:
    """Relay: the connected key announced ``status``; offer it to the other connections."""

    key: str
    status: str


@attrs.frozen
class WhoAsked:
    """Relay: the client asked who is connected; answer with :meth:`Endpoint.roster`."""


Output = Send | Ingest | Close | PresenceChanged | WhoAsked


class NonceBook:
    """The client nonces a relay has seen (the most recent :data:`NONCES_KEPT`): one is never
    accepted twice."""

    def __init__(self, keep: int = NONCES_KEPT) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._keep = keep

    def first_use(self, nonce: str) -> bool:
        if nonce in self._seen:
            return False
        self._seen[nonce] = None
        if len(self._seen) > self._keep:
            self._seen.popitem(last=False)
        return True


def relay_proof(secret: bytes, client_nonce: str, relay_nonce: str) -> str:
    return hmac.new(secret, b"relay\x00" + (client_nonce + relay_nonce).encode(), hashlib.sha256).hexdigest()


def peer_mac(secret: bytes, relay_nonce: str, client_nonce: str, key: str) -> str:
    message = b"peer\x00" + (relay_nonce + client_nonce + key).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_challenge(relay_nonce: str, client_nonce: str) -> bytes:
    return _AUTH_CONTEXT + (relay_nonce + client_nonce).encode()


@attrs.frozen
class Stats:
    sent: int
    received: int
    #: Events this side rejected (reason), and events the other side rejected (reason).
    rejected_here: list[str]
    rejected_there: list[str]


class Endpoint:
    """One side of one connection. Build with :meth:`client` or :meth:`server`."""

    def __init__(
        self,
        role: Role,
        source: EventSource,
        secret: bytes,
        nonce: str,
        key: SigningKey | None = None,
        nonces: NonceBook | None = None,
        ping_every_ms: int = PING_EVERY_MS,
        dead_after_ms: int = DEAD_AFTER_MS,
    ) -> None:
        self.role = role
        self.state = S.START
        self._source = source
        self._secret = secret
        self._nonce = nonce
        self._key = key
        self._nonces = nonces if nonces is not None else NonceBook()
        self._peer_nonce = ""
        #: The connected key (relay side: proven by its signature; client side: its own).
        self.peer_key: str | None = None
        self._local: dict[str, int] = {}
        self._theirs: dict[str, int] = {}
        self._cursor: dict[str, int] = {}
        self._target: dict[str, int] | None = None
        self._next_batch = 0
        self._unacked: dict[int, list[str]] = {}
        self._catchup_last: int | None = None
        self._sent_caught_up = False
        self._got_caught_up = False
        self._received_batch = 0
        self._heads_pages = 0
        self._foreign = 0
        self._pending_ingest: dict[int, list[tuple[int, Event | IntegrityError]]] = {}
        self.sent = 0
        self.received = 0
        self.rejected_here: list[str] = []
        self.rejected_there: list[str] = []
        self.closed_by: Close | None = None
        #: Client: the status to announce, and whether to ask who is connected, once syncing.
        self.status: str | None = None
        self._want_who = False
        #: Client: the latest roster from the relay (key → status); :attr:`roster_received` once
        #: the relay answered ``who``. Relay: the status the client announced (None: none yet).
        self.presence: dict[str, str] = {}
        self.roster_received = False
        self.peer_status: str | None = None
        self.ping_every_ms = ping_every_ms
        self.dead_after_ms = dead_after_ms
        self._heard = True
        self._last_heard_ms: int | None = None
        self._last_ping_ms: int | None = None

    @classmethod
    def client(cls, source: EventSource, secret: bytes, key: SigningKey, nonce: str) -> Endpoint:
        return cls(Role.CLIENT, source, secret, nonce, key=key)

    @classmethod
    def server(cls, source: EventSource, secret: bytes, nonce: str, nonces: NonceBook) -> Endpoint:
        return cls(Role.SERVER, source, secret, nonce, nonces=nonces)

    # -- state -------------------------------------------------------------------------------------

    @property
    def settled(self) -> bool:
        """Both sides caught up and nothing in flight either way: a one-shot sync may close."""
        return self.state is S.LIVE and not self._unacked and not self._pending_ingest

    @property
    def delivered(self) -> bool:
        """Everything this side held when it learnt the other's heads is sent and acknowledged (a
        push-only connection may close; the other side's catch-up is not waited for)."""
        return self._sent_caught_up and not self._unacked

    @property
    def in_flight(self) -> int:
        """Batches sent on this connection and not yet acknowledged."""
        return len(self._unacked)

    @property
    def lacking(self) -> int:
        """Events held here that the other side is not known to hold (its catch-up lag)."""
        return sum(max(0, seq - self._theirs.get(origin, 0)) for origin, seq in self._local.items())

    @property
    def admitted(self) -> bool:
        """The relay admitted the client (its secret and key are proven)."""
        return self.state in (S.AWAIT_HEADS, S.SYNCING, S.LIVE)

    def stats(self) -> Stats:
        return Stats(self.sent, self.received, list(self.rejected_here), list(self.rejected_there))

    def _move(self, trigger: str) -> None:
        following = TRANSITIONS.get((self.state, trigger))
        if following is None:
            raise ProtocolError(
                f"{trigger} is not allowed in state {self.state.value} ({self.role.value})", "unexpected"
            )
        self.state = following

    # -- inputs ------------------------------------------------------------------------------------

    def start(self) -> list[Output]:
        """Client: open the conversation (send ``hello``)."""
        if self.role is not Role.CLIENT or self._key is None:
            raise ProtocolError("only a client with a key starts a connection", "unexpected")
        self._move("start")
        self.peer_key = self._key.public_hex
        return [Send(Hello(self._key.public_hex, self._nonce))]

    def receive(self, raw: str | bytes) -> list[Output]:
        """A frame's text arrived. Never raises for what the peer sent: a bad frame becomes an
        ``error`` frame and a :class:`Close`."""
        if self.state is S.CLOSED:
            return []
        self._heard = True
        try:
            frame = frames.decode(raw)
            if isinstance(frame, Error):
                self.state = S.CLOSED
                self.closed_by = Close(frame.code, frame.reason, by_peer=True)
                return [self.closed_by]
            if frame.TYPE not in RECEIVES[self.role]:
                raise ProtocolError(f"a {self.role.value} does not receive {frame.TYPE} frames", "unexpected")
            self._move("heads_page" if isinstance(frame, Heads) and frame.more else frame.TYPE)
            return self._handle(frame)
        except ProtocolError as exc:
            return self._fail(exc.reason, str(exc))

    def ingested(
        self, batch: int, accepted: Sequence[Event], rejected: Sequence[tuple[int, str]]
    ) -> list[Output]:
        """The driver stored batch ``batch`` (``accepted``) and refused ``rejected`` (index, reason):
        acknowledge it with the new heads of the origins it touched."""
        items = self._pending_ingest.pop(batch, None)
        if items is None or self.state is S.CLOSED:
            return []
        for event in accepted:
            self._raise(self._local, event.origin, event.seq)
        touched = sorted({item.origin for _, item in items if isinstance(item, Event)})
        self.received += len(accepted)
        self.rejected_here.extend(reason for _, reason in rejected)
        heads = {origin: self._local.get(origin, 0) for origin in touched}
        out: list[Output] = [
            Send(Ack(batch, heads, [(i, r) for i, r in rejected][: frames.MAX_BATCH_EVENTS]))
        ]
        return out + self._progress()

    def events_appended(self, events: Iterable[Event]) -> list[Output]:
        """Events that reached the local store by another way (a local append, another peer's batch
        on the relay): push what the other side lacks."""
        for event in events:
            self._raise(self._local, event.origin, event.seq)
        if self.state not in (S.SYNCING, S.LIVE):
            return []
        return self._progress()

    def announce(self, status: str) -> list[Output]:
        """Client: announce ``status`` (one of :data:`~.frames.STATUSES`): now if syncing, else as
        soon as the relay's heads arrive."""
        if status not in frames.STATUSES:
            raise ProtocolError(f"{status!r} is not a status ({', '.join(frames.STATUSES)})", "bad_frame")
        self.status = status
        if self.role is Role.CLIENT and self.state in (S.SYNCING, S.LIVE) and self.peer_key:
            return [Send(Presence(self.peer_key, status))]
        return []

    def ask_who(self) -> list[Output]:
        """Client: ask the relay who is connected (now if syncing, else once the heads arrive)."""
        if self.state in (S.SYNCING, S.LIVE):
            return [Send(Who({}))]
        self._want_who = True
        return []

    def peer_presence(self, key: str, status: str) -> list[Output]:
        """Relay: another connection's key announced ``status`` (or left: ``offline``)."""
        if self.state not in (S.SYNCING, S.LIVE) or key == self.peer_key:
            return []
        return [Send(Presence(key, status))]

    def roster(self, peers: dict[str, str]) -> list[Output]:
        """Relay: the answer to :class:`WhoAsked` (every connected key with an announced status)."""
        if self.state not in (S.SYNCING, S.LIVE):
            return []
        return [Send(Who(dict(list(peers.items())[: frames.MAX_VECTOR_ORIGINS])))]

    def replace(self) -> list[Output]:
        """Relay: a newer connection of the same key was admitted; this one is told and closed."""
        if self.state is S.CLOSED:
            return []
        self._move("replaced")
        self.closed_by = Close("replaced", "another connection of this key replaced this one")
        return [Send(Error("replaced", self.closed_by.reason)), self.closed_by]

    def tick(self, now_ms: int) -> list[Output]:
        """The heartbeat, called now and then with the time: ``ping`` after :attr:`ping_every_ms`
        without hearing from the other side, ``error timeout`` and close after
        :attr:`dead_after_ms`."""
        if self.state is S.CLOSED:
            return []
        if self._heard or self._last_heard_ms is None:
            self._heard = False
            self._last_heard_ms = now_ms
        silent = now_ms - self._last_heard_ms
        if silent >= self.dead_after_ms:
            self._move("timeout")
            self.closed_by = Close("timeout", f"nothing heard for {silent // 1000} s")
            return [Send(Error("timeout", self.closed_by.reason)), self.closed_by]
        if (
            self.state in (S.SYNCING, S.LIVE)
            and silent >= self.ping_every_ms
            and (self._last_ping_ms is None or now_ms - self._last_ping_ms >= self.ping_every_ms)
        ):
            self._last_ping_ms = now_ms
            return [Send(Ping())]
        return []

    def close(self, reason: str = "done") -> list[Output]:
        """The local side closes (one-shot sync done, shutdown)."""
        if self.state is S.CLOSED:
            return []
        self._move("close")
        return [Close("done", reason)]

    # -- handling ----------------------------------------------------------------------------------

    def _fail(self, code: str, reason: str) -> list[Output]:
        self.state = S.CLOSED
        self.closed_by = Close(code, reason)
        return [Send(Error(code, reason)), self.closed_by]

    def _handle(self, frame: Frame) -> list[Output]:
        if isinstance(frame, Hello):
            if not self._nonces.first_use(frame.nonce):
                return self._fail("nonce_reused", "this client nonce was used before (a replayed hello)")
            self.peer_key, self._peer_nonce = frame.key, frame.nonce
            return [Send(Challenge(self._nonce))]
        if isinstance(frame, Challenge):
            assert self._key is not None
            self._peer_nonce = frame.nonce
            mac = peer_mac(self._secret, frame.nonce, self._nonce, self._key.public_hex)
            sig = self._key.sign(signed_challenge(frame.nonce, self._nonce))
            return [Send(Auth(mac, sig))]
        if isinstance(frame, Auth):
            assert self.peer_key is not None
            expected = peer_mac(self._secret, self._nonce, self._peer_nonce, self.peer_key)
            if not hmac.compare_digest(frame.mac, expected):
                return self._fail("auth_failed", WRONG_SECRET)
            if not signature_ok(self.peer_key, signed_challenge(self._nonce, self._peer_nonce), frame.sig):
                return self._fail("auth_failed", "the signature over the challenge is not the key's")
            proof = relay_proof(self._secret, self._peer_nonce, self._nonce)
            return [Send(Welcome(proof)), *self._heads()]
        if isinstance(frame, Welcome):
            expected = relay_proof(self._secret, self._nonce, self._peer_nonce)
            if not hmac.compare_digest(frame.proof, expected):
                return self._fail("auth_failed", WRONG_RELAY_PROOF)
            return list(self._heads())
        if isinstance(frame, Heads):
            self._heads_pages += 1
            if self._heads_pages > MAX_HEADS_PAGES:
                raise ProtocolError(f"over {MAX_HEADS_PAGES} heads pages", "limit")
            for origin, seq in frame.heads.items():
                if origin in self._local:
                    self._raise(self._theirs, origin, seq)
                elif self._foreign < FOREIGN_HEADS_KEPT and origin not in self._theirs:
                    self._foreign += 1
                    self._theirs[origin] = seq
            if frame.more:
                return []
            self._target = dict(self._local)
            out: list[Output] = []
            if self.role is Role.CLIENT and self.status is not None and self.peer_key:
                out.append(Send(Presence(self.peer_key, self.status)))
            if self._want_who:
                self._want_who = False
                out.append(Send(Who({})))
            return out + self._progress()
        if isinstance(frame, Presence):
            return self._on_presence(frame)
        if isinstance(frame, Who):
            if self.role is Role.SERVER:
                if frame.peers:
                    raise ProtocolError("a who question names no peers", "bad_frame")
                return [WhoAsked()]
            self.presence = dict(frame.peers)
            self.roster_received = True
            return []
        if isinstance(frame, Events):
            return self._on_events(frame)
        if isinstance(frame, Ack):
            return self._on_ack(frame)
        if isinstance(frame, CaughtUp):
            if self._got_caught_up:
                raise ProtocolError("caught_up was sent twice", "unexpected")
            self._got_caught_up = True
            return self._progress()
        if isinstance(frame, Ping):
            return [Send(Pong())]
        return []  # pong

    def _on_presence(self, frame: Presence) -> list[Output]:
        if self.role is Role.SERVER:
            if frame.key != self.peer_key:
                raise ProtocolError("a presence frame names a key other than the connected one", "unexpected")
            if frame.status == frames.OFFLINE:
                raise ProtocolError("a peer announces offline by closing", "bad_frame")
            self.peer_status = frame.status
            return [PresenceChanged(frame.key, frame.status)]
        if frame.status == frames.OFFLINE:
            self.presence.pop(frame.key, None)
        else:
            self.presence[frame.key] = frame.status
        return []

    def _heads(self) -> list[Send]:
        """This side's version vector, in pages of at most :data:`~.frames.MAX_VECTOR_ORIGINS`."""
        self._local = dict(self._source.heads())
        origins = sorted(self._local)
        size = frames.MAX_VECTOR_ORIGINS
        starts = range(0, len(origins), size) if origins else range(1)
        return [
            Send(Heads({o: self._local[o] for o in origins[i : i + size]}, more=i + size < len(origins)))
            for i in starts
        ]

    def _on_events(self, frame: Events) -> list[Output]:
        if frame.batch <= self._received_batch:
            return []  # a duplicate of a batch already received: ingest is idempotent, so drop it
        if frame.batch != self._received_batch + 1:
            raise ProtocolError(
                f"events batch {frame.batch} after batch {self._received_batch}", "unexpected"
            )
        if len(self._pending_ingest) >= WINDOW:
            raise ProtocolError(f"over {WINDOW} unacknowledged batches (the window)", "over_window")
        self._received_batch = frame.batch
        items: list[tuple[int, Event | IntegrityError]] = list(enumerate(frame.events))
        for _, item in items:
            if isinstance(item, Event):
                self._raise(self._theirs, item.origin, item.seq)
        self._pending_ingest[frame.batch] = items
        return [Ingest(frame.batch, items)]

    def _on_ack(self, frame: Ack) -> list[Output]:
        if frame.batch > self._next_batch:
            raise ProtocolError(f"ack of batch {frame.batch}, which was never sent", "unexpected")
        sent = self._unacked.pop(frame.batch, None)
        if sent is None:
            return []  # a duplicate ack
        for origin, seq in frame.heads.items():
            self._raise(self._theirs, origin, seq)
        for index, reason in frame.rejected:
            event_id = sent[index] if index < len(sent) else "?"
            self.rejected_there.append(f"event {event_id[:12]}: {reason}")
        return self._progress()

    # -- sending -----------------------------------------------------------------------------------

    @staticmethod
    def _raise(vector: dict[str, int], origin: str, seq: int) -> None:
        if seq > vector.get(origin, 0):
            vector[origin] = seq

    def _start_of(self, origin: str) -> int:
        return max(self._cursor.get(origin, 0), self._theirs.get(origin, 0))

    def _fill(self) -> list[Event]:
        batch: list[Event] = []
        size = 0
        for origin in sorted(self._local):
            while len(batch) < frames.MAX_BATCH_EVENTS:
                start = self._start_of(origin)
                if self._local[origin] <= start:
                    break
                found = self._source.events_after(origin, start, frames.MAX_BATCH_EVENTS - len(batch))
                if not found:
                    # the store holds less than was said: believe the store
                    self._local[origin] = start
                    if self._target is not None and self._target.get(origin, 0) > start:
                        self._target[origin] = start
                    break
                for event in found:
                    cost = frames.event_size(event)
                    if batch and size + cost > BATCH_BYTES:
                        return batch
                    batch.append(event)
                    size += cost
                    self._cursor[origin] = event.seq
            if len(batch) >= frames.MAX_BATCH_EVENTS:
                break
        return batch

    def _progress(self) -> list[Output]:
        out: list[Output] = []
        if self.state not in (S.SYNCING, S.LIVE) or self._target is None:
            return out
        while len(self._unacked) < WINDOW:
            batch = self._fill()
            if not batch:
                break
            self._next_batch += 1
            self._unacked[self._next_batch] = [event.id for event in batch]
            self.sent += len(batch)
            out.append(Send(Events(self._next_batch, list(batch))))
        if self._catchup_last is None and all(
            self._start_of(origin) >= seq for origin, seq in self._target.items()
        ):
            self._catchup_last = self._next_batch
        if (
            not self._sent_caught_up
            and self._catchup_last is not None
            and not any(number <= self._catchup_last for number in self._unacked)
        ):
            self._sent_caught_up = True
            out.append(Send(CaughtUp()))
        if self.state is S.SYNCING and self._sent_caught_up and self._got_caught_up:
            self._move("settled")
        return out
