"""``sync --folder DIR --watch`` as a real process: a teammate's event that lands in the folder is in the
watcher's log and views within seconds, a local send is in the watcher's file within seconds, and
SIGTERM or Ctrl-C (SIGINT) ends it cleanly with exit status 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peers import ok

#: Generous: the machine running the suite may be loaded; on an idle one it takes under a second.
DEADLINE_S = 30.0


def wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[bytes]) -> float:
    """Poll ``condition`` until it holds; the seconds it took."""
    start = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the watcher exited ({proc.returncode}) before {what}")
        if time.monotonic() - start > DEADLINE_S:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def _contains(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_watcher_takes_and_gives_events_within_seconds_and_exits_0_on_a_signal(
    make_installation: Callable[..., Any],
    introduce: Callable[..., None],
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    gregor = make_installation("gregor", label="gregor")
    tex = make_installation("tex", label="tex")
    introduce(gregor, tex)
    folder = tmp_path / "shared"
    folder.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "datacore_msg",
            "sync",
            "--folder",
            str(folder),
            "--watch",
            "--interval",
            "0.2",
        ],
        env=gregor.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ok(tex.cli("send", "@gregor", "over the folder"))
        ok(tex.cli("sync", "--folder", str(folder)))
        took = wait_for(
            lambda: _contains(gregor.views / "inbox.org", "over the folder"),
            "tex's message in the view",
            proc,
        )
        ok(gregor.cli("send", "@tex", "from gregor"))
        wait_for(
            lambda: _contains(folder / f"{gregor.public_key}.jsonl", "from gregor"),
            "gregor's message in gregor's file",
            proc,
        )
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = err.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "Watching" in text and "Stopped watching" in text
    assert "Traceback" not in text
    assert b"received 1" in out and b"written 1" in out
    assert took < DEADLINE_S
    ok(tex.cli("sync", "--folder", str(folder)))
    assert "from gregor" in tex.read("inbox.org")
