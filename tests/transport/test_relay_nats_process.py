"""Relay processes on NATS JetStream (``relay serve --store nats://...``), with real ``nats-server``
processes and real installations on loopback.

Two relay instances on one JetStream, three installations spread over them: messages and tasks
converge, live (a watcher on one instance sees what was pushed to the other), with byte-identical
views; ``kill -9`` of one instance mid-stream, its peers (configured with both instances' URLs) fail
over to the other by themselves and nothing is lost; a sync the store cannot serve in full fails
rather than end short; a relay whose JetStream is down refuses a batch with ``error
store_unavailable`` and acknowledges nothing, then stores it once JetStream is back; a three-node
cluster (stream replicas 3) loses a node mid-stream and every acknowledged event is still there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.peer_client import sync_once
from datacore_msg.transport.relay_store import open_relay_store
from natsserver import NatsServer, cluster, servers, start_cluster, stream_ids
from peers import data, ok
from relayclient import NOW_MS, admitted, chain, error_then_close
from relayproc import RelayProcess, configure, configure_urls, ids, sync
from watchproc import Watcher, until

pytestmark = pytest.mark.slow

STREAM = "TEAM"


def views(inst: Any) -> dict[str, bytes]:
    return {
        p.relative_to(inst.views).as_posix(): p.read_bytes()
        for p in sorted(inst.views.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Register a relay, nats-server or watcher to be closed after the test (killed if running)."""
    opened: list[Any] = []

    def add(thing: Any) -> Any:
        opened.append(thing)
        return thing

    yield add
    for thing in reversed(opened):
        thing.close()


def nats_relay(tmp_path: Path, store: str, closing: Callable[[Any], Any], name: str) -> RelayProcess:
    relay = RelayProcess(tmp_path / f"unused-{name}", args=("--store", store, "--stream", STREAM))
    return closing(relay.start())  # type: ignore[no-any-return]


def jetstream_and_two_relays(
    tmp_path: Path, closing: Callable[[Any], Any]
) -> tuple[NatsServer, RelayProcess, RelayProcess]:
    """A nats-server of the test's own and two relay instances, "one" and "two", on one stream."""
    server = closing(NatsServer(tmp_path / "js").start())
    return (
        server,
        nats_relay(tmp_path, server.url, closing, "one"),
        nats_relay(tmp_path, server.url, closing, "two"),
    )


@pytest.fixture
def team(make_installation: Callable[..., Any], introduce: Callable[..., None]) -> dict[str, Any]:
    insts = {
        "laptop": make_installation("gregor", tz="Europe/Ljubljana", label="laptop"),
        "desktop": make_installation("gregor", tz="Europe/Ljubljana", label="desktop"),
        "tex": make_installation("tex", tz="UTC", label="tex"),
    }
    introduce(*insts.values())
    return insts


def sync_until_stored(inst: Any, timeout: float = 120) -> None:
    """``sync`` until the relay stores what it is sent: while the cluster elects a new stream
    leader, the relay refuses batches (``store_unavailable``) and the peer keeps them."""
    deadline = time.monotonic() + timeout
    while True:
        result = inst.run("sync", "--json", "--root", str(inst.root))
        if result.code == 0:
            return
        assert "store_unavailable" in result.out, result
        assert time.monotonic() < deadline, result
        time.sleep(1)


def watcher(inst: Any, tmp_path: Path, closing: Callable[[Any], Any]) -> Watcher:
    log = tmp_path / f"watch-{inst.name}-{len(list(tmp_path.glob('watch-*')))}.log"
    return closing(Watcher(inst, log).start())  # type: ignore[no-any-return]


