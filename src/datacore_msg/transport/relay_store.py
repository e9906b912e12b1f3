"""The relay's store: its own event log, the same schema and the same ``ingest`` as a space's.

The relay keeps every event it is sent and verifies each one exactly as ``import`` does (id,
signature, chain, forks, clock skew, payload), one transaction per batch, durable (``synchronous =
FULL``) before the batch is acknowledged. It has no identity of its own: no signing key, no name,
no views; it never appends, so it never writes an event of its own and never vouches for anyone.
Batches are stored by :class:`StoreWorker`'s thread; the event loop reads through its own
connection (WAL: readers never wait for the writer).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datacore_msg.errors import IntegrityError, StorageError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import EventStore, IngestReport
from datacore_msg.migrations.runner import open_store

DB_NAME = "relay-events.sqlite"


def open_relay_store(data_dir: Path) -> EventStore:
    """The relay's event log in ``data_dir`` (created, mode 0700, when missing)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise StorageError(f"{data_dir}: not a folder (--data names the folder of the relay's event log)")
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(f"{data_dir}: cannot create the relay's data folder: {exc.strerror}") from None
    return open_store(data_dir / DB_NAME)


class StoreWorker:
    """The relay's one writer: a thread that owns the write connection to the relay's log and runs
    every ``ingest`` (signature checks, the transaction, the fsync), so the event loop keeps serving
    the other connections meanwhile. Batches are stored one at a time, in the order they were
    handed over (first come, first served across connections)."""

    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-store")
        self._store: EventStore = self._pool.submit(open_store, path).result()

    async def ingest(self, items: list[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._store.ingest, items, now_ms)

    def close(self) -> None:
        self._pool.submit(self._store.close).result()
        self._pool.shutdown(wait=True)
