"""The sync protocol's frames: versioned JSON text frames, decoded strictly.

Every frame is one JSON object with ``"v"`` (the protocol version, :data:`PROTOCOL_VERSION`) and
``"t"`` (the frame type), plus the fields of its type and nothing else. :func:`decode` checks the
size, the version, the type and every field's type and bounds; anything wrong raises
:class:`~datacore_msg.errors.ProtocolError` (never another exception), whose ``reason`` is the
code the receiver puts in its ``error`` frame. Events inside an ``events`` frame are checked for
shape only (:func:`~datacore_msg.eventlog.envelope.from_json`); an event of the wrong shape stays
in the batch as the :class:`~datacore_msg.errors.IntegrityError` that describes it, so the receiver
reports it by index and ingests the others (ids, signatures and chains are ``ingest``'s to check).

The frame table (and the order they may come in) is in ``docs/protocol.md``; the state machine that
uses them is :mod:`datacore_msg.transport.protocol`.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from datacore_msg.errors import IntegrityError, ProtocolError
from datacore_msg.eventlog.envelope import Event, from_json
from datacore_msg.eventlog.names import key_names
from datacore_msg.eventlog.signing import is_public_key
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
#: The largest frame either side sends or accepts (also the WebSocket ``max_size``).
MAX_FRAME_BYTES = 1024 * 1024
#: The most events in one ``events`` frame.
MAX_BATCH_EVENTS = 500
#: The most origins in one version vector frame (``heads``, ``ack``). A whole version vector may be
#: longer: it goes out as several ``heads`` frames (all but the last with ``more``), so no number of
#: origins a sender of events can create makes a vector that cannot be sent.
MAX_VECTOR_ORIGINS = 10_000
#: The most bytes one origin takes in a ``heads`` frame (``"<64 hex>":<2^63-1>,``), and those a
#: page adds around its origins.
HEADS_BYTES_PER_ORIGIN = 87
HEADS_PAGE_OVERHEAD = 48


def max_heads_bytes(origins: int) -> int:
    """The most bytes a version vector of ``origins`` origins takes, in all its ``heads`` pages."""
    pages = max(1, -(-origins // MAX_VECTOR_ORIGINS))
    return origins * HEADS_BYTES_PER_ORIGIN + pages * HEADS_PAGE_OVERHEAD


#: The longest reason text in ``error`` frames and in an ack's rejections.
MAX_REASON_CHARS = 500
_MAX_INT = 2**63 - 1
_HEX = frozenset("0123456789abcdef")
#: Nonces are 32 random bytes, hex; MACs are HMAC-SHA256, hex; signatures ed25519, hex.
NONCE_HEX = 64
MAC_HEX = 64
SIG_HEX = 128
#: The statuses a peer may announce; the relay announces ``offline`` for a key that left.
STATUSES = ("online", "busy", "away", "focusing")
OFFLINE = "offline"


class Hello(Record):
    """Client → relay: the installation's public key and a fresh client nonce."""

    TYPE = "hello"
    __slots__ = ("key", "nonce")
    key: str
    nonce: str

    def __init__(self, key: str, nonce: str) -> None:
        set_field(self, "key", key)
        set_field(self, "nonce", nonce)


class Challenge(Record):
    """Relay → client: the relay's fresh nonce (nothing that depends on the team secret: an
    unauthenticated caller must get nothing to test guesses of the secret against)."""

    TYPE = "challenge"
    __slots__ = ("nonce",)
    nonce: str

    def __init__(self, nonce: str) -> None:
        set_field(self, "nonce", nonce)


class Auth(Record):
    """Client → relay: the MAC over both nonces and the key (the secret), and the key's signature
    over both nonces (the installation)."""

    TYPE = "auth"
    __slots__ = ("mac", "sig")
    mac: str
    sig: str

    def __init__(self, mac: str, sig: str) -> None:
        set_field(self, "mac", mac)
        set_field(self, "sig", sig)


class Welcome(Record):
    """Relay → client: admitted (the client's proof checked out), with the relay's own proof that it
    knows the team secret, which the client checks before it sends anything else."""

    TYPE = "welcome"
    __slots__ = ("proof",)
    proof: str

    def __init__(self, proof: str) -> None:
        set_field(self, "proof", proof)


