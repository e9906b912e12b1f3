"""The relay's store thread leaves WAL checkpoints to a checkpointer thread (no batch's commit
waits for one) and stops that thread when it closes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from datacore_msg.eventlog.checkpointer import BACKSTOP_PAGES
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport.relay_store import DB_NAME, StoreWorker, open_relay_store
from relayclient import NOW_MS, chain


def _checkpointers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "wal-checkpointer"}


def test_the_store_thread_checkpoints_beside_its_commits_and_stops_the_checkpointer(tmp_path: Path) -> None:
    open_relay_store(tmp_path / "relay").close()
    running = _checkpointers()
    worker = StoreWorker(tmp_path / "relay" / DB_NAME)
    started = _checkpointers() - running
    try:
        assert len(started) == 1
        pages = worker._pool.submit(
            lambda: int(worker._store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        ).result()
        assert pages == BACKSTOP_PAGES
        events = chain(SigningKey.generate(), 20)
        report = asyncio.run(worker.ingest(list(enumerate(events)), NOW_MS))
        assert len(report.accepted) == 20
    finally:
        worker.close()
    assert not any(thread.is_alive() for thread in started)
    log = open_relay_store(tmp_path / "relay")
    try:
        assert log.count() == 20
    finally:
        log.close()
