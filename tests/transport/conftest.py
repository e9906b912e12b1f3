"""Fixtures of the transport tests that run a real relay: ``relay`` (a relay process on a free
loopback port, closed after the test) and ``stack`` (an ``ExitStack`` for the sockets a test opens)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

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
