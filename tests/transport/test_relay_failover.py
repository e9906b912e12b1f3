"""Failing over between relay instances, with real processes on loopback: two relay processes (each
with its own SQLite store), peers whose ``messaging.relay.url`` lists several URLs.

A peer configured with [a dead URL, a live relay] pushes, syncs and asks who is online through the
live one, and says so; a relay refusing the secret is passed over and named; every URL failing is
one error naming each. A ``sync --watch`` peer whose relay is killed with ``kill -9`` moves to the
second relay at once, resumes from its version vector, and a message sent afterwards reaches a peer
watching the second relay; nothing is lost or doubled (the logs and the relay's store compared).
The session-start hook starts one watcher with a list too."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit
from peers import data, ok
from relayproc import SECRET, RelayProcess, configure_urls, free_port, gregor_and_tex, ids, relay_ids
from watchproc import Watcher, session_start, until, watcher_pids

pytestmark = pytest.mark.slow


def dead_url() -> str:
    return f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens there


@pytest.fixture
def relays(tmp_path: Path) -> Iterator[Callable[..., RelayProcess]]:
    made: list[RelayProcess] = []

    def start(name: str, secret: str = SECRET) -> RelayProcess:
        proc = RelayProcess(tmp_path / f"relay-{name}", secret).start()
        made.append(proc)
        return proc

    yield start
    for proc in made:
        proc.close()


@pytest.fixture
def team(make_installation: Callable[..., Any], introduce: Callable[..., None]) -> tuple[Any, Any]:
    return gregor_and_tex(make_installation, introduce)


def test_a_dead_url_first_push_sync_and_online_go_through_the_live_relay(
    team: Any, relays: Callable[..., RelayProcess]
) -> None:
    gregor, tex = team
    live = relays("b")
    dead = dead_url()
    for inst in (gregor, tex):
        configure_urls(inst, [dead, live.url])
    sent = tex.run("send", "@gregor", "through the second relay", "--json", "--root", str(tex.root))
    ok(sent)
    assert sent.err == "", sent.err  # pushed, no warning
    assert json.loads(sent.out)["data"]["event"] in relay_ids(live)  # before send returned
    synced = data(gregor, "sync")
    assert synced["relay"] == live.url
    assert synced["received"] >= 1
    assert len(synced["passed_over"]) == 1 and synced["passed_over"][0].startswith(f"relay {dead}: ")
    assert "through the second relay" in gregor.read("inbox.org")
    text = gregor.run("sync", "--root", str(gregor.root))
    ok(text)
    assert f"Synced with {live.url}:" in text.out
    assert f"passed over: relay {dead}: cannot connect" in text.err
    online = data(gregor, "online")
    assert online["source"] == "relay" and online["relay"] == live.url
    ok(tex.run("sync", "--root", str(tex.root)))
    assert ids(gregor) == ids(tex) == relay_ids(live)


@pytest.fixture
def black_holes() -> Iterator[Callable[[], str]]:
    """URLs of loopback sockets that listen but never accept: the kernel completes the TCP
    handshake, and the WebSocket upgrade is never answered (a relay behind a black-holing
    firewall or a hung proxy)."""
    made: list[socket.socket] = []

    def make() -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        made.append(sock)
        return f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"

    yield make
    for sock in made:
        sock.close()


def test_black_holed_relays_first_in_the_list_leave_time_for_the_live_one(
    team: Any, relays: Callable[..., RelayProcess], black_holes: Callable[[], str]
) -> None:
    """The command's --timeout is for the whole list: each black hole costs the connect cap
    (5 s), not the whole timeout, and the live relay third in the list is reached in time."""
    gregor, tex = team
    live = relays("b")
    holes = [black_holes(), black_holes()]
    configure_urls(tex, [live.url])
    configure_urls(gregor, [*holes, live.url])
    ok(tex.run("send", "@gregor", "past two black holes", "--root", str(tex.root)))
    assert len(relay_ids(live)) > 0  # pushed before send returned
    began = time.monotonic()
    synced = gregor.run("sync", "--json", "--timeout", "30", "--root", str(gregor.root))
    took = time.monotonic() - began
    ok(synced)
    result = json.loads(synced.out)["data"]
    assert result["relay"] == live.url
    assert result["passed_over"] == [f"relay {hole}: no answer within 5 s" for hole in holes]
    assert took < 27, took  # before: 30 s for each black hole, then the live relay
    assert "past two black holes" in gregor.read("inbox.org")
    began = time.monotonic()
    online = gregor.run("online", "--json", "--timeout", "30", "--root", str(gregor.root))
    took = time.monotonic() - began
    ok(online)
    assert json.loads(online.out)["data"]["relay"] == live.url
    assert took < 27, took


def test_a_relay_refusing_the_secret_is_passed_over_and_named(
    team: Any, relays: Callable[..., RelayProcess]
) -> None:
    gregor, tex = team
    other_team = relays("a", secret="another-team-secret-0123456789abcdef")
    ours = relays("b")
    configure_urls(tex, [ours.url])
    ok(tex.cli("send", "@gregor", "behind the right secret"))
    configure_urls(gregor, [other_team.url, ours.url])
    synced = data(gregor, "sync")
    assert synced["relay"] == ours.url
    [passed] = synced["passed_over"]
    assert passed.startswith(f"relay {other_team.url}: ") and "secret" in passed
    assert "behind the right secret" in gregor.read("inbox.org")
    assert relay_ids(other_team) == set()  # nothing was sent to the relay that refused the secret


def test_every_url_failing_is_one_error_naming_each(team: Any, relays: Callable[..., RelayProcess]) -> None:
    gregor, _tex = team
    other_team = relays("a", secret="another-team-secret-0123456789abcdef")
    first, second = dead_url(), dead_url()
    configure_urls(gregor, [first, second])
    result = gregor.run("sync", "--root", str(gregor.root))
    assert result.code == Exit.UNREACHABLE, result
    line = result.err.strip()
    assert "\n" not in line and SECRET not in line
    assert "none of the 2 relays could be used" in line
    assert f"relay {first}: cannot connect" in line and f"relay {second}: cannot connect" in line
    # a refused secret anywhere: the refused secret's exit status (it is the thing to fix)
    configure_urls(gregor, [first, other_team.url])
    refused = gregor.run("sync", "--root", str(gregor.root))
    assert refused.code == Exit.AUTH_REFUSED, refused
    assert f"relay {first}: cannot connect" in refused.err and f"relay {other_team.url}: " in refused.err
    # a send meanwhile is stored and warns in one line naming both
    down = gregor.run("send", "@tex", "kept for later", "--root", str(gregor.root))
    assert down.code == 0, down
    [warning] = [line for line in down.err.splitlines() if line]
    assert "not pushed to the relay" in warning and first in warning and other_team.url in warning


def test_a_watcher_whose_relay_is_killed_moves_to_the_second_and_nothing_is_lost(
    team: Any, relays: Callable[..., RelayProcess], watchers: Callable[[Any], Watcher]
) -> None:
    gregor, tex = team
    first, second = relays("a"), relays("b")
    configure_urls(gregor, [first.url, second.url])
    configure_urls(tex, [second.url, first.url])
    gw = watchers(gregor)
    tw = watchers(tex)
    assert f"watching {first.url}, {second.url} for space" in gw.output()
    assert f"connected to {first.url}: live" in gw.output()
    assert f"connected to {second.url}: live" in tw.output()
    for n in range(3):
        ok(gregor.cli("send", "@tex", f"before the kill {n}"))
    until(lambda: ids(gregor) <= relay_ids(first), 60, "gregor's events on the first relay")
    first.kill()
    killed = time.monotonic()
    gw.wait_for(f"connected to {second.url}: live")
    moved_s = time.monotonic() - killed
    print(f"kill -9 of the first relay -> the watcher live on the second: {moved_s:.2f} s")
    assert f"trying the next relay, {second.url}" in gw.output()
    assert "backoff" not in gw.output()  # the second relay answered: no full round failed
    # the catch-up of the new connection resumed from the heads: what only the dead relay had
    # reached the second relay and tex
    until(lambda: "before the kill 2" in tex.read("inbox.org"), 60, "the earlier messages at tex")
    ok(gregor.cli("send", "@tex", "after the failover"))
    ok(tex.cli("send", "@gregor", "reply through the second relay"))
    until(lambda: "after the failover" in tex.read("inbox.org"), 60, "the new message at tex")
    until(lambda: "reply through the second relay" in gregor.read("inbox.org"), 60, "tex's reply")
    until(lambda: ids(gregor) == ids(tex) == relay_ids(second), 60, "convergence on the second relay")
    assert relay_ids(first) <= ids(tex)  # nothing acknowledged by the dead relay was lost
    for inst in (gregor, tex):
        with inst.space() as space:
            events = list(space.store.iter_since(0))
            assert len(events) == len({event.id for event in events})  # nothing twice
    with gregor.space() as g, tex.space() as t:
        assert g.store.heads() == t.store.heads()
    assert gw.output().count("not connected") == 1
    assert gw.stop() == 0 and tw.stop() == 0


def test_the_session_start_hook_starts_one_watcher_that_finds_the_live_relay(
    team: Any, relays: Callable[..., RelayProcess]
) -> None:
    gregor, _tex = team
    live = relays("b")
    configure_urls(gregor, [dead_url(), live.url])
    try:
        assert session_start(gregor, "s1").returncode == 0
        assert session_start(gregor, "s2").returncode == 0
        log = gregor.state / "spaces" / gregor.space_name / "watcher.log"
        until(lambda: f"connected to {live.url}: live" in log.read_text(), 60, "the hook's watcher live")
        assert session_start(gregor, "s3").returncode == 0
        assert len(watcher_pids(gregor)) == 1
        assert live.status()["connected"] == 1
        online = data(gregor, "online")  # read from the watcher's roster, which names the relay
        assert online["source"] == "watcher" and online["relay"] == live.url
    finally:
        for pid in watcher_pids(gregor):
            os.kill(pid, signal.SIGTERM)
    until(lambda: not watcher_pids(gregor), 60, "the watcher to stop")