class Heads(Record):
    """Either side: its version vector (per origin, the highest seq held with none missing), in
    pages of at most :data:`MAX_VECTOR_ORIGINS` origins: ``more`` says another page follows."""

    TYPE = "heads"
    __slots__ = ("heads", "more")
    heads: dict[str, int]
    more: bool

    def __init__(self, heads: dict[str, int], more: bool = False) -> None:
        set_field(self, "heads", heads)
        set_field(self, "more", more)


class Events(Record):
    """Either side: batch ``batch`` of events the other lacks, per origin in seq order. An item that
    failed the shape check is kept as its error (see the module docstring)."""

    TYPE = "events"
    __slots__ = ("batch", "events")
    batch: int
    events: list[Event | IntegrityError]

    def __init__(self, batch: int, events: list[Event | IntegrityError]) -> None:
        set_field(self, "batch", batch)
        set_field(self, "events", events)


class Ack(Record):
    """Either side: batch ``batch`` is durably stored; the new heads of the origins it touched,
    and the rejected items (index in the batch, reason)."""

    TYPE = "ack"
    __slots__ = ("batch", "heads", "rejected")
    batch: int
    heads: dict[str, int]
    rejected: list[tuple[int, str]]

    def __init__(self, batch: int, heads: dict[str, int], rejected: list[tuple[int, str]]) -> None:
        set_field(self, "batch", batch)
        set_field(self, "heads", heads)
        set_field(self, "rejected", rejected)


class CaughtUp(Record):
    """Either side: everything it held when it learnt the other's heads is sent and acknowledged."""

    TYPE = "caught_up"
    __slots__ = ()


class Ping(Record):
    """Either side: are you there (answered by ``pong``)."""

    TYPE = "ping"
    __slots__ = ()


class Pong(Record):
    TYPE = "pong"
    __slots__ = ()


class Presence(Record):
    """Peer → relay: this connection's status (``key`` is the connected key). Relay → peers: a
    connected key's status changed (``offline``: its last connection closed). Never stored."""

    TYPE = "presence"
    __slots__ = ("key", "status")
    key: str
    status: str

    def __init__(self, key: str, status: str) -> None:
        set_field(self, "key", key)
        set_field(self, "status", status)


class Who(Record):
    """Peer → relay, with ``peers`` empty: who is connected? Relay → peer: every connected key that
    announced a status, with it."""

    TYPE = "who"
    __slots__ = ("peers",)
    peers: dict[str, str]

    def __init__(self, peers: dict[str, str]) -> None:
        set_field(self, "peers", peers)


class Error(Record):
    """Either side, last frame before closing: a stable code and a one-line reason."""

    TYPE = "error"
    __slots__ = ("code", "reason")
    code: str
    reason: str

    def __init__(self, code: str, reason: str) -> None:
        set_field(self, "code", code)
        set_field(self, "reason", reason)


Frame = (
    Hello
    | Challenge
    | Auth
    | Welcome
    | Heads
    | Events
    | Ack
    | CaughtUp
    | Ping
    | Pong
    | Presence
    | Who
    | Error
)
FRAME_TYPES: dict[str, type[Any]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Challenge,
        Auth,
        Welcome,
        Heads,
        Events,
        Ack,
        CaughtUp,
        Ping,
        Pong,
        Presence,
        Who,
        Error,
    )
}


# -- encoding --------------------------------------------------------------------------------------


def to_obj(frame: Frame) -> dict[str, Any]:
    obj: dict[str, Any] = {"v": PROTOCOL_VERSION, "t": frame.TYPE}
    if isinstance(frame, Events):
        obj["batch"] = frame.batch
        obj["events"] = [e.to_json() for e in frame.events if isinstance(e, Event)]
    elif isinstance(frame, Ack):
        obj["batch"] = frame.batch
        obj["heads"] = frame.heads
        obj["rejected"] = [[index, reason[:MAX_REASON_CHARS]] for index, reason in frame.rejected]
    elif isinstance(frame, Heads):
        obj["heads"] = frame.heads
        if frame.more:
            obj["more"] = True
    elif isinstance(frame, Who):
        obj["peers"] = dict(frame.peers)
    elif isinstance(frame, Error):
        obj["code"] = frame.code
        obj["reason"] = frame.reason[:MAX_REASON_CHARS]
    else:
        obj.update({name: getattr(frame, name) for name in frame._FIELDS})
    return obj


