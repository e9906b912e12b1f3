"""A ``datacore-msg sync --watch`` process for tests: started with an installation's environment,
its output in a file, stopped with SIGTERM (and its exit status checked). ``session_start`` runs the
SessionStart hook (which starts a watcher); ``watcher_pids`` finds an installation's watchers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def until(condition: Callable[[], bool], timeout: float = 60, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Watcher:
    def __init__(self, inst: Any, log: Path) -> None:
        self.inst = inst
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, live: bool = True) -> Watcher:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "datacore_msg", "sync", "--watch", "--root", str(self.inst.root)],
                env=self.inst.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        if live:
            self.wait_for("live", 1)
        return self

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> None:
        def seen() -> bool:
            assert self.proc is None or self.proc.poll() is None, f"the watcher exited:\n{self.output()}"
            return self.output().count(text) >= count

        until(seen, timeout, f"{text!r} x{count} in the watcher's output:\n{self.output()}")

    def stop(self, timeout: float = 30, signum: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def session_start(inst: Any, session: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``inst``'s SessionStart hook for ``session`` in its own process."""
    payload = json.dumps({"session_id": session, "cwd": str(inst.root), "hook_event_name": "SessionStart"})
    return subprocess.run(
        [sys.executable, "-m", "datacore_msg", "hook", "session-start", "--root", str(inst.root)],
        input=payload.encode(),
        env=inst.env(),
        capture_output=True,
        timeout=120,
        check=False,
    )


def watcher_pids(inst: Any) -> list[int]:
    """The process ids of the ``sync --watch`` processes running for ``inst``'s root."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--watch" in argv and str(inst.root).encode() in argv:
            found.append(int(entry.name))
    return found
