"""Applying the schema migrations when a store opens, and listing their status.

The fast path reads the applied names with plain sqlite3 (one query); only when something is
pending does it import sqlite-utils and apply the steps with ``sqlite_utils.Migrations``. All
pending steps run inside one ``BEGIN IMMEDIATE`` transaction (each step a savepoint with its record),
so two processes opening a new file at once cannot both apply a step, and a failure applies nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from datacore_msg.eventlog.connection import connect, write_transaction
from datacore_msg.eventlog.sqlite_errors import translating
from datacore_msg.eventlog.store import EventStore
from datacore_msg.migrations.schema import MIGRATION_SET, STEPS
from datacore_msg.migrations.upcasters import upcast
from datacore_msg.records import Record, set_field

MIGRATIONS_TABLE = "_sqlite_migrations"


class MigrationStatus(Record):
    __slots__ = ("applied_at", "name")
    name: str
    applied_at: str | None

    def __init__(self, name: str, applied_at: str | None) -> None:
        set_field(self, "name", name)
        set_field(self, "applied_at", applied_at)


def _applied(conn: sqlite3.Connection) -> dict[str, str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
    ).fetchone()
    if not exists:
        return {}
    rows = conn.execute(
        f"SELECT name, applied_at FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
        (MIGRATION_SET,),
    )
    return {row[0]: row[1] for row in rows}


def status(conn: sqlite3.Connection, path: Path) -> list[MigrationStatus]:
    with translating(path):
        applied = _applied(conn)
    return [MigrationStatus(name, applied.get(name)) for name, _ in STEPS]


def apply_pending(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Apply every pending step; return the names applied (empty on the fast path)."""
    with translating(path):
        applied = _applied(conn)
        if all(name in applied for name, _ in STEPS):
            return []
    import sqlite_utils

    migrations = sqlite_utils.Migrations(MIGRATION_SET)
    for name, step in STEPS:
        migrations(name=name)(step)
    with write_transaction(conn, path):
        db = sqlite_utils.Database(conn)
        pending = [migration.name for migration in migrations.pending(db)]
        migrations.apply(db)
    return pending


def open_store(path: Path) -> EventStore:
    """Open (creating if needed) a space's event log with its schema up to date."""
    conn = connect(path)
    apply_pending(conn, path)
    return EventStore(conn, path, upcaster=upcast)