def test_two_relay_instances_on_one_jetstream_converge_live_with_identical_views(
    tmp_path: Path, team: dict[str, Any], closing: Callable[[Any], Any]
) -> None:
    server, one, two = jetstream_and_two_relays(tmp_path, closing)
    laptop, desktop, tex = team["laptop"], team["desktop"], team["tex"]
    configure(laptop, one)
    configure(desktop, one)
    configure(tex, two)
    laptop_watch = watcher(laptop, tmp_path, closing)
    watcher(tex, tmp_path, closing)
    # tex on instance two; gregor's laptop, watching instance one, sees it live
    sent = data(tex, "send", "@gregor", "hello gregor, across two relays")["id"]
    task = data(tex, "send", "@gregor-claude", "summarise the notes")["id"]
    until(lambda: "hello gregor, across two relays" in laptop.read("inbox.org"), 60, "the live message")
    until(lambda: task in laptop.read("agents/gregor-claude.org"), 60, "the task on the laptop")
    assert "views updated" in laptop_watch.output()
    # the other way: the laptop replies (instance one), tex's watcher on instance two gets it
    ok(laptop.cli("reply", sent, "thanks tex"))
    until(lambda: "thanks tex" in tex.read("inbox.org"), 60, "the reply at tex")
    until(lambda: ids(tex) == ids(laptop), 60, "tex and the laptop converged (the governor's decision too)")
    sync(desktop)
    assert ids(desktop) == ids(laptop) == ids(tex) == stream_ids(server.url, STREAM)
    assert views(desktop) == views(laptop)
    caught_up = {"reachable": True, "lag": 0}
    for relay in (one, two):
        until(lambda r=relay: r.status()["store"] == caught_up, 30, "the instance's consumer caught up")
        code, _, metrics = relay.get("/metrics")
        assert code == 200 and "datacore_relay_store_up 1" in metrics


def test_kill_9_of_one_instance_mid_stream_its_peers_fail_over_to_the_other_and_nothing_is_lost(
    tmp_path: Path, team: dict[str, Any], closing: Callable[[Any], Any]
) -> None:
    server, one, two = jetstream_and_two_relays(tmp_path, closing)
    laptop, desktop, tex = team["laptop"], team["desktop"], team["tex"]
    # every peer knows both instances (messaging.relay.url is a list): the first it lists is its own
    configure_urls(laptop, [two.url, one.url])
    configure_urls(desktop, [one.url, two.url])
    configure_urls(tex, [one.url, two.url])
    watcher(laptop, tmp_path, closing)
    desktop_watch = watcher(desktop, tmp_path, closing)
    tex_watch = watcher(tex, tmp_path, closing)
    for watch in (desktop_watch, tex_watch):
        watch.wait_for(f"connected to {one.url}: live")
    for n in range(6):
        ok(tex.cli("send", "@gregor", f"message {n}"))
        if n == 2:
            one.kill()
    # nobody points them anywhere: each watcher moves to the other instance by itself
    for watch in (desktop_watch, tex_watch):
        watch.wait_for(f"connected to {two.url}: live", timeout=90)
        assert f"trying the next relay, {two.url}" in watch.output()
    ok(desktop.cli("send", "@tex", "after the kill"))
    until(lambda: "after the kill" in tex.read("inbox.org"), 90, "a message sent after the kill")
    until(lambda: ids(laptop) == ids(desktop) == ids(tex), 90, "convergence through the other instance")
    inbox = laptop.read("inbox.org")
    assert all(f"message {n}" in inbox for n in range(6))
    until(lambda: ids(tex) == stream_ids(server.url, STREAM), 30, "the stream holding every event once")
    for inst in (laptop, desktop, tex):
        with inst.space() as space:
            events = list(space.store.iter_since(0))
            assert len(events) == len({event.id for event in events})  # nothing twice
    until(lambda: views(desktop) == views(laptop), 60, "byte-identical views")


def test_a_sync_the_store_cannot_serve_in_full_fails_rather_than_end_short(
    tmp_path: Path, team: dict[str, Any], closing: Callable[[Any], Any]
) -> None:
    """The second instance's heads say more than JetStream answers now (it went down after one
    stored tex's events, which the second holds nowhere in memory): the desktop's sync there fails
    with ``store_unavailable`` (and is tried again) instead of ending OK without the events
    JetStream acknowledged before it began."""
    server = closing(NatsServer(tmp_path / "js").start())
    one = nats_relay(tmp_path, server.url, closing, "one")
    desktop, tex = team["desktop"], team["tex"]
    configure(tex, one)
    for n in range(3):
        ok(tex.cli("send", "@gregor", f"stored {n}"))
    sync(tex)
    two = nats_relay(tmp_path, server.url, closing, "two")
    until(lambda: two.status()["store"] == {"reachable": True, "lag": 0}, 30, "the second instance up")
    configure(desktop, two)
    server.kill()
    result = desktop.run("sync", "--json", "--root", str(desktop.root))
    assert result.code != 0 and "store_unavailable" in result.out, result
    server.start()
    sync_until_stored(desktop)
    assert ids(desktop) >= ids(tex)
    assert all(f"stored {n}" in desktop.read("inbox.org") for n in range(3))


