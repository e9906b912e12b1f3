"""The chat window in a real terminal (tmux), as a person runs it: it starts, takes typed input,
sends (the message lands in the log), and leaves with ``/quit`` and with Ctrl-C, the terminal's
settings as they were (``stty -g`` before and after) and the shell usable."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

SRC = Path(__file__).resolve().parents[2] / "src"


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "chat")

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen in time; the screen:\n{shown}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        self("send-keys", "-t", "chat", "-l", text)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    term = Tmux(tmp_path / "tmux.sock")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "PYTHONPATH": str(SRC),
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(tmp_path / "cache")),
        "XDG_STATE_HOME": os.environ.get("XDG_STATE_HOME", str(tmp_path / "state")),
        "PS1": "$ ",
    }
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    shell = f"env -i {exports} bash --norc --noprofile"
    term("new-session", "-d", "-s", "chat", "-x", "110", "-y", "30", shell)
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-S", str(term.socket), "kill-server"], capture_output=True, check=False)


def _messages(inst: Any) -> list[str]:
    from datacore_msg.eventlog.payloads import MessageSent

    with inst.space() as sp:
        payloads = [sp.store.decode(event) for event in sp.store.iter_since(0)]
    return [payload.text for payload in payloads if isinstance(payload, MessageSent)]


def _start(tmux: Tmux, inst: Any, tmp_path: Path, run: str) -> None:
    chat = f"{shlex.quote(sys.executable)} -m datacore_msg chat --root {shlex.quote(str(inst.root))}"
    before, after = tmp_path / f"stty-before-{run}", tmp_path / f"stty-after-{run}"
    tmux.type(f"stty -g > {before}; {chat}; echo EXIT-{run}=$?; stty -g > {after}")
    tmux("send-keys", "-t", "chat", "Enter")
    tmux.wait_for("relay: offline")


def _check_terminal(tmux: Tmux, tmp_path: Path, run: str) -> None:
    deadline = time.monotonic() + 60
    while not re.search(rf"EXIT-{run}=\d", shown := tmux.screen()):  # not the typed "=$?"
        assert time.monotonic() < deadline, f"the window did not exit; the screen:\n{shown}"
        time.sleep(0.1)
    assert f"EXIT-{run}=0" in shown, shown
    after = tmp_path / f"stty-after-{run}"
    deadline = time.monotonic() + 30
    # the shell creates the file (empty) before stty writes its one line into it
    while not (after.exists() and after.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert after.read_text() == (tmp_path / f"stty-before-{run}").read_text(), "terminal settings changed"
    tmux.type(f"echo usable-{run}-$((40 + 2))")
    tmux("send-keys", "-t", "chat", "Enter")
    tmux.wait_for(f"usable-{run}-42")


def test_type_send_and_quit_in_a_real_terminal(
    tmux: Tmux, make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    tex = make_installation("tex")
    gregor = make_installation("gregor")
    introduce(tex, gregor)

    _start(tmux, tex, tmp_path, "quit")
    tmux.type("@gregor hello from a real terminal")
    tmux("send-keys", "-t", "chat", "Enter")
    deadline = time.monotonic() + 60
    while "hello from a real terminal" not in _messages(tex):
        assert time.monotonic() < deadline, f"not in the log; the screen:\n{tmux.screen()}"
        time.sleep(0.2)
    tmux.wait_for("Sent: msg-")
    tmux.type("/quit")
    tmux("send-keys", "-t", "chat", "Enter")
    _check_terminal(tmux, tmp_path, "quit")

    _start(tmux, tex, tmp_path, "ctrlc")
    tmux.wait_for("hello from a real terminal")  # the list shows what was sent before
    tmux("send-keys", "-t", "chat", "C-c")
    _check_terminal(tmux, tmp_path, "ctrlc")
