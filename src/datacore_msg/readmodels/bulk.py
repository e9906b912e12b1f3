"""Bulk loads of derived tables.

Inserting many rows into a table with secondary indexes costs a random b-tree insert per row and
index; building an index afterwards costs one sort. :func:`without_indexes` drops a table's own
indexes (those declared with ``CREATE INDEX``, not the ones SQLite keeps for a primary key or a
``UNIQUE`` constraint), runs the load, and creates them again from their stored SQL, so the schema
ends exactly as it was. All of it runs inside one savepoint (nested in the caller's transaction, or
a transaction of its own): an error or a crash rolls the drop back with the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_indexes(conn: sqlite3.Connection, table: str) -> Iterator[None]:
    conn.execute("SAVEPOINT bulk_load")
    try:
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL ORDER BY name",
            (table,),
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        yield
        for _, sql in indexes:
            conn.execute(sql)
    except BaseException:
        conn.execute("ROLLBACK TO bulk_load")
        conn.execute("RELEASE bulk_load")
        raise
    conn.execute("RELEASE bulk_load")