def test_a_relay_whose_jetstream_is_down_refuses_batches_and_acknowledges_nothing(
    tmp_path: Path, closing: Callable[[Any], Any]
) -> None:
    server = closing(NatsServer(tmp_path / "js").start())
    relay = nats_relay(tmp_path, server.url, closing, "one")
    key = SigningKey.generate()
    [event] = chain(key, 1)
    with ExitStack() as stack:
        ws = admitted(relay, tmp_path, stack)
        server.kill()
        until(lambda: relay.status()["store"]["reachable"] is False, 60, "/status saying JetStream is down")
        code, _, body = relay.get("/status")
        assert code == 503 and json.loads(body)["status"] == "degraded"  # a health check fails
        ws.send(frames.encode(frames.Events(1, [event])))
        error = error_then_close(ws.ws)
    assert error.code == "store_unavailable"
    assert "cannot store events now" in error.reason
    assert "nothing of this batch was acknowledged" in error.reason
    # the peer is not told where the relay's JetStream is; the relay's own log is
    nats_port = server.url.rpartition(":")[2]
    assert nats_port not in error.reason and "127.0.0.1" not in error.reason, error.reason
    assert "nats" not in error.reason.lower(), error.reason
    _, _, metrics = relay.get("/metrics")
    assert "datacore_relay_store_up 0" in metrics
    server.start()
    until(lambda: relay.status()["store"]["reachable"] is True, 60, "/status saying JetStream is back")
    # the peer still holds its event and sends it again: now it is stored and acknowledged
    log = open_relay_store(tmp_path / "peer")
    try:
        log.ingest([(0, event)], NOW_MS)
        secret = relay.secret or ""
        stats = sync_once(relay.url, secret, key, log, lambda items: log.ingest(items, NOW_MS), 60)
        assert stats.sent == 1 and not stats.rejected_there
    finally:
        log.close()
    assert stream_ids(server.url, STREAM) == {event.id}
    relay.stop()
    assert relay.proc is not None and relay.proc.stderr is not None
    assert "the relay cannot store events now (" in relay.proc.stderr.read().decode("utf-8")


def test_a_three_node_cluster_loses_a_node_mid_stream_and_nothing_acknowledged_is_lost(
    tmp_path: Path, team: dict[str, Any], closing: Callable[[Any], Any]
) -> None:
    nodes = cluster(tmp_path / "cluster")
    for node in nodes:
        closing(node)
    start_cluster(nodes)
    every = servers(nodes)
    relays = [
        closing(
            RelayProcess(
                tmp_path / f"unused-{n}", args=("--store", every, "--stream", STREAM, "--replicas", "3")
            ).start(timeout=120)
        )
        for n in range(2)
    ]
    laptop, desktop, tex = team["laptop"], team["desktop"], team["tex"]
    configure(laptop, relays[0])
    configure(desktop, relays[1])
    configure(tex, relays[1])
    watcher(laptop, tmp_path, closing)
    for n in range(8):
        ok(tex.cli("send", "@gregor", f"clustered {n}"))  # pushed on append, acknowledged or kept
        if n == 3:
            nodes[0].kill()
    sync_until_stored(tex)  # whatever a push could not place goes now
    until(lambda: ids(laptop) == ids(tex), 120, "the laptop converged")
    sync_until_stored(desktop)
    assert ids(desktop) == ids(tex)
    assert views(desktop) == views(laptop)
    assert all(f"clustered {n}" in laptop.read("inbox.org") for n in range(8))
    survivor = nodes[1].url
    assert ids(tex) <= stream_ids(survivor, STREAM)
