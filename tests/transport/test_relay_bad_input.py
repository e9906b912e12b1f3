"""Bad input to a real relay process over real WebSockets: garbage, binary and oversize frames,
wrong types, a huge version vector, a replayed hello or auth, forged and reordered events, a peer
that stops reading. Each gets a clear error frame or close; nothing bad is stored; other peers keep
being served."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from datacore_msg.eventlog.envelope import seal
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import WRONG_SECRET, Endpoint, Send, State
from datacore_msg.transport.relay_store import open_relay_store
from relayclient import NOW_MS, chain, error_then_close, well_behaved_sync
from relayproc import RelayProcess
from syncnet import nonce

pytestmark = pytest.mark.slow


def relay_count(relay: RelayProcess) -> int:
    store = open_relay_store(relay.data)
    try:
        return store.count()
    finally:
        store.close()


def admitted(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack, key: SigningKey | None = None
) -> tuple[ClientConnection, Endpoint]:
    """A raw WebSocket admitted by the relay (the handshake driven by a real client endpoint)."""
    source = open_relay_store(tmp_path / f"empty-{nonce()[:8]}")
    endpoint = Endpoint.client(
        source, relay.secret.encode() if relay.secret else b"", key or SigningKey.generate(), nonce()
    )
    ws = stack.enter_context(connect(relay.url, max_size=None))
    pending = endpoint.start()
    while True:
        for out in pending:
            if isinstance(out, Send):
                ws.send(out.text)
        if endpoint.state in (State.SYNCING, State.LIVE):
            return ws, endpoint
        pending = endpoint.receive(ws.recv(timeout=30))


def still_served(relay: RelayProcess, tmp_path: Path, stack: ExitStack) -> None:
    ws, _ = admitted(relay, tmp_path, stack)
    ws.send(frames.encode(frames.Ping()))
    while True:
        frame = frames.decode(ws.recv(timeout=30))
        if isinstance(frame, frames.Pong):
            break
    ws.close()
    assert relay.status()["status"] == "ok"
    well_behaved_sync(relay, tmp_path)  # a real peer syncs; the relay's log holds nothing bad


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("\x00\x01 not json", "bad_frame"),
        (b"\x00binary", "bad_frame"),
        (json.dumps({"v": 1, "t": "hello", "key": 5, "nonce": "x"}), "bad_frame"),
        (json.dumps({"v": 9, "t": "hello"}), "version"),
        (json.dumps({"v": 1, "t": "heads", "heads": {}}), "unexpected"),  # before admission
        (json.dumps({"v": 1, "t": "auth", "mac": "00" * 32, "sig": "00" * 64}), "unexpected"),
        (json.dumps({"v": 1, "t": "challenge", "nonce": "00" * 32}), "unexpected"),
        (json.dumps([1, 2, 3]), "bad_frame"),
        ("{" * 100_000, "bad_frame"),
    ],
    ids=[
        "garbage",
        "binary",
        "wrong-types",
        "version",
        "out-of-order",
        "auth-first",
        "wrong-role",
        "array",
        "deep",
    ],
)
def test_a_bad_first_frame_gets_an_error_and_a_close(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack, raw: str | bytes, code: str
) -> None:
    with connect(relay.url) as ws:
        ws.send(raw)
        assert error_then_close(ws).code == code
    still_served(relay, tmp_path, stack)


def test_an_oversize_frame_closes_the_connection_with_1009(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    with connect(relay.url, max_size=None) as ws:
        ws.send("x" * (frames.MAX_FRAME_BYTES + 10))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    still_served(relay, tmp_path, stack)


def test_a_huge_version_vector_is_refused(relay: RelayProcess, tmp_path: Path, stack: ExitStack) -> None:
    ws, _ = admitted(relay, tmp_path, stack)
    origins = {SigningKey.generate().public_hex: 1 for _ in range(frames.MAX_VECTOR_ORIGINS + 1)}
    ws.send(json.dumps({"v": 1, "t": "ack", "batch": 1, "heads": origins, "rejected": []}))
    assert error_then_close(ws).code == "limit"
    still_served(relay, tmp_path, stack)


def test_a_replayed_hello_and_a_replayed_auth_are_refused(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    key = SigningKey.generate()
    endpoint = Endpoint.client(
        open_relay_store(tmp_path / "e"), relay.secret.encode() if relay.secret else b"", key, nonce()
    )
    hello = next(o for o in endpoint.start() if isinstance(o, Send)).text
    with connect(relay.url) as ws:
        ws.send(hello)
        auth = next(o for o in endpoint.receive(ws.recv(timeout=30)) if isinstance(o, Send)).text
        ws.send(auth)
        assert isinstance(frames.decode(ws.recv(timeout=30)), frames.Welcome)
    with connect(relay.url) as ws:
        ws.send(hello)
        assert error_then_close(ws).code == "nonce_reused"
    fresh = Endpoint.client(open_relay_store(tmp_path / "f"), b"x" * 32, key, nonce())
    with connect(relay.url) as ws:
        ws.send(next(o for o in fresh.start() if isinstance(o, Send)).text)
        ws.recv(timeout=30)  # a challenge with a new relay nonce
        ws.send(auth)  # the recorded answer to the old one
        error = error_then_close(ws)
    assert error.code == "auth_failed" and error.reason == WRONG_SECRET
    still_served(relay, tmp_path, stack)


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (
            lambda ev: {"v": 1, "t": "events", "batch": 1, "events": [ev] * (frames.MAX_BATCH_EVENTS + 1)},
            "limit",
        ),
        (lambda ev: {"v": 1, "t": "events", "batch": 3, "events": [ev]}, "unexpected"),
        (lambda ev: {"v": 1, "t": "events", "batch": 1, "events": []}, "limit"),
        (lambda ev: {"v": 1, "t": "events", "batch": "1", "events": [ev]}, "bad_frame"),
        (lambda ev: {"v": 1, "t": "ack", "batch": 7, "heads": {}, "rejected": []}, "unexpected"),
        (lambda ev: {"v": 1, "t": "heads", "heads": {}}, "unexpected"),  # heads twice
    ],
    ids=[
        "over-500-events",
        "batch-skipped",
        "empty-batch",
        "batch-as-string",
        "ack-never-sent",
        "heads-twice",
    ],
)
def test_a_bad_frame_after_admission_gets_an_error_and_nothing_is_stored(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack, build: Any, code: str
) -> None:
    ws, _ = admitted(relay, tmp_path, stack)
    [event] = [
        seal(
            SigningKey.generate(),
            seq=1,
            prev=None,
            hlc=NOW_MS << 16,
            actor="tex",
            type_name="note",
            version=1,
            data={},
        )
    ]
    ws.send(json.dumps(build(event.to_json())))
    assert error_then_close(ws).code == code
    assert relay_count(relay) == 0
    still_served(relay, tmp_path, stack)


def _ack(ws: ClientConnection) -> frames.Ack:
    while True:
        frame = frames.decode(ws.recv(timeout=30))
        if isinstance(frame, frames.Ack):
            return frame


def test_forged_and_reordered_events_are_rejected_and_the_valid_ones_kept(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    ws, _ = admitted(relay, tmp_path, stack)
    author = SigningKey.generate()
    first = seal(
        author, seq=1, prev=None, hlc=NOW_MS << 16, actor="tex", type_name="note", version=1, data={"n": 1}
    )
    second = seal(
        author,
        seq=2,
        prev=first.id,
        hlc=(NOW_MS << 16) + 1,
        actor="tex",
        type_name="note",
        version=1,
        data={"n": 2},
    )
    forged = second.evolve(data={"n": 666})
    # reordered: seq 2 before seq 1 (its predecessor is not stored yet), then a forged copy of seq 2
    ws.send(frames.encode(frames.Events(1, [second, first, forged])))
    ack = _ack(ws)
    reasons = dict(ack.rejected)
    assert set(reasons) == {0, 2}
    assert "predecessor" in reasons[0] and "id does not match" in reasons[2]
    assert ack.heads == {author.public_hex: 1}
    assert relay_count(relay) == 1
    ws.send(frames.encode(frames.Events(2, [second])))
    assert _ack(ws).heads == {author.public_hex: 2}
    assert relay_count(relay) == 2
    ws.close()
    still_served(relay, tmp_path, stack)


def test_a_peer_that_stops_reading_does_not_stop_the_others(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    writer, _ = admitted(relay, tmp_path, stack)
    events = chain(SigningKey.generate(), 400, pad="x" * 2000)
    # a reader that never reads: the relay pushes to it up to its window, then waits for acks
    sleeper, _ = admitted(relay, tmp_path, stack)
    for number, start in enumerate(range(0, 400, 100), start=1):
        writer.send(frames.encode(frames.Events(number, events[start : start + 100])))
        _ack(writer)
    assert relay_count(relay) == 400
    # another peer catches up with everything while the sleeper still holds its connection
    late, _ = admitted(relay, tmp_path, stack)
    received = 0
    while received < 400:
        frame = frames.decode(late.recv(timeout=30))
        if isinstance(frame, frames.Events):
            received += len(frame.events)
            late.send(frames.encode(frames.Ack(frame.batch, {}, [])))
    assert received == 400
    assert relay.status()["connected"] >= 2
    for ws in (writer, sleeper, late):
        ws.close()
