"""The relay's store: its own event log, the same schema and the same ``ingest`` as a space's.

The relay keeps every event it is sent and verifies each one exactly as ``import`` does (id,
signature, chain, forks, clock skew, payload), one transaction per batch, durable (``synchronous =
FULL``) before the batch is acknowledged. It has no identity of its own: no signing key, no name,
no views; it never appends, so it never writes an event of its own and never vouches for anyone.
"""

from __future__ import annotations

from pathlib import Path

from datacore_msg.errors import StorageError
from datacore_msg.eventlog.store import EventStore
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