def encode(frame: Frame) -> str:
    return json.dumps(to_obj(frame), separators=(",", ":"), ensure_ascii=False)


class _SizeMemo:
    """Sizes of the events measured last, by object identity (an entry holds its event, so the
    event's id() is not reused while it is there): a relay offers the same stored event objects to
    every connection and measures each once, not once per connection. Bounded in entries and in
    the bytes of the events it keeps alive; over either bound the oldest entries go, one at a time
    (forgetting all 20,000 at once freed as many events in one call: several milliseconds added
    to whichever message came next)."""

    def __init__(self, entries: int = 20_000, total: int = 16 * 1024 * 1024) -> None:
        self._known: OrderedDict[int, tuple[Event, int]] = OrderedDict()
        self._entries, self._limit, self._total = entries, total, 0

    def size(self, event: Event) -> int:
        known = self._known.get(id(event))
        if known is not None and known[0] is event:
            return known[1]
        size = len(json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1
        if known is not None:
            del self._known[id(event)]
            self._total -= known[1]
        while self._known and (len(self._known) >= self._entries or self._total + size > self._limit):
            self._total -= self._known.popitem(last=False)[1][1]
        self._known[id(event)] = (event, size)
        self._total += size
        return size


_SIZES = _SizeMemo()


def event_size(event: Event) -> int:
    """The bytes ``event`` takes inside an ``events`` frame (for batching under the frame limit)."""
    return _SIZES.size(event)


# -- decoding --------------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _fail(message: str, reason: str = "bad_frame") -> ProtocolError:
    return ProtocolError(message, reason)


def _int(obj: dict[str, Any], name: str, low: int = 0) -> int:
    value = obj[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= _MAX_INT:
        raise _fail(f"{obj['t']} frame: {name} is not an integer between {low} and 2^63-1")
    return value


def _hex(obj: dict[str, Any], name: str, length: int) -> str:
    value = obj[name]
    if not isinstance(value, str) or len(value) != length or not _HEX.issuperset(value):
        raise _fail(f"{obj['t']} frame: {name} is not {length} lowercase hex characters")
    return value


def _text(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or len(value) > MAX_REASON_CHARS:
        raise _fail(f"{obj['t']} frame: {name} is not a string of at most {MAX_REASON_CHARS} characters")
    return value


def _vector(obj: dict[str, Any], name: str) -> dict[str, int]:
    value = obj[name]
    if not isinstance(value, dict):
        raise _fail(f"{obj['t']} frame: {name} is not an object")
    if len(value) > MAX_VECTOR_ORIGINS:
        raise _fail(f"{obj['t']} frame: {name} names over {MAX_VECTOR_ORIGINS} origins", "limit")
    for origin, seq in value.items():
        if not is_public_key(origin):
            raise _fail(f"{obj['t']} frame: {name} has a key that is not an ed25519 public key")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= _MAX_INT:
            raise _fail(f"{obj['t']} frame: {name} has a seq that is not an integer between 0 and 2^63-1")
    return value


def _status(obj: dict[str, Any], value: Any) -> str:
    if not isinstance(value, str) or value not in (*STATUSES, OFFLINE):
        raise _fail(f"{obj['t']} frame: a status is not one of {', '.join((*STATUSES, OFFLINE))}")
    return value


def _peers(obj: dict[str, Any]) -> dict[str, str]:
    value = obj["peers"]
    if not isinstance(value, dict):
        raise _fail("who frame: peers is not an object")
    if len(value) > MAX_VECTOR_ORIGINS:
        raise _fail(f"who frame: peers names over {MAX_VECTOR_ORIGINS} keys", "limit")
    for key, status in value.items():
        if not is_public_key(key):
            raise _fail("who frame: peers has a key that is not an ed25519 public key")
        _status(obj, status)
    return value


def _events(obj: dict[str, Any]) -> list[Event | IntegrityError]:
    value = obj["events"]
    if not isinstance(value, list):
        raise _fail("events frame: events is not a list")
    if not value or len(value) > MAX_BATCH_EVENTS:
        raise _fail(f"events frame: a batch holds 1 to {MAX_BATCH_EVENTS} events, not {len(value)}", "limit")
    items: list[Event | IntegrityError] = []
    for index, item in enumerate(value):
        try:
            items.append(from_json(item))
        except IntegrityError as exc:
            items.append(IntegrityError(f"event {index} of the batch: {exc}"))
    return items


def _rejections(obj: dict[str, Any]) -> list[tuple[int, str]]:
    value = obj["rejected"]
    if not isinstance(value, list) or len(value) > MAX_BATCH_EVENTS:
        raise _fail(f"ack frame: rejected is not a list of at most {MAX_BATCH_EVENTS} items")
    out: list[tuple[int, str]] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], int)
            or isinstance(item[0], bool)
            or not 0 <= item[0] < MAX_BATCH_EVENTS
            or not isinstance(item[1], str)
            or len(item[1]) > MAX_REASON_CHARS
        ):
            raise _fail("ack frame: a rejection is not [index, reason]")
        out.append((item[0], item[1]))
    return out


