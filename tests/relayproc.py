"""A real relay process for tests: ``datacore-msg relay serve`` on a free loopback port.

``RelayProcess.start()`` waits until ``GET /status`` answers; ``kill()`` is ``kill -9``; ``stop()``
is SIGTERM (and checks the exit status). ``configure(inst, relay)`` points an installation's
settings at it; ``gregor_and_tex(...)`` makes two introduced installations pointed at it;
``sync(inst)`` runs one ``sync --json`` of it; ``ids`` and ``relay_ids`` are the
event ids an installation's log and the relay's hold.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datacore_msg.transport.relay_store import open_relay_store
from peers import ok

SRC = Path(__file__).resolve().parents[1] / "src"
SECRET = "relay-test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RelayProcess:
    def __init__(
        self, data: Path, secret: str | None = SECRET, port: int | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.data = data
        self.args = args
        self.secret = secret
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("RELAY_SECRET", None)
        if self.secret is not None:
            env["RELAY_SECRET"] = self.secret
        return env

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "datacore_msg",
            "relay",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
            *self.args,
        ]

    def start(self, timeout: float = 60) -> RelayProcess:
        self.proc = subprocess.Popen(
            self.command(), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the relay exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                )
            try:
                self.status()
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise AssertionError("the relay did not answer /status in time")

    def get(self, path: str) -> tuple[int, str, str]:
        """The status code, content type and body of ``GET path`` (an HTTP error status, such as
        ``/status``'s 503 while the store is down, is returned, not raised)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                kind = response.headers.get("Content-Type", "")
                return response.status, kind, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode("utf-8")

    def status(self) -> Any:
        return json.loads(self.get("/status")[2])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr) if self.proc else ():
            if stream is not None:
                stream.close()


def configure(inst: Any, relay: RelayProcess, secret: str | None = None) -> None:
    """Point ``inst``'s settings (``messaging.relay``) at ``relay``, replacing an earlier one."""
    path = inst.root / ".datacore" / "settings.local.yaml"
    lines, kept, inside = path.read_text(encoding="utf-8").splitlines(), [], False
    for line in lines:
        inside = line == "  relay:" or (inside and line.startswith("    "))
        if not inside:
            kept.append(line)
    text = "\n".join(kept) + "\n"
    assert text.rstrip().splitlines()[-1].startswith("  "), "messaging must be the last section"
    text = text.rstrip() + f"\n  relay:\n    url: {relay.url}\n    secret: {secret or relay.secret}\n"
    path.write_text(text, encoding="utf-8")


def configure_urls(inst: Any, urls: list[str], secret: str = SECRET) -> None:
    """``inst``'s ``messaging.relay.url`` as a YAML list of ``urls`` (relay instances to fail over
    between, in order)."""
    holder = RelayProcess(Path("unused"), secret)
    configure(inst, holder)
    path = inst.root / ".datacore" / "settings.local.yaml"
    listed = "    url:\n" + "".join(f"      - {url}\n" for url in urls)
    text = path.read_text(encoding="utf-8").replace(f"    url: {holder.url}\n", listed)
    assert listed in text
    path.write_text(text, encoding="utf-8")


def gregor_and_tex(
    make_installation: Callable[..., Any], introduce: Callable[..., None], relay: RelayProcess | None = None
) -> tuple[Any, Any]:
    """Two introduced installations, gregor (Europe/Ljubljana) and tex (UTC), each pointed at
    ``relay`` when one is given."""
    gregor = make_installation("gregor", tz="Europe/Ljubljana", label="gregor")
    tex = make_installation("tex", tz="UTC", label="tex")
    introduce(gregor, tex)
    if relay is not None:
        for inst in (gregor, tex):
            configure(inst, relay)
    return gregor, tex


def sync(inst: Any) -> dict[str, Any]:
    """One ``sync --json`` of ``inst`` in its own process, which must succeed; its JSON data."""
    out: dict[str, Any] = json.loads(ok(inst.run("sync", "--json", "--root", str(inst.root))).out)["data"]
    return out


def ids(inst: Any) -> set[str]:
    with inst.space() as space:
        return {event.id for event in space.store.iter_since(0)}


def relay_ids(relay: RelayProcess) -> set[str]:
    store = open_relay_store(relay.data)
    try:
        return {event.id for event in store.iter_since(0)}
    finally:
        store.close()
