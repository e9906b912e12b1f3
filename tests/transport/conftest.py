"""Fixtures of the transport tests that run real processes: ``watchers`` (``sync --watch``
processes, killed after the test), ``stack`` (an ``ExitStack`` for the sockets a test opens) and
``nats_server`` (a real ``nats-server -js`` for the module's JetStream tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from natsserver import NatsServer
from watchproc import Watcher


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


@pytest.fixture
def watchers(tmp_path: Path) -> Iterator[Callable[[Any], Watcher]]:
    """Start ``sync --watch`` processes (``watchers(inst)``), each killed after the test if still
    running."""
    made: list[Watcher] = []

    def start(inst: Any, live: bool = True) -> Watcher:
        watcher = Watcher(inst, tmp_path / f"watch-{inst.name}-{len(made)}.log").start(live)
        made.append(watcher)
        return watcher

    yield start
    for watcher in made:
        watcher.close()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One ``nats-server -js`` for a test module (each test uses a stream of its own); skipped
    saying why where nats-server is missing, failed under CI."""
    server = NatsServer(tmp_path_factory.mktemp("nats") / "js")
    try:
        yield server.start()
    finally:
        server.close()
