"""The event envelope: how an event is identified, chained and signed.

``body`` is every field but ``id`` and ``sig``; ``id`` is the SHA-256 of the body's canonical bytes,
and ``sig`` is the origin's ed25519 signature over those same bytes. So the id commits to the
origin, its sequence number, the previous event's id (the chain), the clock stamp, the actor, the
type, version and payload: changing any of them changes the id, and only the origin's key can make a
signature that matches.
"""

from __future__ import annotations

from datacore_msg.digests import sha256
from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.canonical import canonical_bytes, canonical_text
from datacore_msg.eventlog.names import is_actor, key_names, shown
from datacore_msg.eventlog.signing import SigningKey, is_public_key, signature_ok
from datacore_msg.jsontext import loads
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from typing import Any

ENVELOPE_FIELDS = ("id", "origin", "seq", "prev", "hlc", "actor", "type", "v", "data", "sig")
_FIELD_SET = frozenset(ENVELOPE_FIELDS)
_HEX64 = frozenset("0123456789abcdef")
_MAX_INT = 2**63 - 1
#: An event type's name: lowercase words joined by dots (``message.sent``), at most 64 characters; a
#: later release's types take the same form, so an unknown type that does not is refused.
MAX_TYPE_CHARS = 64
_TYPE_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def is_type_name(value: object) -> bool:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TYPE_CHARS:
        return False
    words = value.split(".")
    return all(word and "a" <= word[0] <= "z" and _TYPE_WORD.issuperset(word) for word in words)


_ENCODE = canonical_text


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in events")


class Event(Record):
    """One event as it travels and is stored: the envelope's fields, and where this log holds it
    (``position``, not part of the event: left out of equality)."""

    __slots__ = ("actor", "data", "hlc", "id", "origin", "position", "prev", "seq", "sig", "type", "v")
    _UNCOMPARED = ("position",)

    id: str
    origin: str
    seq: int
    prev: str | None
    hlc: int
    actor: str
    type: str
    v: int
    data: dict[str, Any]
    sig: str
    position: int | None

    def __init__(
        self,
        id: str,
        origin: str,
        seq: int,
        prev: str | None,
        hlc: int,
        actor: str,
        type: str,
        v: int,
        data: dict[str, Any],
        sig: str,
        position: int | None = None,
    ) -> None:
        set_field(self, "id", id)
        set_field(self, "origin", origin)
        set_field(self, "seq", seq)
        set_field(self, "prev", prev)
        set_field(self, "hlc", hlc)
        set_field(self, "actor", actor)
        set_field(self, "type", type)
        set_field(self, "v", v)
        set_field(self, "data", data)
        set_field(self, "sig", sig)
        set_field(self, "position", position)

    def body(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "seq": self.seq,
            "prev": self.prev,
            "hlc": self.hlc,
            "actor": self.actor,
            "type": self.type,
            "v": self.v,
            "data": self.data,
        }

    def at(self, position: int) -> Event:
        """This event as stored at ``position``."""
        return Event(
            self.id,
            self.origin,
            self.seq,
            self.prev,
            self.hlc,
            self.actor,
            self.type,
            self.v,
            self.data,
            self.sig,
            position,
        )

    def order_key(self) -> tuple[int, str, int]:
        """The deterministic total order every projection folds in."""
        return (self.hlc, self.origin, self.seq)

    def arrival_key(self) -> tuple[int, int, tuple[int, str, int]]:
        """This peer's arrival order (the log position), for the one question it answers: which of
        several events claiming one id came first *here*. Events not read from a store (no position)
        sort after stored ones, in :meth:`order_key` order."""
        return (0 if self.position is not None else 1, self.position or 0, self.order_key())

    def to_json(self) -> dict[str, Any]:
        out = self.body()
        out["id"] = self.id
        out["sig"] = self.sig
        return out

    @property
    def subject(self) -> str | None:
        return subject_of(self.type, self.data)


