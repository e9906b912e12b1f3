"""A real relay process on loopback and three installations (gregor on a laptop and a desktop, tex)
exchanging messages and tasks both ways with ``datacore-msg sync``; ``kill -9`` of the relay and a
restart lose nothing; SIGTERM exits 0; the command line's failures are one line and a typed code."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit
from datacore_msg.transport.relay_store import open_relay_store
from peers import data, ok
from relayproc import RelayProcess, configure, ids, relay_ids, sync

pytestmark = pytest.mark.slow


@pytest.fixture
def team(make_installation: Callable[..., Any], introduce: Callable[..., None], relay: RelayProcess) -> Any:
    insts = {
        "laptop": make_installation("gregor", tz="Europe/Ljubljana", label="laptop"),
        "desktop": make_installation("gregor", tz="Europe/Ljubljana", label="desktop"),
        "tex": make_installation("tex", tz="UTC", label="tex"),
    }
    introduce(*insts.values())
    for inst in insts.values():
        configure(inst, relay)
    return insts


def views(inst: Any) -> dict[str, bytes]:
    return {
        p.relative_to(inst.views).as_posix(): p.read_bytes()
        for p in sorted(inst.views.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_three_installations_exchange_messages_and_tasks_through_a_relay_process(
    team: dict[str, Any], relay: RelayProcess
) -> None:
    laptop, desktop, tex = team["laptop"], team["desktop"], team["tex"]
    sent = data(tex, "send", "@gregor", "hello gregor, from tex")["id"]
    task = data(tex, "send", "@gregor-claude", "summarise the notes")["id"]
    first = sync(tex)  # send already pushed on append (a relay is configured): nothing or little left
    assert first["rejected"] == [] and ids(tex) <= relay_ids(relay)
    got = sync(laptop)
    assert got["received"] >= 2
    assert "hello gregor, from tex" in laptop.read("inbox.org")
    assert task in laptop.read("agents/gregor-claude.org")
    # the other way: gregor answers from the laptop; the governor's decision travels too
    ok(laptop.cli("reply", sent, "thanks tex"))
    back = sync(laptop)
    assert back["rejected"] == []
    assert sync(tex)["received"] >= 1
    assert "thanks tex" in tex.read("inbox.org")
    # gregor's second installation gets everything and renders the same bytes
    sync(desktop)
    assert ids(desktop) == ids(laptop) == ids(tex) == relay_ids(relay)
    assert views(desktop) == views(laptop)
    # a second run moves nothing
    again = sync(tex)
    assert again["sent"] == 0 and again["received"] == 0
    assert relay.status() == {"status": "ok", "connected": 0, "store": {"reachable": True, "lag": 0}}


def test_kill_9_of_the_relay_and_a_restart_lose_nothing(team: dict[str, Any], relay: RelayProcess) -> None:
    laptop, tex = team["laptop"], team["tex"]
    for i in range(5):
        ok(tex.cli("send", "@gregor", f"before the crash {i}"))
    sync(tex)
    held = relay_ids(relay)
    assert held == ids(tex)
    relay.kill()
    # while the relay is down: one clear line, a typed exit code, nothing local lost
    ok(tex.cli("send", "@gregor", "while the relay is down"))
    down = tex.run("sync", "--root", str(tex.root), "--timeout", "5")
    assert down.code == Exit.UNREACHABLE, down
    assert down.err.count("\n") == 1 and "cannot connect" in down.err
    assert "while the relay is down" in tex.read("outbox.org")
    relay.start()
    assert relay_ids(relay) == held
    sync(tex)
    got = sync(laptop)
    assert got["received"] == len(ids(tex))
    assert "while the relay is down" in laptop.read("inbox.org")
    assert relay.stop() == 0  # SIGTERM drains and exits 0


def test_a_wrong_secret_is_refused_in_one_line_and_nothing_moves(
    team: dict[str, Any], relay: RelayProcess
) -> None:
    tex = team["tex"]
    stranger = RelayProcess(relay.data, secret="a-different-secret-0123456789", port=relay.port)
    configure(tex, stranger)
    pushed = tex.cli("send", "@gregor", "not for a stranger")  # push-on-append is refused too
    assert pushed.code == 0 and pushed.err.count("\n") == 1 and "not pushed to the relay" in pushed.err
    refused = tex.run("sync", "--root", str(tex.root))
    assert refused.code == Exit.AUTH_REFUSED, refused
    assert refused.err.count("\n") == 1 and "refused this installation's team secret" in refused.err
    assert "check messaging.relay.secret / RELAY_SECRET on both sides" in refused.err
    assert relay_ids(relay) == set()
    # other peers are still served
    assert sync(team["laptop"])["sent"] >= 0
    assert relay.status() == {"status": "ok", "connected": 0, "store": {"reachable": True, "lag": 0}}


def test_sync_without_a_relay_configured_says_how(make_installation: Callable[..., Any]) -> None:
    alone = make_installation("ann")
    result = alone.run("sync", "--root", str(alone.root))
    assert result.code == Exit.CONFIG
    assert "messaging.relay.url" in result.err


def test_the_relay_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    proc = RelayProcess(tmp_path / "data", secret=None)
    import subprocess

    done = subprocess.run(proc.command(), env=proc.env(), capture_output=True, timeout=60, check=False)
    assert done.returncode == Exit.CONFIG
    assert b"RELAY_SECRET" in done.stderr and b"secrets.token_urlsafe" in done.stderr


def test_status_and_metrics_never_name_anyone(team: dict[str, Any], relay: RelayProcess) -> None:
    sync(team["tex"])
    code, kind, body = relay.get("/status")
    assert code == 200 and kind == "application/json"
    assert json.loads(body) == {"status": "ok", "connected": 0, "store": {"reachable": True, "lag": 0}}
    code, kind, text = relay.get("/metrics")
    assert code == 200 and kind.startswith("text/plain")
    assert "datacore_relay_events_in_total" in text and "datacore_relay_connections 0" in text
    assert "tex" not in text and "gregor" not in text


def _bulk(inst: Any, count: int) -> None:
    """``count`` messages from ``inst`` to gregor, appended in one transaction (no views)."""
    from datacore_msg.eventlog.payloads import MessageSent

    with inst.space() as space:
        items = [
            (
                inst.name,
                MessageSent(
                    id=f"msg-20260101-000000-{i:08x}", sender=inst.name, to="gregor", text=f"bulk {i}"
                ),
            )
            for i in range(count)
        ]
        space.store.append_all(space.signing_key(), items, 1_767_225_600_000)


def _kill_when(proc: subprocess.Popen[bytes], reached: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not reached():
        assert proc.poll() is None, "the sync ended before it could be interrupted"
        assert time.monotonic() < deadline, "the sync did not start moving events"
        time.sleep(0.002)
    proc.kill()
    proc.wait(timeout=30)


def _settled(count: Callable[[], int]) -> int:
    """``count()`` once it has stopped changing for 2 s (a relay on a loaded machine takes a while
    to store a batch of 500)."""
    last = -1
    while True:
        now = count()
        if now == last:
            return now
        last = now
        time.sleep(2)


def test_a_peer_killed_mid_batch_resumes_where_it_was(team: dict[str, Any], relay: RelayProcess) -> None:
    tex, laptop = team["tex"], team["laptop"]
    total = 4000
    _bulk(tex, total)
    command = [sys.executable, "-m", "datacore_msg", "sync", "--root"]
    # the sender is killed while the relay is storing its batches
    sender = subprocess.Popen(
        [*command, str(tex.root)], env=tex.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _kill_when(sender, lambda: 0 < len(relay_ids(relay)) < total)
    held = _settled(lambda: len(relay_ids(relay)))  # the relay still stores the frames that arrived
    assert 0 < held < total
    resumed = sync(tex)
    assert resumed["sent"] == total - held  # only what the relay still lacked
    assert relay_ids(relay) == ids(tex)
    # the receiver is killed while it is storing what the relay sends
    receiver = subprocess.Popen(
        [*command, str(laptop.root)], env=laptop.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _kill_when(receiver, lambda: len(ids(laptop)) > 100)
    had = _settled(lambda: len(ids(laptop)))
    rest = sync(laptop)
    assert rest["received"] == total - had
    assert ids(laptop) == ids(tex)
    ok(laptop.cli("verify"))


def test_a_wss_url_to_a_plain_relay_names_the_failure_and_asks_about_tls(
    relay: RelayProcess, tmp_path: Path
) -> None:
    """The TLS handshake to a relay that speaks plain WebSocket ends in a reset with no message:
    the error names the exception and asks whether the relay is behind TLS."""
    from datacore_msg.errors import Unreachable
    from datacore_msg.eventlog.signing import SigningKey
    from datacore_msg.transport.peer_client import sync_once

    url = relay.url.replace("ws://", "wss://", 1)
    store = open_relay_store(tmp_path / "peer")
    try:
        with pytest.raises(Unreachable) as failed:
            sync_once(url, "x" * 32, SigningKey.generate(), store, lambda items: store.ingest(items, 0), 30)
    finally:
        store.close()
    message = str(failed.value)
    assert "()" not in message and "\n" not in message, message
    assert "TLS handshake failed" in message and "is the relay behind TLS?" in message, message
    assert message.startswith(f"relay {url}: "), message


def test_a_relay_holding_over_ten_thousand_origins_still_syncs_a_normal_peer(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    """One valid event from each of 10,001 throwaway keys (what anyone with the team secret can
    send) used to make the relay's version vector longer than a ``heads`` frame may be, and every
    peer refused it (``error limit``). The vector now goes in pages: a real relay process with those
    events serves a normal installation's sync, and that installation (now holding them all, so its
    own vector is paged too) syncs again."""
    from datacore_msg.eventlog.envelope import seal
    from datacore_msg.eventlog.signing import SigningKey

    now_ms = int(time.time() * 1000)
    junk = [
        seal(key, seq=1, prev=None, hlc=now_ms << 16, actor="x", type_name="junk.event", version=1, data={})
        for key in (SigningKey.generate() for _ in range(10_001))
    ]
    store = open_relay_store(tmp_path / "relay-data")
    try:
        assert len(store.ingest(list(enumerate(junk)), now_ms).accepted) == 10_001
    finally:
        store.close()
    relay = RelayProcess(tmp_path / "relay-data").start()
    try:
        tex = make_installation("tex")
        configure(tex, relay)
        ok(tex.cli("send", "@gregor", "still reaches the relay"))
        first = sync(tex)
        assert first["received"] > 0 and first["rejected"] == []  # the push took a few batches too
        assert {event.id for event in junk} <= ids(tex)
        assert ids(tex) == relay_ids(relay)
        again = sync(tex)
        assert again["sent"] == 0 and again["received"] == 0
        assert relay.status()["status"] == "ok"
    finally:
        relay.close()


def test_events_of_new_origins_beyond_the_relays_limit_are_refused_and_the_team_keeps_syncing(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    """``relay serve --max-origins 3``: the relay keeps events of three installations; events of a
    fourth and later origin are rejected with the reason (the rest of their batch is stored), and the
    installations it holds keep exchanging."""
    from datacore_msg.eventlog.envelope import seal
    from datacore_msg.eventlog.signing import SigningKey

    relay = RelayProcess(tmp_path / "relay-data", args=("--max-origins", "3")).start()
    try:
        gregor, tex = make_installation("gregor"), make_installation("tex")
        introduce(gregor, tex)
        for inst in (gregor, tex):
            configure(inst, relay)
        ok(gregor.cli("send", "@tex", "first"))
        ok(tex.cli("send", "@gregor", "second"))
        assert sync(gregor)["rejected"] == [] and sync(tex)["rejected"] == []
        now_ms = int(time.time() * 1000)
        junk = [
            seal(k, seq=1, prev=None, hlc=now_ms << 16, actor="x", type_name="junk.event", version=1, data={})
            for k in (SigningKey.generate() for _ in range(5))
        ]
        with tex.space() as space:
            assert len(space.store.ingest(list(enumerate(junk)), now_ms).accepted) == 5
        moved = sync(tex)
        refused = [r for r in moved["rejected"] if "limit of 3 origins" in r]
        assert len(refused) == 4 and all("--max-origins" in r for r in refused), moved
        assert len(relay_ids(relay) & {event.id for event in junk}) == 1
        ok(tex.cli("send", "@gregor", "third"))
        assert len(sync(tex)["rejected"]) == 4  # the refused ones are offered again, and refused
        assert sync(gregor)["received"] >= 2  # tex's message and the one junk event the relay kept
        assert relay.status()["status"] == "ok"
    finally:
        relay.close()
