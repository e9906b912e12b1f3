"""The chat window live through a real relay process on loopback: a teammate's message (sent by
another process, pushed on append) appears without a keypress; the window's own message reaches
the teammate; the relay killed and started again: the header says reconnecting, then connected,
and messages flow again; a wrong secret shows as auth refused, and the window stays usable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatpilot import command, shown_ids, until, window
from peers import data, ok
from relayproc import RelayProcess, configure, gregor_and_tex, sync

pytestmark = pytest.mark.slow

SIZE = (110, 32)


@pytest.fixture
def team(
    make_installation: Callable[..., Any], introduce: Callable[..., None], relay: RelayProcess
) -> tuple[Any, Any]:
    return gregor_and_tex(make_installation, introduce, relay)


def header(app: Any) -> str:
    return str(app.query_one("#header").render())


def send(inst: Any, to: str, text: str) -> str:
    result = ok(inst.run("send", to, text, "--json", "--root", str(inst.root)))
    sent: str = json.loads(result.out)["data"]["id"]
    return sent


async def test_live_through_a_relay_that_goes_away_and_comes_back(team: Any, relay: RelayProcess) -> None:
    gregor, tex = team
    app = window(gregor)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "relay: connected" in header(app), 60, "connected")
        await until(pilot, lambda: "0 online" in header(app), 60, "the roster in the header")
        await command(pilot, "/online")
        assert "gregor" in str(app.query_one("#info").render())
        assert "online (you)" in str(app.query_one("#info").render())
        first = send(tex, "@gregor", "live hello from tex")
        await until(pilot, lambda: first in shown_ids(app), 60, "tex's message in the window")
        assert app.bells == 1
        mine = (await command(pilot, "@tex hello back")).split()[1]
        await until(pilot, lambda: mine in {e["id"] for e in _log(tex, sync)}, 60, "the reply at tex")

        relay.kill()
        await until(pilot, lambda: "relay: reconnecting" in header(app), 60, "reconnecting")
        offline = (await command(pilot, "@tex written while the relay is down")).split()[1]
        assert app.is_running
        again = RelayProcess(relay.data, port=relay.port).start()
        try:
            await until(pilot, lambda: "relay: connected" in header(app), 120, "connected again")
            second = send(tex, "@gregor", "after the restart")
            await until(pilot, lambda: second in shown_ids(app), 60, "the message after the restart")
            await until(
                pilot, lambda: offline in {e["id"] for e in _log(tex, sync)}, 60, "the offline message at tex"
            )
        finally:
            again.close()


async def test_a_refused_secret_shows_in_the_header(team: Any, relay: RelayProcess) -> None:
    gregor, _ = team
    configure(gregor, relay, secret="not-the-secret-0123456789abcdef")
    app = window(gregor)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "relay: auth refused" in header(app), 60, "auth refused")
        await until(pilot, lambda: "secret" in app.notice_text, 30, "the reason under the list")
        assert "refused" in app.notice_text and "not-the-secret" not in app.notice_text
        await command(pilot, "/relay")
        info = str(app.query_one("#info").render())
        assert "auth refused" in info and "not-the-secret" not in info
        assert (await command(pilot, "@tex still works offline")).startswith("Sent: ")


def _log(inst: Any, do_sync: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """``inst``'s messages after one sync with the relay."""
    do_sync(inst)
    return list(data(inst, "inbox", "--all"))


async def test_with_a_watcher_already_running_the_window_leaves_it_the_relay(
    team: Any, relay: RelayProcess, tmp_path: Path
) -> None:
    from watchproc import Watcher

    gregor, tex = team
    watcher = Watcher(gregor, tmp_path / "watch.log").start()
    try:
        app = window(gregor)
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot, lambda: "relay: connected (sync --watch)" in header(app), 60, "the watcher's state"
            )
            sent = send(tex, "@gregor", "landed by the other watcher")
            await until(pilot, lambda: sent in shown_ids(app), 60, "the message in the window")
            mine = (await command(pilot, "@tex pushed by the other watcher")).split()[1]
            await until(pilot, lambda: mine in {e["id"] for e in _log(tex, sync)}, 60, "the reply at tex")
        assert watcher.stop() == 0
    finally:
        watcher.close()


async def test_no_relay_flag_stays_offline(team: Any) -> None:
    gregor, _ = team
    app = window(gregor, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        assert "relay: offline" in header(app)
        await command(pilot, "/relay")
        assert "--no-relay" in str(app.query_one("#info").render())


async def test_a_list_of_relays_the_first_one_dead(team: Any, relay: RelayProcess) -> None:
    gregor, tex = team
    dead = "ws://127.0.0.1:9/ws"
    path = gregor.root / ".datacore" / "settings.local.yaml"
    text = path.read_text(encoding="utf-8").replace(f"url: {relay.url}", f"url: [{dead}, {relay.url}]")
    path.write_text(text, encoding="utf-8")
    app = window(gregor)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "relay: connected" in header(app), 60, "connected to the second relay")
        await command(pilot, "/relay")
        info = str(app.query_one("#info").render())
        assert f"relays, tried in order: {dead}, {relay.url}" in info
        assert f"connected to {relay.url}" in info
        first = send(tex, "@gregor", "through the second relay")
        await until(pilot, lambda: first in shown_ids(app), 30, "tex's message in the list")