def subject_of(type_name: str, data: dict[str, Any]) -> str | None:
    if type_name in ("message.sent", "task.requested", "message.imported", "task.imported"):
        value = data.get("id")
    elif type_name == "message.marked":
        value = data.get("message")
    elif type_name.startswith("task."):
        value = data.get("task")
    else:
        value = data.get("subject")
    return value if isinstance(value, str) else None


def event_id(body: dict[str, Any]) -> str:
    return sha256(canonical_bytes(body)).hexdigest()


def seal(
    key: SigningKey,
    *,
    seq: int,
    prev: str | None,
    hlc: int,
    actor: str,
    type_name: str,
    version: int,
    data: dict[str, Any],
) -> Event:
    return sealed(
        key, seq=seq, prev=prev, hlc=hlc, actor=actor, type_name=type_name, version=version, data=data
    )[0]


def sealed(
    key: SigningKey,
    *,
    seq: int,
    prev: str | None,
    hlc: int,
    actor: str,
    type_name: str,
    version: int,
    data: dict[str, Any],
) -> tuple[Event, str]:
    """A new event of ``key``'s origin: its id and signature over the body's canonical bytes; and
    the canonical text of its data (what the store keeps), encoded once for both."""
    event_id, sig, text = seal_parts(
        key, seq=seq, prev=prev, hlc=hlc, actor=actor, type_name=type_name, version=version, data=data
    )
    return Event(event_id, key.public_hex, seq, prev, hlc, actor, type_name, version, data, sig), text


def seal_parts(
    key: SigningKey,
    *,
    seq: int,
    prev: str | None,
    hlc: int,
    actor: str,
    type_name: str,
    version: int,
    data: dict[str, Any],
) -> tuple[str, str, str]:
    """:func:`sealed`'s id, signature and data text, without building the event (a store that
    learns the event's position only when it inserts the row builds it once, with the position)."""
    raw, text = _encode_fields(key.public_hex, seq, prev, hlc, actor, type_name, version, data)
    return sha256(raw).hexdigest(), key.sign(raw), text


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and _HEX64.issuperset(value)


