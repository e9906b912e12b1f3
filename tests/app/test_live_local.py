"""The local side of live delivery, without a relay process: the watcher's lock, push-on-append's
early exits (no relay; a watcher runs), the status file, and ``online``/``status`` on the command
line without a relay."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datacore_msg.app.presence import current_status, set_status
from datacore_msg.app.push import push_after_append
from datacore_msg.app.watch_lock import acquire, start_watcher, watcher_running
from datacore_msg.cli.exit_codes import Exit
from peers import data, ok
from relayproc import RelayProcess, configure


def test_one_watcher_lock_per_space(tmp_path: Path) -> None:
    state = tmp_path / "spaces" / "s"
    assert not watcher_running(state)  # no lock file yet: nothing created by asking
    assert not state.exists()
    first = acquire(state)
    assert first is not None and watcher_running(state)
    assert acquire(state, wait_s=0.2) is None
    assert start_watcher(state, [sys.executable, "-c", "raise SystemExit(3)"]) is False
    first.release()
    assert not watcher_running(state)
    again = acquire(state)
    assert again is not None
    again.release()


def test_push_after_append_without_a_relay_does_nothing(make_installation: Callable[..., Any]) -> None:
    alone = make_installation("ann")
    ok(alone.cli("send", "@bob", "no relay here"))
    with alone.space() as space:
        assert push_after_append(space).skipped == "no relay"


def test_push_after_append_leaves_it_to_a_running_watcher(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    inst = make_installation("ann")
    configure(inst, RelayProcess(tmp_path / "never-started"))  # a port nobody listens on
    with inst.space() as space:
        lock = acquire(space.paths.space_state_dir)
        assert lock is not None
        try:
            outcome = push_after_append(space)
            assert outcome.skipped == "watcher" and not outcome.attempted
            sent = inst.cli("send", "@ann", "the watcher takes it")
            assert sent.code == 0 and sent.err == ""
        finally:
            lock.release()
        outcome = push_after_append(space, timeout_s=5)
        assert outcome.attempted and outcome.problem is not None
        assert "not pushed to the relay" in outcome.problem and "next sync or watcher" in outcome.problem


def test_status_is_kept_in_the_state_folder(make_installation: Callable[..., Any]) -> None:
    inst = make_installation("ann")
    assert data(inst, "status") == {"status": "online"}
    ok(inst.cli("status", "away"))
    assert data(inst, "status") == {"status": "away"}
    with inst.space() as space:
        assert current_status(space.paths) == "away"
        (space.paths.space_state_dir / "status").write_text("asleep\n")
        assert current_status(space.paths) == "online"  # not a status: the default
        set_status(space.paths, "busy")
    assert ok(inst.cli("status")).out.strip() == "Status: busy"
    refused = inst.cli("status", "asleep")
    assert refused.code == Exit.USAGE


def test_online_without_a_relay_says_how(make_installation: Callable[..., Any]) -> None:
    inst = make_installation("ann")
    result = inst.cli("online")
    assert result.code == Exit.CONFIG and "messaging.relay.url" in result.err


def test_start_watcher_starts_once_and_keeps_its_log_bounded(tmp_path: Path) -> None:
    state = tmp_path / "spaces" / "s"
    state.mkdir(parents=True)
    (state / "watcher.log").write_bytes(b"x" * (2 * 1024 * 1024))
    # a stand-in watcher: holds the inherited lock until its stdin-less sleep ends
    script = "import time; print('started', flush=True); time.sleep(5)"
    assert start_watcher(state, [sys.executable, "-c", script]) is True
    assert watcher_running(state)  # the child holds the lock the starter took
    assert start_watcher(state, [sys.executable, "-c", script]) is False
    assert (state / "watcher.log.1").stat().st_size == 2 * 1024 * 1024
    deadline = time.monotonic() + 60
    while b"started" not in (state / "watcher.log").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (state / "watcher.log").read_bytes().count(b"started") == 1
