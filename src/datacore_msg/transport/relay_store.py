"""The relay's store: the :class:`RelayStore` interface, and its default, the relay's own event log
(the same schema and the same ``ingest`` as a space's). The other one, NATS JetStream, is in
:mod:`~.relay_jetstream`; both pass the same contract tests
(``tests/transport/test_relay_store_contract.py``).

The relay keeps every event it is sent and verifies each one exactly as ``import`` does (id,
signature, chain, forks, clock skew, payload), one transaction per batch, durable (``synchronous =
FULL``) before the batch is acknowledged. It has no identity of its own: no signing key, no name,
no views; it never appends, so it never writes an event of its own and never vouches for anyone.
Batches are stored by :class:`StoreWorker`'s thread; the event loop reads through its own
connection (WAL: readers never wait for the writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

import attrs

from datacore_msg.errors import IntegrityError, StorageError
from datacore_msg.eventlog.checkpointer import checkpointed
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import EventStore, IngestReport
from datacore_msg.migrations.runner import open_store

DB_NAME = "relay-events.sqlite"

#: What a store calls, on the relay's event loop, with events another relay instance stored.
OnStored = Callable[[list[Event]], None]


@attrs.frozen
class StoreHealth:
    """For ``/status`` and ``/metrics``: can the store take events now, and how many stored events
    this relay instance has not seen yet (0 for a store it is the only writer of)."""

    reachable: bool
    lag: int = 0
    detail: str = ""


class RelayStore(Protocol):
    """What the relay needs of a store. ``heads`` and ``events_after`` are read on the event loop's
    thread (catch-up); ``ingest`` verifies a batch as :meth:`EventStore.ingest` does and returns once
    the accepted events are durable (only then is the batch acknowledged), or raises
    :class:`~datacore_msg.errors.StorageError` having stored nothing it reports as accepted;
    ``listen`` registers the callback for events other writers stored (the relay's fan-out);
    ``settle``, awaited before a new connection is served, returns once ``heads`` and the listener
    know every event the store had acknowledged when it was called (or raises
    :class:`~datacore_msg.errors.StorageError`), so a sync never ends short of what was
    acknowledged before it began. ``events_after`` returns at least one event when the store holds
    more than ``seq`` of ``origin``, or raises :class:`~datacore_msg.errors.StorageError`."""

    def heads(self) -> dict[str, int]: ...

    async def settle(self) -> None: ...

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]: ...

    async def ingest(self, items: list[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport: ...

    def listen(self, on_stored: OnStored) -> None: ...

    def health(self) -> StoreHealth: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


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
    handed over (first come, first served across connections). The WAL is checkpointed beside the
    commits, not in them (:mod:`~datacore_msg.eventlog.checkpointer`): no batch waits for one."""

    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-store")
        self._exit = ExitStack()
        self._store: EventStore = self._pool.submit(self._open, path).result()

    def _open(self, path: Path) -> EventStore:
        store = open_store(path)
        try:
            self._exit.enter_context(checkpointed(store.conn, store.path))
        except BaseException:
            store.close()
            raise
        return store

    def _close(self) -> None:
        try:
            self._exit.close()
        finally:
            self._store.close()

    async def ingest(self, items: list[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._store.ingest, items, now_ms)

    def close(self) -> None:
        self._pool.submit(self._close).result()
        self._pool.shutdown(wait=True)


class SqliteRelayStore:
    """The default :class:`RelayStore`: the relay's own event log, read on the loop's thread through
    ``store``, written by a :class:`StoreWorker`. It is the only writer, so ``listen`` has nothing to
    report."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.worker = StoreWorker(store.path)
        self._closed = False

    def heads(self) -> dict[str, int]:
        return self.store.heads()

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]:
        return self.store.events_after(origin, seq, limit)

    async def settle(self) -> None:
        return None  # the only writer: what it acknowledged is in its heads already

    async def ingest(self, items: list[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        return await self.worker.ingest(items, now_ms)

    def listen(self, on_stored: OnStored) -> None:
        return None

    def health(self) -> StoreHealth:
        return StoreHealth(reachable=True)

    def describe(self) -> str:
        return f"{self.store.count()} events in {self.store.path}"

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.worker.close()