_FIELDS: dict[str, tuple[str, ...]] = {
    "hello": ("key", "nonce"),
    "challenge": ("nonce",),
    "auth": ("mac", "sig"),
    "welcome": ("proof",),
    "heads": ("heads",),
    "events": ("batch", "events"),
    "ack": ("batch", "heads", "rejected"),
    "caught_up": (),
    "ping": (),
    "pong": (),
    "presence": ("key", "status"),
    "who": ("peers",),
    "error": ("code", "reason"),
}


#: Fields a frame may leave out: ``more`` of ``heads`` is false when absent (and only written when
#: true, so a one-page vector reads the same as before paging).
_OPTIONAL: dict[str, tuple[str, ...]] = {"heads": ("more",)}


def decode(raw: str | bytes) -> Frame:
    """The frame in ``raw`` (a WebSocket message), or :class:`ProtocolError` saying what is wrong."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raise _fail("binary frames are not accepted (frames are JSON text)")
    if len(raw) > MAX_FRAME_BYTES or len(raw.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise _fail(f"frame is over {MAX_FRAME_BYTES} bytes", "limit")
    try:
        obj = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise _fail(f"frame is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(obj, dict):
        raise _fail("frame is not a JSON object")
    version = obj.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:  # not true, not 1.0
        raise _fail(
            f"protocol version {str(version)[:20]!s} is not supported (this side speaks 1)", "version"
        )
    kind = obj.get("t")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise _fail(f"unknown frame type {str(kind)[:40]!r}")
    expected = {"v", "t", *_FIELDS[kind]}
    missing = sorted(expected - set(obj))
    expected |= set(_OPTIONAL.get(kind, ()))
    if missing:
        raise _fail(f"{kind} frame: missing field(s) {', '.join(missing)}")
    extra = sorted(set(obj) - expected)
    if extra:
        raise _fail(f"{kind} frame: unknown field(s) {key_names(extra)}")
    if kind == "hello":
        key = obj["key"]
        if not is_public_key(key):
            raise _fail("hello frame: key is not an ed25519 public key")
        return Hello(key, _hex(obj, "nonce", NONCE_HEX))
    if kind == "challenge":
        return Challenge(_hex(obj, "nonce", NONCE_HEX))
    if kind == "welcome":
        return Welcome(_hex(obj, "proof", MAC_HEX))
    if kind == "auth":
        return Auth(_hex(obj, "mac", MAC_HEX), _hex(obj, "sig", SIG_HEX))
    if kind == "heads":
        more = obj.get("more", False)
        if not isinstance(more, bool):
            raise _fail("heads frame: more is not true or false")
        return Heads(_vector(obj, "heads"), more)
    if kind == "events":
        return Events(_int(obj, "batch", 1), _events(obj))
    if kind == "ack":
        return Ack(_int(obj, "batch", 1), _vector(obj, "heads"), _rejections(obj))
    if kind == "presence":
        if not is_public_key(obj["key"]):
            raise _fail("presence frame: key is not an ed25519 public key")
        return Presence(obj["key"], _status(obj, obj["status"]))
    if kind == "who":
        return Who(_peers(obj))
    if kind == "error":
        return Error(_text(obj, "code"), _text(obj, "reason"))
    empty: dict[str, Frame] = {"caught_up": CaughtUp(), "ping": Ping(), "pong": Pong()}
    return empty[kind]