def from_json(obj: Any) -> Event:
    """Build an event from its JSON form, checking shape only (see :func:`check_seal`)."""
    if not isinstance(obj, dict):
        raise IntegrityError("not a JSON object")
    if obj.keys() != _FIELD_SET:
        missing = [name for name in ENVELOPE_FIELDS if name not in obj]
        if missing:
            raise IntegrityError(f"missing field(s): {', '.join(missing)}")
        extra = sorted(set(obj) - set(ENVELOPE_FIELDS))
        if extra:
            raise IntegrityError(f"unknown field(s): {key_names(extra)}")
    seq, hlc, v = obj["seq"], obj["hlc"], obj["v"]
    for name, value in (("seq", seq), ("hlc", hlc), ("v", v)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
            raise IntegrityError(f"{name} is not an integer between 0 and 2^63-1")
    if seq < 1:
        raise IntegrityError("seq must start at 1")
    if not is_public_key(obj["origin"]):
        raise IntegrityError("origin is not an ed25519 public key")
    if not _is_hex64(obj["id"]):
        raise IntegrityError("id is not a SHA-256 hex digest")
    prev = obj["prev"]
    if seq == 1 and prev is not None:
        raise IntegrityError("seq 1 must have no prev")
    if seq > 1 and not _is_hex64(prev):
        raise IntegrityError("prev is not an event id")
    if not is_actor(obj["actor"]):
        raise IntegrityError(f"actor {shown(obj['actor'])} is not a valid name")
    if not isinstance(obj["type"], str) or not obj["type"]:
        raise IntegrityError("type is not a string")
    if not is_type_name(obj["type"]):
        raise IntegrityError(
            f"type {shown(obj['type'])} is not an event type (lowercase words joined by dots, "
            f"at most {MAX_TYPE_CHARS} characters)"
        )
    if not isinstance(obj["data"], dict):
        raise IntegrityError("data is not an object")
    if not isinstance(obj["sig"], str):
        raise IntegrityError("sig is not a string")
    return Event(
        id=obj["id"],
        origin=obj["origin"],
        seq=seq,
        prev=prev,
        hlc=hlc,
        actor=obj["actor"],
        type=obj["type"],
        v=v,
        data=obj["data"],
        sig=obj["sig"],
    )


def parse_line(line: str | bytes) -> Event:
    try:
        obj = loads(line, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        from json import JSONDecodeError  # a refused text has imported json (see jsontext)

        if isinstance(exc, JSONDecodeError):
            what = exc.msg.removesuffix(" at")  # json's "Invalid control character at"
            raise IntegrityError(f"not valid JSON ({what} at column {exc.colno})") from None
        raise IntegrityError(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise IntegrityError("not valid JSON (nested too deeply)") from None
    return from_json(obj)


def body_encoding(event: Event) -> tuple[bytes, str]:
    """The canonical bytes of the event's body (what its id hashes and its signature signs) and
    the canonical text of its data (the stored ``data`` column), encoding the data once."""
    try:
        return _encode_body(event)
    except (ValueError, TypeError, RecursionError):
        raise IntegrityError(f"event {event.id[:12]}: data cannot be encoded canonically") from None


def _encode_body(event: Event) -> tuple[bytes, str]:
    """:func:`body_encoding`, raising the encoder's own errors."""
    return _encode_fields(
        event.origin, event.seq, event.prev, event.hlc, event.actor, event.type, event.v, event.data
    )


def _encode_fields(
    origin: Any, seq: Any, prev: Any, hlc: Any, actor: Any, type_name: Any, v: Any, data: Any
) -> tuple[bytes, str]:
    """The body's keys in sorted order around the data's text, exactly as :func:`canonical_bytes`
    writes them (a field of an unexpected type takes the general path)."""
    text_data = canonical_text(data)
    if (
        type(seq) is int
        and type(hlc) is int
        and type(v) is int
        and type(actor) is str
        and type(origin) is str
        and type(type_name) is str
        and (prev is None or type(prev) is str)
    ):
        quoted = _QUOTED.get
        previous = "null" if prev is None else _string(prev)
        text = (
            f'{{"actor":{quoted(actor) or _quoted(actor)},"data":{text_data},"hlc":{hlc},'
            f'"origin":{quoted(origin) or _quoted(origin)},"prev":{previous},'
            f'"seq":{seq},"type":{quoted(type_name) or _quoted(type_name)},"v":{v}}}'
        )
        return text.encode("utf-8"), text_data
    body = {
        "origin": origin,
        "seq": seq,
        "prev": prev,
        "hlc": hlc,
        "actor": actor,
        "type": type_name,
        "v": v,
        "data": data,
    }
    return canonical_bytes(body), text_data


#: The few origins, actors and types of a log, quoted (:func:`_quoted`).
_QUOTED: dict[str, str] = {}
_QUOTED_MAX = 1024


def _quoted(value: str) -> str:
    """:func:`_string`, kept for the next event (the cache starts again when it is full)."""
    if len(_QUOTED) >= _QUOTED_MAX:
        _QUOTED.clear()
    text = _QUOTED[value] = _string(value)
    return text


def _string(value: str) -> str:
    """``value`` as canonical JSON: quoted as is when nothing in it needs escaping (printable
    ASCII without quote or backslash, as ids, keys, names and types are), else by the encoder."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return _ENCODE(value)


def _body_bytes(event: Event) -> bytes:
    return body_encoding(event)[0]


def check_id(event: Event) -> None:
    """Raise :class:`IntegrityError` unless the id is the hash of the event's content."""
    if sha256(_body_bytes(event)).hexdigest() != event.id:
        raise IntegrityError(f"event {event.id[:12]}: id does not match its content")


def check_seal(event: Event) -> None:
    """Raise :class:`IntegrityError` unless the id matches the body and the signature is the origin's."""
    raw = _body_bytes(event)
    if sha256(raw).hexdigest() != event.id:
        raise IntegrityError(f"event {event.id[:12]}: id does not match its content")
    if not signature_ok(event.origin, raw, event.sig):
        raise IntegrityError(f"event {event.id[:12]}: bad signature for origin {event.origin[:12]}")
