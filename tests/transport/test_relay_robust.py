"""A real relay process under load and abuse: it keeps serving while it stores a large batch (the
store has its own thread), wrong secrets from one address wait longer each time (and the address is
refused meanwhile), a peer that never reads what it asked for is cut off without growing the relay,
and ``/metrics`` counts what happened, scraped during a run."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import WRONG_SECRET, peer_mac, signed_challenge
from relayclient import Tally, admitted, chain, error_then_close, relay_log, well_behaved_sync
from relayproc import RelayProcess
from syncnet import nonce

pytestmark = pytest.mark.slow


def metrics(relay: RelayProcess) -> dict[str, int]:
    code, kind, text = relay.get("/metrics")
    assert code == 200 and kind.startswith("text/plain")
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            out[name] = int(value)
    return out


def until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def wrong_secret_attempt(relay: RelayProcess) -> tuple[float, int, int]:
    """Hello, then an auth with a MAC over a wrong secret (the key signs correctly): the seconds
    from sending the auth to the relay's answer, which must be ``auth_failed``; the frame bytes
    sent and received."""
    key = SigningKey.generate()
    client_nonce = nonce()
    with connect(relay.url) as raw:
        ws = Tally(raw)
        ws.send(frames.encode(frames.Hello(key.public_hex, client_nonce)))
        challenge = ws.recv()
        assert isinstance(challenge, frames.Challenge)
        mac = peer_mac(b"not-the-team-secret-at-all", challenge.nonce, client_nonce, key.public_hex)
        sig = key.sign(signed_challenge(challenge.nonce, client_nonce))
        start = time.monotonic()
        ws.send(frames.encode(frames.Auth(mac, sig)))
        error = ws.recv()
        elapsed = time.monotonic() - start
        with pytest.raises(ConnectionClosed):
            raw.recv(timeout=30)
    assert isinstance(error, frames.Error)
    assert error.code == "auth_failed" and error.reason == WRONG_SECRET
    return elapsed, ws.sent, ws.received


def test_wrong_secrets_from_one_address_wait_longer_each_time(relay: RelayProcess, tmp_path: Path) -> None:
    waits = [wrong_secret_attempt(relay)[0] for _ in range(4)]
    # 0.25 s, 0.5 s, 1 s, 2 s (the relay's defaults), each at least that long
    for wait, floor in zip(waits, (0.25, 0.5, 1.0, 2.0), strict=True):
        assert wait >= floor * 0.95, waits
    assert waits[3] > waits[0] + 1.0
    # while the fifth answer is delayed (4 s), a new connection from the address is refused
    key = SigningKey.generate()
    client_nonce = nonce()
    with connect(relay.url) as ws:
        ws.send(frames.encode(frames.Hello(key.public_hex, client_nonce)))
        challenge = frames.decode(ws.recv(timeout=30))
        assert isinstance(challenge, frames.Challenge)
        mac = peer_mac(b"still-the-wrong-secret", challenge.nonce, client_nonce, key.public_hex)
        ws.send(frames.encode(frames.Auth(mac, key.sign(signed_challenge(challenge.nonce, client_nonce)))))
        time.sleep(0.5)
        with pytest.raises(InvalidStatus) as refused:
            connect(relay.url, open_timeout=30)
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        assert error_then_close(ws).code == "auth_failed"
    seen = metrics(relay)
    assert seen["datacore_relay_auth_failures_total"] == 5
    assert seen["datacore_relay_refused_penalty_total"] == 1
    assert seen["datacore_relay_connections"] == 0
    well_behaved_sync(relay, tmp_path)  # after the delay, the address is served again


def test_the_relay_keeps_serving_while_it_stores_large_batches(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    writer = admitted(relay, tmp_path, stack)
    other = admitted(relay, tmp_path, stack)
    events = chain(SigningKey.generate(), 2000, pad="z" * 200)
    for number in range(1, 5):  # the window: four batches of 500 fresh signatures to check
        writer.send(frames.encode(frames.Events(number, [*events[(number - 1) * 500 : number * 500]])))
    pongs = 0
    acked = 0
    while acked < 4:
        other.send(frames.encode(frames.Ping()))
        while not isinstance(other.recv(), frames.Pong):
            pass  # the fan-out of what the writer sent
        pongs += 1
        try:
            while True:
                if isinstance(writer.recv(timeout=0), frames.Ack):
                    acked += 1
        except TimeoutError:
            pass
    # stored on the event loop, a ping would be answered only between two batches (four at most)
    assert pongs >= 10, pongs
    assert len(relay_log(relay)) == 2000
    well_behaved_sync(relay, tmp_path)


def test_a_peer_that_never_reads_its_answers_is_cut_off(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    """It sends batches of malformed events, each answered by an ack listing 500 reasons, and reads
    nothing: once the socket's buffers are full, the relay's queue for it overflows and it is cut
    off; its queue never grows past the limit, other peers are served meanwhile."""
    sock = socket.create_connection(("127.0.0.1", relay.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper = admitted(relay, tmp_path, stack, sock=sock, max_queue=1)
    garbage = json.dumps([{"junk": n} for n in range(500)])
    sent = 0
    with pytest.raises((ConnectionClosed, OSError)):
        for number in range(1, 2001):
            sleeper.ws.send(f'{{"v":1,"t":"events","batch":{number},"events":{garbage}}}')
            sent = number
            if number % 50 == 0 and metrics(relay)["datacore_relay_cut_off_total"] == 1:
                break
        until(lambda: metrics(relay)["datacore_relay_cut_off_total"] == 1)
        until(lambda: metrics(relay)["datacore_relay_sockets"] == 0)
        sleeper.ws.recv(timeout=60)
        for _ in range(1000):
            sleeper.ws.recv(timeout=60)
    assert 0 < sent < 2000
    seen = metrics(relay)
    assert seen["datacore_relay_cut_off_total"] == 1
    assert seen["datacore_relay_rejects_total"] >= 500
    assert seen["datacore_relay_events_in_total"] == 0
    assert relay_log(relay) == set()
    well_behaved_sync(relay, tmp_path)


def test_metrics_count_what_happened_during_a_run(
    relay: RelayProcess, tmp_path: Path, stack: ExitStack
) -> None:
    _, wrong_in, wrong_out = wrong_secret_attempt(relay)
    reader = admitted(relay, tmp_path, stack)
    writer = admitted(relay, tmp_path, stack)
    author = SigningKey.generate()
    events = chain(author, 100, pad="é" * 50)  # not ASCII: bytes are counted, not characters
    batch = [*events, *chain(SigningKey.generate(), 2, first=5)]  # two without their predecessors
    writer.send(frames.encode(frames.Events(1, [*batch])))
    ack = writer.recv()
    while not isinstance(ack, frames.Ack):
        ack = writer.recv()
    assert len(ack.rejected) == 2
    until(lambda: metrics(relay)["datacore_relay_events_out_total"] == 100)
    during = metrics(relay)
    assert during["datacore_relay_connections"] == 2
    assert during["datacore_relay_events_in_total"] == 100
    assert during["datacore_relay_rejects_total"] == 2
    assert during["datacore_relay_auth_failures_total"] == 1
    # the reader has not acknowledged the fan-out yet: one batch, 100 events behind
    assert during["datacore_relay_catchup_batches_in_flight"] == 1
    assert during["datacore_relay_catchup_lag_events"] == 100
    got = reader.recv()
    while not isinstance(got, frames.Events):
        got = reader.recv()
    assert [e.id for e in got.events if not isinstance(e, Exception)] == [e.id for e in events]
    reader.send(frames.encode(frames.Ack(got.batch, {author.public_hex: 100}, [])))
    until(lambda: metrics(relay)["datacore_relay_catchup_lag_events"] == 0)
    after = metrics(relay)
    assert after["datacore_relay_catchup_batches_in_flight"] == 0
    # every frame byte each way, UTF-8 counted, the refused attempt's included
    assert after["datacore_relay_bytes_in_total"] == reader.sent + writer.sent + wrong_in
    assert after["datacore_relay_bytes_out_total"] == reader.received + writer.received + wrong_out
    for ws in (reader, writer):
        ws.close()
    until(lambda: metrics(relay)["datacore_relay_connections"] == 0)


def test_a_peer_over_its_events_per_second_is_slowed_down_not_cut_off(tmp_path: Path) -> None:
    """A relay (in this process) allowing 200 events a second, 200 at once: four batches of 100
    take at least a second to be acknowledged; all are stored; the connection stays open."""
    from websockets.asyncio.client import connect as connect_async
    from websockets.asyncio.server import serve

    from datacore_msg.transport.protocol import Endpoint, Send
    from datacore_msg.transport.relay_server import Limits, Relay
    from datacore_msg.transport.relay_store import open_relay_store
    from relayproc import SECRET

    store = open_relay_store(tmp_path / "relay")
    relay = Relay(store, SECRET, Limits(events_per_s=200, events_burst=200))
    events = chain(SigningKey.generate(), 400)

    async def scenario() -> float:
        async with serve(relay.handler, "127.0.0.1", 0, process_request=relay.process_request) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect_async(f"ws://127.0.0.1:{port}/ws") as ws:
                source = open_relay_store(tmp_path / "peer")
                endpoint = Endpoint.client(source, SECRET.encode(), SigningKey.generate(), nonce())
                pending = endpoint.start()
                while endpoint.state.value not in ("syncing", "live"):
                    for out in pending:
                        if isinstance(out, Send):
                            await ws.send(out.text)
                    pending = endpoint.receive(await ws.recv())
                start = time.monotonic()
                for number in range(1, 5):
                    await ws.send(
                        frames.encode(frames.Events(number, [*events[(number - 1) * 100 : number * 100]]))
                    )
                acks = 0
                while acks < 4:
                    frame = frames.decode(await ws.recv())
                    if isinstance(frame, frames.Ack):
                        assert not frame.rejected
                        acks += 1
                source.close()
                return time.monotonic() - start

    try:
        elapsed = asyncio.run(scenario())
        assert elapsed >= 0.9, elapsed  # 400 events, 200 at once, then 200 a second
        assert relay.metrics.throttled >= 1
        assert relay.metrics.events_in == 400 and relay.metrics.cut_off == 0
    finally:
        relay.close()
        store.close()
