"""Fixtures of the transport tests that run a real relay: ``relay`` (a relay process on a free
loopback port, closed after the test), ``stack`` (an ``ExitStack`` for the sockets a test opens) and
``nats_server`` (a real ``nats-server -js`` for the module's JetStream tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from natsserver import NatsServer
from relayproc import RelayProcess


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    proc = RelayProcess(tmp_path / "relay-data").start()
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One ``nats-server -js`` for a test module (each test uses a stream of its own); skipped
    saying why where nats-server is missing, failed under CI."""
    server = NatsServer(tmp_path_factory.mktemp("nats") / "js")
    try:
        yield server.start()
    finally:
        server.close()
