"""Defects of the relay found by trying it as an attacker (``transport/protocol.py``, ``frames.py``,
``relay_server.py``): each test states what must hold. They were strict-xfail tests until the code
was fixed; all of them pass now."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.errors import ProtocolError
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport.frames import decode
from datacore_msg.transport.protocol import Endpoint, NonceBook, Send, peer_mac, signed_challenge
from datacore_msg.transport.relay_store import open_relay_store
from relayproc import RelayProcess

SECRET = b"correct-horse-battery"  # a weak (but long enough) secret a team might choose
CLOCK_MS = 1_796_000_000_000


def test_an_unauthenticated_hello_gets_nothing_to_test_secret_guesses_against(tmp_path: Path) -> None:
    """Anyone who can reach /ws sends a hello; if the answer depended on the secret (as a proof
    ``HMAC(secret, "relay\\0" + nonces)`` in the challenge did), every guess of the secret could be
    checked offline, with no failed login for the relay to slow down. So the challenge is the same
    whatever the secret, and an auth with a wrong MAC gets the same refusal whatever the secret: the
    relay's proof comes only in the welcome, after the caller's proof checked out."""
    store = open_relay_store(tmp_path / "relay")
    try:
        key = SigningKey.generate()
        client_nonce, relay_nonce = "cd" * 32, "ab" * 32
        hello = json.dumps({"v": 1, "t": "hello", "key": key.public_hex, "nonce": client_nonce})
        wrong_mac = peer_mac(b"a guess that is wrong", relay_nonce, client_nonce, key.public_hex)
        sig = key.sign(signed_challenge(relay_nonce, client_nonce))
        auth = json.dumps({"v": 1, "t": "auth", "mac": wrong_mac, "sig": sig})
        answers = []
        for secret in (SECRET, b"another-secret-entirely"):
            server = Endpoint.server(store, secret, relay_nonce, NonceBook())
            answers.append(
                [o.text for o in server.receive(hello) + server.receive(auth) if isinstance(o, Send)]
            )
        assert answers[0] == answers[1], "an answer before admission depends on the secret"
        assert [json.loads(text)["t"] for text in answers[0]] == ["challenge", "error"]
        assert set(json.loads(answers[0][0])) == {"v", "t", "nonce"}
    finally:
        store.close()


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_a_version_that_is_not_the_integer_1_is_refused(version: str) -> None:
    raw = f'{{"v": {version}, "t": "hello", "key": "{"a" * 64}", "nonce": "{"b" * 64}"}}'
    with pytest.raises(ProtocolError):
        decode(raw)


@pytest.mark.slow
def test_a_second_connection_of_one_key_replaces_the_first(relay: RelayProcess) -> None:
    """Issue 12: 'a second connection of the same key replaces the first (the new one wins)'.

    The relay marks the older connection closed before the newer one's welcome can go out, so
    ``/status`` counts one as soon as the second is admitted. The older client learns it from the
    frames it reads (``error replaced``, then a close frame whose reason is ``replaced``): its
    ``close_code`` is only set once its event loop has processed that close, which a synchronous
    ``/status`` poll does not let happen, so the test reads the first connection instead."""
    import websockets

    key = SigningKey.generate()
    secret = relay.secret.encode() if relay.secret else b""

    async def admitted(nonce: str) -> websockets.ClientConnection:
        ws = await websockets.connect(relay.url)
        await ws.send(json.dumps({"v": 1, "t": "hello", "key": key.public_hex, "nonce": nonce}))
        challenge = json.loads(await ws.recv())
        mac = peer_mac(secret, challenge["nonce"], nonce, key.public_hex)
        sig = key.sign(signed_challenge(challenge["nonce"], nonce))
        await ws.send(json.dumps({"v": 1, "t": "auth", "mac": mac, "sig": sig}))
        assert json.loads(await ws.recv())["t"] == "welcome"
        return ws

    async def scenario() -> None:
        first = await admitted("01" * 32)
        second = await admitted("02" * 32)
        try:
            assert relay.status()["connected"] == 1  # at once: no window where both count
            frames_seen = []
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    frames_seen.append(json.loads(await asyncio.wait_for(first.recv(), 30)))
            assert frames_seen[-1]["t"] == "error" and frames_seen[-1]["code"] == "replaced"
            assert first.close_reason == "replaced"
            assert relay.status()["connected"] == 1  # the newer one is still admitted
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_ten_thousand_throwaway_keys_do_not_cut_the_team_off_its_relay(
    make_installation: Any, tmp_path: Path
) -> None:
    """Anyone with the team secret can send one valid event from each of 10,001 fresh keys (a few
    MB): the relay stores them all, and from then on its ``heads`` frame names more origins than a
    peer accepts (``error limit``), so no installation can sync any more."""
    from datacore_msg.eventlog.envelope import seal
    from syncnet import Net

    clock = iter(range(CLOCK_MS, CLOCK_MS + 10**9, 1000))
    net = Net(tmp_path / "relay", lambda: next(clock))
    junk = [
        seal(key, seq=1, prev=None, hlc=CLOCK_MS << 16, actor="x", type_name="junk.event", version=1, data={})
        for key in (SigningKey.generate() for _ in range(10_001))
    ]
    report = net.relay.ingest(list(enumerate(junk)), CLOCK_MS)
    assert len(report.accepted) == 10_001
    tex = make_installation("tex")
    space = tex.space()
    try:
        net.add("tex", space)
        link = net.connect("tex")
        net.run()
        assert not link.closes, link.closes
        assert link.client.settled
    finally:
        space.close()
        net.close()
