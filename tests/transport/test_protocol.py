"""The sync protocol in memory: endpoints over real stores, frames shuttled as strings.

Two and three peers through a relay endpoint, the transition table row by row (every frame a role
may not receive in a state closes the connection with ``unexpected``), admission (wrong secret,
replayed nonce, replayed auth, a key that does not sign), flow control (the window), forged events
in a batch, and the property: random appends on every peer, random partitions, reconnects,
duplicated and lost frames; after healing every peer holds the same events and the two
installations of one user render byte-identical views.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.app import messages, tasks
from datacore_msg.app.space import Space
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import EventStore
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import (
    FOREIGN_HEADS_KEPT,
    MAX_HEADS_PAGES,
    RECEIVES,
    TRANSITIONS,
    WINDOW,
    WRONG_RELAY_PROOF,
    WRONG_SECRET,
    Close,
    Endpoint,
    Ingest,
    NonceBook,
    Output,
    Role,
    Send,
    State,
    relay_proof,
)
from datacore_msg.transport.relay_store import open_relay_store
from syncnet import SECRET, Net, event_ids, nonce

CLOCK_START_MS = 1_767_225_600_000
_example = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = CLOCK_START_MS

    def __call__(self) -> int:
        self.now += 60_000
        return self.now


def view_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def new_events(space: Space, before: int) -> list[Any]:
    origin = space.signing_key().public_hex
    return space.store.events_after(origin, before, 10_000)


def own_head(space: Space) -> int:
    return space.store.heads().get(space.signing_key().public_hex, 0)


def send(net: Net, name: str, to: str, text: str) -> None:
    space = net.peers[name]
    before = own_head(space)
    messages.send(space, to, text)
    net.appended(name, new_events(space, before))


@pytest.fixture
def team(make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path) -> Any:
    n = next(_example)
    insts = {
        "laptop": make_installation("gregor", tz="Europe/Ljubljana", label=f"p{n}-laptop"),
        "desktop": make_installation("gregor", tz="Europe/Ljubljana", label=f"p{n}-desktop"),
        "tex": make_installation("tex", tz="UTC", label=f"p{n}-tex"),
    }
    introduce(*insts.values())
    clock = Clock()
    net = Net(tmp_path / f"relay{n}", clock)
    for name, inst in insts.items():
        net.add(name, inst.space(clock=clock))
    yield net, insts
    for space in net.peers.values():
        space.close()
    net.close()


# -- two and three peers ---------------------------------------------------------------------------


def test_a_message_reaches_its_recipient_through_the_relay(team: Any) -> None:
    net, insts = team
    send(net, "tex", "@gregor", "hello from tex")
    net.connect("tex")
    net.run()
    assert event_ids(net.relay) == event_ids(net.peers["tex"].store)
    net.connect("laptop")
    net.run()
    assert event_ids(net.peers["laptop"].store) >= event_ids(net.peers["tex"].store)
    assert net.links["laptop"].client.settled and net.links["laptop"].client.received >= 1
    messages.refresh(net.peers["laptop"])
    assert "hello from tex" in insts["laptop"].read("inbox.org")


def test_three_connected_peers_get_live_pushes_both_ways(team: Any) -> None:
    net, insts = team
    for name in net.peers:
        net.connect(name)
    net.run()
    assert all(link.client.settled for link in net.links.values())
    send(net, "tex", "@gregor", "live one")
    net.run()
    send(net, "desktop", "@tex", "live reply")
    net.run()
    ids = event_ids(net.relay)
    for space in net.peers.values():
        assert event_ids(space.store) == ids
    messages.refresh(net.peers["laptop"])
    messages.refresh(net.peers["tex"])
    assert "live one" in insts["laptop"].read("inbox.org")
    assert "live reply" in insts["laptop"].read("outbox.org")
    assert "live reply" in insts["tex"].read("inbox.org")


def test_tasks_travel_both_ways(team: Any) -> None:
    net, insts = team
    space = net.peers["tex"]
    before = own_head(space)
    task = tasks.request(space, "gregor-claude", "summarise the notes")
    net.appended("tex", new_events(space, before))
    for name in net.peers:
        net.connect(name)
    net.run()
    messages.refresh(net.peers["laptop"])
    assert task.task_id in insts["laptop"].read("agents/gregor-claude.org")


def test_nothing_is_sent_twice_and_nothing_back(team: Any) -> None:
    net, _ = team
    for i in range(30):
        messages.send(net.peers["tex"], "@gregor", f"m{i}")
    net.connect("tex")
    net.run()
    first = net.links["tex"].client.sent
    assert first == len(event_ids(net.peers["tex"].store))
    assert net.links["tex"].server.sent == 0  # the relay sends nothing back to where it came from
    net.disconnect("tex")
    net.connect("tex")
    net.run()
    assert net.links["tex"].client.sent == 0 and net.links["tex"].server.sent == 0


def test_the_window_bounds_unacknowledged_batches(team: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    net, _ = team
    monkeypatch.setattr(frames, "MAX_BATCH_EVENTS", 2)
    for i in range(40):
        messages.send(net.peers["tex"], "@gregor", f"m{i}")
    link = net.connect("tex")
    while net.deliver("tex", "server") or net.deliver("tex", "client"):
        if link.client.state is State.SYNCING:
            break
    # the relay never acks: the client stops at the window
    while link.to_server:
        text = link.to_server.popleft()
        link.server.receive(text)  # received, never ingested, never acked
    assert link.client.in_flight == WINDOW
    assert len(link.to_server) == 0


def test_a_forged_event_is_rejected_with_its_reason_and_the_valid_ones_are_stored(team: Any) -> None:
    net, _ = team
    tex = net.peers["tex"]
    messages.send(tex, "@gregor", "genuine")
    genuine = tex.store.events_after(tex.signing_key().public_hex, 0, 10)
    forged = genuine[-1].evolve(data={**genuine[-1].data, "text": "forged"})
    other = SigningKey.generate()
    ok_event = tex.store.append(
        other,
        "tex",
        MessageSent(id="msg-20260101-000000-aaaaaaaa", sender="tex", to="gregor", text="x"),
        CLOCK_START_MS,
    )
    server = Endpoint.server(net.relay, SECRET, nonce(), NonceBook())
    client = Endpoint.client(net.relay, SECRET, tex.signing_key(), nonce())  # nothing to send
    _admit(client, server)
    outs = server.receive(frames.encode(frames.Events(1, [forged, ok_event])))
    ingest = next(o for o in outs if isinstance(o, Ingest))
    report = net.relay.ingest(ingest.items, CLOCK_START_MS)
    outs = server.ingested(1, report.accepted, report.rejected)
    ack = frames.decode(next(o for o in outs if isinstance(o, Send)).text)
    assert isinstance(ack, frames.Ack)
    assert [i for i, _ in ack.rejected] == [0] and "id does not match" in ack.rejected[0][1]
    assert event_ids(net.relay) == {ok_event.id}


def _admit(client: Endpoint, server: Endpoint) -> None:
    """Carry frames between two endpoints (no events) until neither has anything to say."""
    queue: list[tuple[str, str]] = [("server", o.text) for o in client.start() if isinstance(o, Send)]
    while queue:
        to, text = queue.pop(0)
        target = server if to == "server" else client
        back = "client" if to == "server" else "server"
        queue += [(back, o.text) for o in target.receive(text) if isinstance(o, Send)]


# -- admission -------------------------------------------------------------------------------------


def test_a_wrong_secret_is_refused_with_its_cause_and_nothing_is_exchanged(team: Any) -> None:
    net, _ = team
    messages.send(net.peers["tex"], "@gregor", "secret stuff")
    link = net.connect("tex", secret=b"not-the-team-secret-at-all-00000")
    net.run()
    assert not link.open
    assert link.closes and link.closes[0].code == "auth_failed"
    assert link.closes[0].reason == WRONG_SECRET
    assert event_ids(net.relay) == set()


def test_a_replayed_hello_and_a_replayed_auth_are_refused(tmp_path: Path) -> None:
    relay = open_relay_store(tmp_path / "r")
    book = NonceBook()
    key = SigningKey.generate()
    client = Endpoint.client(relay, SECRET, key, nonce())
    hello = next(o for o in client.start() if isinstance(o, Send)).text
    server1 = Endpoint.server(relay, SECRET, nonce(), book)
    challenge = next(o for o in server1.receive(hello) if isinstance(o, Send)).text
    auth = next(o for o in client.receive(challenge) if isinstance(o, Send)).text
    assert server1.receive(auth) and server1.admitted
    # the same hello again: its nonce was used
    server2 = Endpoint.server(relay, SECRET, nonce(), book)
    out = server2.receive(hello)
    assert _closed_with(out) == "nonce_reused" and server2.state is State.CLOSED
    # a recorded auth on a new connection: the relay's nonce differs, so the MAC does not match
    other = Endpoint.client(relay, SECRET, key, nonce())
    server3 = Endpoint.server(relay, SECRET, nonce(), book)
    server3.receive(next(o for o in other.start() if isinstance(o, Send)).text)
    assert _closed_with(server3.receive(auth)) == "auth_failed"
    relay.close()


def test_a_client_whose_key_does_not_sign_is_refused(tmp_path: Path) -> None:
    relay = open_relay_store(tmp_path / "r")
    key, impostor = SigningKey.generate(), SigningKey.generate()
    client = Endpoint.client(relay, SECRET, key, nonce())
    hello = frames.decode(next(o for o in client.start() if isinstance(o, Send)).text)
    assert isinstance(hello, frames.Hello)
    server = Endpoint.server(relay, SECRET, nonce(), NonceBook())
    # claims the impostor's key, signs with its own
    claimed = frames.encode(frames.Hello(impostor.public_hex, hello.nonce))
    challenge = next(o for o in server.receive(claimed) if isinstance(o, Send)).text
    client.peer_key = impostor.public_hex
    auth = frames.decode(next(o for o in client.receive(challenge) if isinstance(o, Send)).text)
    assert isinstance(auth, frames.Auth)
    from datacore_msg.transport.protocol import peer_mac

    ch = frames.decode(challenge)
    assert isinstance(ch, frames.Challenge)
    mac = peer_mac(SECRET, ch.nonce, hello.nonce, impostor.public_hex)
    out = server.receive(frames.encode(frames.Auth(mac, auth.sig)))
    assert _closed_with(out) == "auth_failed"
    assert "signature" in next(o for o in out if isinstance(o, Close)).reason
    relay.close()


def test_a_relay_without_the_secret_is_refused_by_the_client_before_it_sends_anything(
    tmp_path: Path,
) -> None:
    """A fake relay that welcomes anyone (it cannot check the MAC without the secret) has to prove
    the secret in its welcome: the client checks that proof before sending its heads or events."""
    relay = open_relay_store(tmp_path / "r")
    client = Endpoint.client(relay, SECRET, SigningKey.generate(), nonce())
    fake_secret, fake_nonce = b"the-fake-relay-guessed-a-secret!", nonce()
    fake = Endpoint.server(relay, fake_secret, fake_nonce, NonceBook())
    hello = frames.decode(next(o for o in client.start() if isinstance(o, Send)).text)
    assert isinstance(hello, frames.Hello)
    challenge = next(o for o in fake.receive(frames.encode(hello)) if isinstance(o, Send)).text
    assert [type(o) for o in client.receive(challenge)] == [Send]  # the auth, nothing else
    welcome = frames.encode(frames.Welcome(relay_proof(fake_secret, hello.nonce, fake_nonce)))
    out = client.receive(welcome)
    assert _closed_with(out) == "auth_failed"
    assert next(o for o in out if isinstance(o, Close)).reason == WRONG_RELAY_PROOF
    sent = [frames.decode(o.text) for o in out if isinstance(o, Send)]
    assert [type(f) for f in sent] == [frames.Error]  # no heads, no events
    # the genuine relay's proof is accepted
    genuine_client = Endpoint.client(relay, SECRET, SigningKey.generate(), nonce())
    _admit(genuine_client, Endpoint.server(relay, SECRET, nonce(), NonceBook()))
    assert genuine_client.admitted and genuine_client.state is not State.CLOSED
    relay.close()


def _closed_with(outputs: list[Output]) -> str | None:
    closes = [o for o in outputs if isinstance(o, Close)]
    return closes[0].code if closes else None


# -- the transition table --------------------------------------------------------------------------


def _pair(tmp_path: Path) -> tuple[Endpoint, Endpoint, EventStore]:
    store = open_relay_store(tmp_path / f"s{next(_example)}")
    client = Endpoint.client(store, SECRET, SigningKey.generate(), nonce())
    server = Endpoint.server(store, SECRET, nonce(), NonceBook())
    return client, server, store


def _reach(tmp_path: Path, role: Role, state: State) -> tuple[Endpoint, EventStore]:
    """An endpoint of ``role`` driven by a real counterpart into ``state``."""
    client, server, store = _pair(tmp_path)
    me = client if role is Role.CLIENT else server
    queue: list[tuple[str, str]] = []
    if role is Role.CLIENT and state is State.START:
        return me, store
    queue += [("server", o.text) for o in client.start() if isinstance(o, Send)]
    while me.state is not state:
        to, text = queue.pop(0)
        target = server if to == "server" else client
        back = "client" if to == "server" else "server"
        queue += [(back, o.text) for o in target.receive(text) if isinstance(o, Send)]
    return me, store


REACHABLE = {
    Role.CLIENT: [State.START, State.AWAIT_CHALLENGE, State.AWAIT_WELCOME, State.AWAIT_HEADS, State.LIVE],
    Role.SERVER: [State.START, State.AWAIT_AUTH, State.AWAIT_HEADS, State.LIVE],
}
_KEY = SigningKey.generate()
SAMPLES: dict[str, frames.Frame] = {
    "hello": frames.Hello(_KEY.public_hex, "a" * 64),
    "challenge": frames.Challenge("b" * 64),
    "auth": frames.Auth("d" * 64, "e" * 128),
    "welcome": frames.Welcome("c" * 64),
    "heads": frames.Heads({}),
    "ack": frames.Ack(1, {}, []),
    "caught_up": frames.CaughtUp(),
    "ping": frames.Ping(),
    "pong": frames.Pong(),
    "presence": frames.Presence(_KEY.public_hex, "online"),
    "who": frames.Who({}),
}
# (an events frame needs a real event: the handshake and the two- and three-peer tests cover it)


DISALLOWED = [
    (role, state, kind)
    for role, states in REACHABLE.items()
    for state in states
    for kind in SAMPLES
    if (state, kind) not in TRANSITIONS or kind not in RECEIVES[role]
]


@pytest.mark.parametrize(("role", "state", "kind"), DISALLOWED)
def test_a_frame_not_in_the_table_closes_the_connection(
    tmp_path: Path, role: Role, state: State, kind: str
) -> None:
    me, store = _reach(tmp_path, role, state)
    out = me.receive(frames.encode(SAMPLES[kind]))
    assert _closed_with(out) == "unexpected", (role, state, kind, out)
    assert me.state is State.CLOSED
    assert isinstance(frames.decode(next(o for o in out if isinstance(o, Send)).text), frames.Error)
    store.close()


ALLOWED = [
    # (role, state, frame, state after)
    (Role.CLIENT, State.LIVE, frames.Ping(), State.LIVE),
    (Role.SERVER, State.LIVE, frames.Ping(), State.LIVE),
    (Role.CLIENT, State.LIVE, frames.Pong(), State.LIVE),
    (Role.SERVER, State.LIVE, frames.Ack(1, {}, []), State.CLOSED),  # never sent: unexpected
    (Role.CLIENT, State.LIVE, frames.Error("shutdown", "the relay is stopping"), State.CLOSED),
    (Role.SERVER, State.AWAIT_AUTH, frames.Error("bye", "x"), State.CLOSED),
]


@pytest.mark.parametrize(("role", "state", "frame", "after"), ALLOWED)
def test_allowed_rows(tmp_path: Path, role: Role, state: State, frame: frames.Frame, after: State) -> None:
    me, store = _reach(tmp_path, role, state)
    out = me.receive(frames.encode(frame))
    assert me.state is after
    if isinstance(frame, frames.Ping):
        assert [frames.decode(o.text) for o in out if isinstance(o, Send)] == [frames.Pong()]
    store.close()


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
def test_heads_come_in_pages_and_their_number_is_bounded(tmp_path: Path, role: Role) -> None:
    me, store = _reach(tmp_path, role, State.AWAIT_HEADS)
    page = frames.encode(frames.Heads({SigningKey.generate().public_hex: 1}, more=True))
    for _ in range(MAX_HEADS_PAGES - 1):
        assert me.receive(page) == [] and me.state is State.AWAIT_HEADS
    assert me.receive(frames.encode(frames.Heads({}))) is not None and me.state is State.SYNCING
    other, other_store = _reach(tmp_path, role, State.AWAIT_HEADS)
    for _ in range(MAX_HEADS_PAGES):
        other.receive(page)
    assert _closed_with(other.receive(page)) == "limit"
    store.close()
    other_store.close()


def test_heads_of_origins_not_held_are_kept_up_to_a_bound(tmp_path: Path) -> None:
    """The relay holds none of the client's origins: it remembers the client's heads for the first
    FOREIGN_HEADS_KEPT of them (an event of one of those reaching it later is not sent back), and
    no more (memory bounded whatever the client claims: an event of a later one is sent)."""
    me, store = _reach(tmp_path, Role.SERVER, State.AWAIT_HEADS)
    keys = [SigningKey.generate() for _ in range(FOREIGN_HEADS_KEPT + 1)]
    claimed = {key.public_hex: 1 for key in keys}
    me.receive(frames.encode(frames.Heads(claimed)))
    assert me.state is State.SYNCING
    hlc = CLOCK_START_MS << 16
    first, last = (
        seal(k, seq=1, prev=None, hlc=hlc, actor="x", type_name="junk.event", version=1, data={})
        for k in (keys[0], keys[-1])
    )
    assert len(store.ingest([(0, first), (1, last)], CLOCK_START_MS).accepted) == 2
    sent = [frames.decode(o.text) for o in me.events_appended([first, last]) if isinstance(o, Send)]
    batches = [f for f in sent if isinstance(f, frames.Events)]
    assert [e.id for b in batches for e in b.events if isinstance(e, Event)] == [last.id]
    store.close()


def test_a_long_vector_goes_out_in_pages(tmp_path: Path) -> None:
    store = open_relay_store(tmp_path / "many")
    now_ms = CLOCK_START_MS
    junk = [
        seal(key, seq=1, prev=None, hlc=now_ms << 16, actor="x", type_name="junk.event", version=1, data={})
        for key in (SigningKey.generate() for _ in range(frames.MAX_VECTOR_ORIGINS + 1))
    ]
    assert len(store.ingest(list(enumerate(junk)), now_ms).accepted) == len(junk)
    client = Endpoint.client(store, SECRET, SigningKey.generate(), nonce())
    server = Endpoint.server(open_relay_store(tmp_path / "empty"), SECRET, nonce(), NonceBook())
    hello = next(o for o in client.start() if isinstance(o, Send)).text
    challenge = next(o for o in server.receive(hello) if isinstance(o, Send)).text
    auth = next(o for o in client.receive(challenge) if isinstance(o, Send)).text
    welcome = next(o for o in server.receive(auth) if isinstance(o, Send)).text
    texts = [o.text for o in client.receive(welcome) if isinstance(o, Send)]
    assert all(len(text.encode()) <= frames.MAX_FRAME_BYTES for text in texts)
    pages = [frames.decode(text) for text in texts]
    assert [(len(p.heads), p.more) for p in pages if isinstance(p, frames.Heads)] == [
        (frames.MAX_VECTOR_ORIGINS, True),
        (1, False),
    ]
    for text in texts:
        server.receive(text)
    assert server.state is State.SYNCING and client.state is State.AWAIT_HEADS
    store.close()


def test_the_table_is_the_handshake_a_real_pair_walks(tmp_path: Path) -> None:
    client, server, store = _pair(tmp_path)
    seen: list[tuple[str, State, State]] = []
    queue = [("server", o.text) for o in client.start() if isinstance(o, Send)]
    while queue:
        to, text = queue.pop(0)
        target = server if to == "server" else client
        before = target.state
        outs = target.receive(text)
        seen.append((frames.decode(text).TYPE, before, target.state))
        back = "client" if to == "server" else "server"
        queue += [(back, o.text) for o in outs if isinstance(o, Send)]
    for kind, before, after in seen:
        assert TRANSITIONS[(before, kind)] in (after, State.SYNCING), (kind, before, after)
    assert client.state is State.LIVE and server.state is State.LIVE
    store.close()


# -- the property ----------------------------------------------------------------------------------

PEERS = ("laptop", "desktop", "tex")
RECIPIENT = {"laptop": "@tex", "desktop": "@tex", "tex": "@gregor"}
step = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(PEERS)),
    st.tuples(st.just("connect"), st.sampled_from(PEERS)),
    st.tuples(st.just("disconnect"), st.sampled_from(PEERS)),
    st.tuples(
        st.just("deliver"),
        st.sampled_from(PEERS),
        st.sampled_from(["server", "client"]),
        st.sampled_from(["once", "once", "once", "twice", "drop"]),
    ),
    st.tuples(st.just("run"), st.sampled_from(PEERS)),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=st.lists(step, min_size=5, max_size=40))
def test_after_healing_every_peer_holds_the_same_events_and_views(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path, program: list[Any]
) -> None:
    n = next(_example)
    insts = {
        "laptop": make_installation("gregor", tz="Europe/Ljubljana", label=f"h{n}-laptop"),
        "desktop": make_installation("gregor", tz="Europe/Ljubljana", label=f"h{n}-desktop"),
        "tex": make_installation("tex", tz="UTC", label=f"h{n}-tex"),
    }
    introduce(*insts.values())
    clock = Clock()
    net = Net(tmp_path / f"relay-h{n}", clock)
    for name, inst in insts.items():
        net.add(name, inst.space(clock=clock))
    try:
        for count, item in enumerate(program):
            kind, name = item[0], item[1]
            if kind == "send":
                send(net, name, RECIPIENT[name], f"{name} says {count}")
            elif kind == "connect" and name not in net.links:
                net.connect(name)
            elif kind == "disconnect":
                net.disconnect(name)
            elif kind == "deliver":
                net.deliver(name, item[2], item[3])
            elif kind == "run" and name in net.links:
                for _ in range(50):
                    if not (net.deliver(name, "server") | net.deliver(name, "client")):
                        break
        # heal: everyone reconnects and the network runs until quiet
        for name in PEERS:
            net.disconnect(name)
        for name in PEERS:
            net.connect(name)
        net.run()
        assert all(link.client.settled for link in net.links.values())
        ids = event_ids(net.relay)
        for name, space in net.peers.items():
            assert event_ids(space.store) == ids, name
            messages.refresh(space)
    finally:
        for space in net.peers.values():
            space.close()
        net.close()
    assert view_files(insts["laptop"].views) == view_files(insts["desktop"].views)
