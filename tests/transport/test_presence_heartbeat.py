"""Presence, the heartbeat and same-key replacement in the sans-I/O protocol, in memory.

Table rows for what an endpoint does with a ``presence`` or ``who`` frame in each role, for the
heartbeat's pings and timeout as time passes (time is an argument), and for replacement; then three
peers through the in-memory relay: announcements, the roster, a change of status, a peer leaving."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.errors import ProtocolError
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import (
    TRANSITIONS,
    Close,
    Endpoint,
    NonceBook,
    Output,
    PresenceChanged,
    Role,
    Send,
    State,
    WhoAsked,
)
from datacore_msg.transport.relay_store import open_relay_store
from syncnet import SECRET, Net, nonce

_n = itertools.count()
OTHER = SigningKey.generate().public_hex


def _live_pair(tmp_path: Path) -> tuple[Endpoint, Endpoint]:
    store = open_relay_store(tmp_path / f"s{next(_n)}")
    client = Endpoint.client(store, SECRET, SigningKey.generate(), nonce())
    server = Endpoint.server(store, SECRET, nonce(), NonceBook())
    queue = [("server", o.text) for o in client.start() if isinstance(o, Send)]
    while queue:
        to, text = queue.pop(0)
        target, back = (server, "client") if to == "server" else (client, "server")
        queue += [(back, o.text) for o in target.receive(text) if isinstance(o, Send)]
    assert client.state is State.LIVE and server.state is State.LIVE
    return client, server


def _sent(outputs: list[Output]) -> list[frames.Frame]:
    return [frames.decode(o.text) for o in outputs if isinstance(o, Send)]


def _shape(outputs: list[Output]) -> list[str]:
    shapes = []
    for out in outputs:
        if isinstance(out, Send):
            frame = frames.decode(out.text)
            shapes.append(f"error {frame.code}" if isinstance(frame, frames.Error) else frame.TYPE)
        elif isinstance(out, Close):
            shapes.append(f"close {out.code}")
        else:
            shapes.append(type(out).__name__)
    return shapes


# -- presence and who, row by row --------------------------------------------------------------------

SELF = "<self>"
PRESENCE_ROWS = [
    # (case, role receiving, frame (key SELF: the client's own), outputs, state after)
    (
        "relay: a peer announces its status",
        Role.SERVER,
        ("presence", SELF, "busy"),
        ["PresenceChanged"],
        State.LIVE,
    ),
    (
        "relay: another key's status",
        Role.SERVER,
        ("presence", OTHER, "busy"),
        ["error unexpected", "close unexpected"],
        State.CLOSED,
    ),
    (
        "relay: offline is not announced",
        Role.SERVER,
        ("presence", SELF, "offline"),
        ["error bad_frame", "close bad_frame"],
        State.CLOSED,
    ),
    ("relay: who?", Role.SERVER, ("who", {}), ["WhoAsked"], State.LIVE),
    (
        "relay: a question naming peers",
        Role.SERVER,
        ("who", {OTHER: "online"}),
        ["error bad_frame", "close bad_frame"],
        State.CLOSED,
    ),
    ("client: a teammate's status", Role.CLIENT, ("presence", OTHER, "away"), [], State.LIVE),
    ("client: a teammate left", Role.CLIENT, ("presence", OTHER, "offline"), [], State.LIVE),
    ("client: the roster", Role.CLIENT, ("who", {OTHER: "focusing"}), [], State.LIVE),
]


@pytest.mark.parametrize(
    ("case", "role", "frame", "outputs", "after"), PRESENCE_ROWS, ids=[row[0] for row in PRESENCE_ROWS]
)
def test_presence_rows(
    tmp_path: Path, case: str, role: Role, frame: tuple[Any, ...], outputs: list[str], after: State
) -> None:
    client, server = _live_pair(tmp_path)
    me = server if role is Role.SERVER else client
    own = client.peer_key
    assert own is not None
    if frame[0] == "presence":
        built: frames.Frame = frames.Presence(own if frame[1] == SELF else frame[1], frame[2])
    else:
        built = frames.Who(frame[1])
    client.presence = {OTHER: "online"}
    out = me.receive(frames.encode(built))
    assert _shape(out) == outputs
    assert me.state is after
    if case == "relay: a peer announces its status":
        assert out == [PresenceChanged(own, "busy")] and server.peer_status == "busy"
    if case == "client: a teammate's status":
        assert client.presence == {OTHER: "away"}
    if case == "client: a teammate left":
        assert client.presence == {}
    if case == "client: the roster":
        assert client.presence == {OTHER: "focusing"} and client.roster_received


def test_presence_and_who_are_self_loops_of_the_admitted_states_only() -> None:
    for kind in ("presence", "who"):
        allowed = {state for (state, trigger), after in TRANSITIONS.items() if trigger == kind}
        assert allowed == {State.SYNCING, State.LIVE}
        assert all(TRANSITIONS[(state, kind)] is state for state in allowed)


def test_an_announcement_and_a_question_made_before_admission_go_out_with_the_heads(tmp_path: Path) -> None:
    store = open_relay_store(tmp_path / "s")
    client = Endpoint.client(store, SECRET, SigningKey.generate(), nonce())
    server = Endpoint.server(store, SECRET, nonce(), NonceBook())
    assert client.announce("focusing") == [] and client.ask_who() == []
    queue = [("server", o.text) for o in client.start() if isinstance(o, Send)]
    asked = 0
    while queue:
        to, text = queue.pop(0)
        target, back = (server, "client") if to == "server" else (client, "server")
        outs = target.receive(text)
        if any(isinstance(o, WhoAsked) for o in outs):
            asked += 1
            outs += target.roster({client.peer_key or "": server.peer_status or ""})
        queue += [(back, o.text) for o in outs if isinstance(o, Send)]
    assert server.peer_status == "focusing" and asked == 1
    assert client.presence == {client.peer_key: "focusing"} and client.roster_received
    # once live, an announcement goes out at once
    assert _sent(client.announce("away")) == [frames.Presence(client.peer_key or "", "away")]
    with pytest.raises(ProtocolError):
        client.announce("asleep")


# -- the heartbeat -----------------------------------------------------------------------------------

PING, DEAD = 15_000, 45_000
HEARTBEAT_ROWS = [
    # (case, state, [(now_ms, heard a frame since the last tick, outputs)])
    (
        "a silent peer is pinged, then timed out",
        State.LIVE,
        [
            (1_000, False, []),
            (15_999, False, []),
            (16_000, False, ["ping"]),
            (20_000, False, []),
            (31_000, False, ["ping"]),
            (45_999, False, []),
            (46_000, False, ["error timeout", "close timeout"]),
            (50_000, False, []),
        ],
    ),
    (
        "any frame heard is a sign of life",
        State.LIVE,
        [
            (0, False, []),
            (15_000, False, ["ping"]),
            (16_000, True, []),
            (30_999, False, []),
            (31_000, False, ["ping"]),
            (60_000, True, []),
            (74_999, False, []),
            (105_000, False, ["error timeout", "close timeout"]),
        ],
    ),
    (
        "a peer not admitted is never pinged but still times out",
        State.AWAIT_AUTH,
        [
            (0, False, []),
            (15_000, False, []),
            (44_999, False, []),
            (45_000, False, ["error timeout", "close timeout"]),
        ],
    ),
]


@pytest.mark.parametrize(("case", "state", "steps"), HEARTBEAT_ROWS, ids=[row[0] for row in HEARTBEAT_ROWS])
def test_heartbeat_rows(
    tmp_path: Path, case: str, state: State, steps: list[tuple[int, bool, list[str]]]
) -> None:
    _client, server = _live_pair(tmp_path)
    if state is State.AWAIT_AUTH:
        server = Endpoint.server(open_relay_store(tmp_path / "fresh"), SECRET, nonce(), NonceBook())
        server.receive(frames.encode(frames.Hello(OTHER, nonce())))
    assert server.state is state
    for now, heard, expected in steps:
        if heard:
            server.receive(frames.encode(frames.Pong()))
        assert _shape(server.tick(now)) == expected, (case, now)
    assert server.state is State.CLOSED
    assert server.closed_by is not None and server.closed_by.code == "timeout"


def test_a_ping_from_the_heartbeat_is_answered_and_keeps_both_sides_alive(tmp_path: Path) -> None:
    client, server = _live_pair(tmp_path)
    for now in range(0, 200_000, 1_000):
        for me, other in ((client, server), (server, client)):
            for out in me.tick(now):
                assert isinstance(out, Send), out
                for answer in other.receive(out.text):
                    assert isinstance(answer, Send)
                    me.receive(answer.text)
    assert client.state is State.LIVE and server.state is State.LIVE


# -- replacement -------------------------------------------------------------------------------------

REPLACE_ROWS = [(State.AWAIT_HEADS, True), (State.SYNCING, True), (State.LIVE, True), (State.START, False)]


@pytest.mark.parametrize(("state", "allowed"), REPLACE_ROWS, ids=[row[0].value for row in REPLACE_ROWS])
def test_replacement_rows(tmp_path: Path, state: State, allowed: bool) -> None:
    server = Endpoint.server(open_relay_store(tmp_path / "s"), SECRET, nonce(), NonceBook())
    server.state = state
    assert (TRANSITIONS.get((state, "replaced")) is State.CLOSED) is allowed
    if not allowed:
        with pytest.raises(ProtocolError):
            server.replace()
        return
    out = server.replace()
    assert _shape(out) == ["error replaced", "close replaced"]
    assert "replaced" in next(o for o in out if isinstance(o, Close)).reason
    assert server.state is State.CLOSED and server.replace() == []


def test_the_replaced_client_is_told_why(tmp_path: Path) -> None:
    client, server = _live_pair(tmp_path)
    out = client.receive(next(o for o in server.replace() if isinstance(o, Send)).text)
    closed = next(o for o in out if isinstance(o, Close))
    assert closed.code == "replaced" and closed.by_peer and client.state is State.CLOSED


# -- three peers through the in-memory relay ---------------------------------------------------------


@pytest.fixture
def net(make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path) -> Any:
    insts = {name: make_installation(name, label=f"pr-{name}") for name in ("gregor", "tex", "ann")}
    introduce(*insts.values())
    network = Net(tmp_path / "relay", lambda: 1_767_225_600_000)
    for name, inst in insts.items():
        network.add(name, inst.space())
    yield network
    for space in network.peers.values():
        space.close()
    network.close()


def test_three_peers_see_each_others_presence(net: Any) -> None:
    keys = {name: space.signing_key().public_hex for name, space in net.peers.items()}
    statuses = {"gregor": "online", "tex": "focusing", "ann": "away"}
    for name in ("gregor", "tex", "ann"):
        link = net.connect(name)
        link.client.announce(statuses[name])
        link.client.ask_who()
        net.run()
    rosters = {name: link.client.presence for name, link in net.links.items()}
    expected = {keys[name]: status for name, status in statuses.items()}
    assert rosters == {name: expected for name in statuses}
    net._route("tex", net.links["tex"], "client", net.links["tex"].client.announce("busy"))
    net.run()
    assert net.links["gregor"].client.presence[keys["tex"]] == "busy"
    assert net.links["ann"].client.presence[keys["tex"]] == "busy"
    # ann leaves: the relay's driver announces her offline (what relay_server does when she closes)
    net.disconnect("ann")
    for name, link in net.links.items():
        net._route(name, link, "server", link.server.peer_presence(keys["ann"], frames.OFFLINE))
    net.run()
    assert keys["ann"] not in net.links["gregor"].client.presence
    assert set(net.links["tex"].client.presence) == {keys["gregor"], keys["tex"]}
