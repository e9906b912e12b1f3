"""Frames: every frame type round-trips; every malformed frame is a ProtocolError naming the cause
(never another exception), and an endpoint answers it with an error frame and closes."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.errors import IntegrityError, ProtocolError
from datacore_msg.eventlog.envelope import seal
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import Close, Endpoint, NonceBook, Send
from datacore_msg.transport.relay_store import open_relay_store

KEY = SigningKey.generate()
PK = KEY.public_hex
EVENT = seal(KEY, seq=1, prev=None, hlc=1, actor="tex", type_name="note", version=1, data={"x": 1})

ROUND_TRIP = [
    frames.Hello(PK, "a" * 64),
    frames.Challenge("b" * 64),
    frames.Auth("d" * 64, "e" * 128),
    frames.Welcome("c" * 64),
    frames.Heads({PK: 3}),
    frames.Heads({PK: 3}, more=True),
    frames.Events(7, [EVENT]),
    frames.Ack(7, {PK: 1}, [(0, "bad signature")]),
    frames.CaughtUp(),
    frames.Ping(),
    frames.Pong(),
    frames.Error("auth_failed", "wrong team secret"),
]


@pytest.mark.parametrize("frame", ROUND_TRIP, ids=lambda f: f.TYPE)
def test_every_frame_round_trips(frame: frames.Frame) -> None:
    text = frames.encode(frame)
    assert json.loads(text)["v"] == frames.PROTOCOL_VERSION
    assert frames.decode(text) == frame


def _obj(**fields: Any) -> str:
    return json.dumps({"v": 1, **fields})


BAD = [
    ("not json", "{nope", "bad_frame", "not valid JSON"),
    ("a list", "[1, 2]", "bad_frame", "not a JSON object"),
    ("binary", b'{"v":1,"t":"ping"}', "bad_frame", "binary frames"),
    ("no version", json.dumps({"t": "ping"}), "version", "version"),
    ("future version", json.dumps({"v": 2, "t": "ping"}), "version", "not supported"),
    ("unknown type", _obj(t="gossip"), "bad_frame", "unknown frame type"),
    ("type not a string", _obj(t=5), "bad_frame", "unknown frame type"),
    ("missing field", _obj(t="hello", key=PK), "bad_frame", "missing field(s) nonce"),
    ("extra field", _obj(t="ping", admin=True), "bad_frame", "unknown field(s) admin"),
    ("key not a key", _obj(t="hello", key="gregor", nonce="a" * 64), "bad_frame", "not an ed25519"),
    ("short nonce", _obj(t="hello", key=PK, nonce="ab"), "bad_frame", "64 lowercase hex"),
    ("nonce a number", _obj(t="hello", key=PK, nonce=5), "bad_frame", "64 lowercase hex"),
    ("heads a list", _obj(t="heads", heads=[1]), "bad_frame", "not an object"),
    ("heads more not a bool", _obj(t="heads", heads={}, more=1), "bad_frame", "more is not true or false"),
    ("heads seq a string", _obj(t="heads", heads={PK: "3"}), "bad_frame", "not an integer"),
    ("heads seq negative", _obj(t="heads", heads={PK: -1}), "bad_frame", "not an integer"),
    ("heads seq a bool", _obj(t="heads", heads={PK: True}), "bad_frame", "not an integer"),
    ("heads origin not a key", _obj(t="heads", heads={"x": 1}), "bad_frame", "not an ed25519"),
    ("batch zero", _obj(t="events", batch=0, events=[EVENT.to_json()]), "bad_frame", "batch"),
    ("batch a float", _obj(t="events", batch=1.5, events=[EVENT.to_json()]), "bad_frame", "batch"),
    ("events not a list", _obj(t="events", batch=1, events={}), "bad_frame", "not a list"),
    ("empty batch", _obj(t="events", batch=1, events=[]), "limit", "1 to"),
    ("batch too big", _obj(t="events", batch=1, events=[{}] * 501), "limit", "1 to 500"),
    ("ack rejection not a pair", _obj(t="ack", batch=1, heads={}, rejected=[[1]]), "bad_frame", "[index"),
    ("error reason too long", _obj(t="error", code="x", reason="y" * 501), "bad_frame", "at most"),
    ("NaN", '{"v":1,"t":"heads","heads":{"' + PK + '":NaN}}', "bad_frame", "not valid JSON"),
    ("deep nesting", '{"v":1,"t":"ping","x":' + "[" * 100_000 + "]" * 100_000 + "}", "bad_frame", "JSON"),
]


@pytest.mark.parametrize(("raw", "reason", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_frame_is_a_protocol_error_naming_the_cause(raw: str | bytes, reason: str, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        frames.decode(raw)
    assert caught.value.reason == reason
    assert words in str(caught.value)


def test_an_oversize_frame_is_refused_before_it_is_parsed() -> None:
    raw = _obj(t="error", code="x", reason="y" * (frames.MAX_FRAME_BYTES + 1))
    with pytest.raises(ProtocolError, match="over 1048576 bytes") as caught:
        frames.decode(raw)
    assert caught.value.reason == "limit"


def test_a_huge_version_vector_is_refused() -> None:
    keys = [SigningKey.generate().public_hex for _ in range(frames.MAX_VECTOR_ORIGINS + 1)]
    raw = _obj(t="heads", heads=dict.fromkeys(keys, 1))
    with pytest.raises(ProtocolError, match="over 10000 origins"):
        frames.decode(raw)


def test_a_malformed_event_stays_in_its_batch_as_its_reason() -> None:
    raw = _obj(t="events", batch=1, events=[EVENT.to_json(), {"id": "x"}, 5])
    decoded = frames.decode(raw)
    assert isinstance(decoded, frames.Events)
    assert decoded.events[0] == EVENT
    assert isinstance(decoded.events[1], IntegrityError) and "event 1 of the batch" in str(decoded.events[1])
    assert isinstance(decoded.events[2], IntegrityError) and "not a JSON object" in str(decoded.events[2])


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(
        st.text(max_size=300),
        st.binary(max_size=100),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda obj: json.dumps({"v": 1, "t": "events", "batch": 1, "events": obj})),
    )
)
def test_decoding_never_raises_anything_but_a_protocol_error(raw: str | bytes) -> None:
    with contextlib.suppress(ProtocolError):
        frames.decode(raw)


def test_an_endpoint_answers_garbage_with_an_error_frame_and_closes(tmp_path: Path) -> None:
    store = open_relay_store(tmp_path / "r")
    server = Endpoint.server(store, b"s" * 32, "f" * 64, NonceBook())
    out = server.receive("\x00garbage")
    error = frames.decode(next(o for o in out if isinstance(o, Send)).text)
    assert isinstance(error, frames.Error) and error.code == "bad_frame"
    assert [o.code for o in out if isinstance(o, Close)] == ["bad_frame"]
    assert server.receive(frames.encode(frames.Ping())) == []  # closed: nothing more is read
    store.close()
