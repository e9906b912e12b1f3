"""A real ``nats-server -js`` for tests: one node, or a cluster of three on loopback.

``nats_server_path()`` finds the binary or skips the test saying why; under CI (``CI`` or
``DATACORE_REQUIRE_NATS=1`` in the environment, as ``.ci/run`` sets) a missing binary fails the
test instead, so CI cannot pass with the JetStream tests silently skipped. ``NatsServer.start()``
waits until the monitoring endpoint's ``/healthz`` says JetStream is ready; ``kill()`` is
``kill -9``; ``close()`` stops it (tests use it from a fixture, so the process never outlives one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from relayproc import free_port

MISSING = (
    "nats-server is not installed (apt-get install nats-server): the JetStream store's tests need a real one"
)


def nats_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("DATACORE_REQUIRE_NATS") == "1"


#: Where Debian's package puts it (not on a user's PATH).
DEBIAN_PATH = Path("/usr/sbin/nats-server")


def nats_server_path() -> str:
    found = shutil.which("nats-server") or (str(DEBIAN_PATH) if DEBIAN_PATH.exists() else None)
    if found is None:
        if nats_required():
            pytest.fail(MISSING + "; CI requires them (CI / DATACORE_REQUIRE_NATS=1)")
        pytest.skip(MISSING)
    return found


class NatsServer:
    def __init__(
        self,
        store_dir: Path,
        name: str = "n1",
        cluster_port: int | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.login = login
        self.name = name
        self.port = free_port()
        self.monitor = free_port()
        self.cluster_port = cluster_port
        self.routes: list[int] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store_dir.parent / f"nats-{name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            nats_server_path(),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.monitor),
            "-sd",
            str(self.store_dir),
            "-n",
            self.name,
        ]
        if self.login is not None:
            cmd += ["--user", self.login[0], "--pass", self.login[1]]
        if self.cluster_port is not None:
            cmd += ["--cluster_name", "datacore-test", "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            routes = ",".join(f"nats://127.0.0.1:{port}" for port in self.routes)
            cmd += ["--routes", routes]
        return cmd

    def start(self, timeout: float = 60) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:]
                raise AssertionError(f"nats-server exited {self.proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"nats-server not ready after {timeout} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def cluster(base: Path, size: int = 3) -> list[NatsServer]:
    """``size`` nodes routed to each other (not started)."""
    ports = [free_port() for _ in range(size)]
    nodes = [NatsServer(base / f"n{i + 1}", f"n{i + 1}", ports[i]) for i in range(size)]
    for node in nodes:
        node.routes = [p for p in ports if p != node.cluster_port]
    return nodes


def start_cluster(nodes: list[NatsServer], timeout: float = 90) -> None:
    """Start every node, then wait for each to report JetStream ready (a meta leader elected)."""
    for node in nodes:
        node.store_dir.mkdir(parents=True, exist_ok=True)
        with node.log.open("ab") as log:
            node.proc = subprocess.Popen(node.command(), stdout=log, stderr=subprocess.STDOUT)
    for node in nodes:
        node.wait_ready(timeout)


def servers(nodes: list[NatsServer]) -> str:
    """The ``--store`` value naming every node."""
    return "nats://" + ",".join(f"127.0.0.1:{node.port}" for node in nodes)


def stream_ids(url: str, stream: str) -> set[str]:
    """The ids of every event in ``stream`` (read through the relay's own JetStream store)."""
    from datacore_msg.transport.relay_jetstream import JetStreamStore

    store = JetStreamStore([url], stream)
    try:
        out: set[str] = set()
        for origin, head in store.heads().items():
            seq = 0
            while seq < head:
                found = store.read(origin, seq, 500)
                assert found, f"stream {stream}: origin {origin[:12]} holds {head} events, none after {seq}"
                out.update(event.id for event in found)
                seq = found[-1].seq
        return out
    finally:
        store.close()
