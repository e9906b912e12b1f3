"""Schema migrations: named, numbered, applied once per file, safe when processes race on a new file."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datacore_msg.eventlog.connection import connect
from datacore_msg.migrations.runner import (
    MIGRATIONS_TABLE,
    apply_pending,
    open_store,
    status,
)
from datacore_msg.migrations.schema import MIGRATION_SET, STEPS

SRC = Path(__file__).resolve().parents[2] / "src"
NAMES = [name for name, _ in STEPS]


def recorded(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            f"SELECT name, COUNT(*) FROM {MIGRATIONS_TABLE} WHERE migration_set = ? "
            "GROUP BY name ORDER BY name",
            (MIGRATION_SET,),
        ).fetchall()
    finally:
        conn.close()


def test_step_names_are_unique_and_numbered_in_order() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert NAMES, "there is at least one migration"
    for number, name in enumerate(NAMES, start=1):
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+", name), name
        assert name.startswith(f"{number:04d}_"), (number, name)
    assert all(callable(step) for _, step in STEPS)


def test_a_fresh_file_gets_every_migration_applied_with_a_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    conn = connect(path)
    try:
        assert [s.applied_at for s in status(conn, path)] == [None] * len(NAMES)
        applied = apply_pending(conn, path)
        assert applied == NAMES
        rows = status(conn, path)
    finally:
        conn.close()
    assert [r.name for r in rows] == NAMES
    for row in rows:
        assert row.applied_at is not None
        assert re.match(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", row.applied_at), row.applied_at
    assert recorded(path) == [(name, 1) for name in sorted(NAMES)]


def test_schema_has_the_events_table_and_its_triggers(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    open_store(path).close()
    conn = sqlite3.connect(path)
    try:
        names = {
            (row[0], row[1])
            for row in conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        }
    finally:
        conn.close()
    assert ("table", "events") in names
    assert ("trigger", "events_no_update") in names
    assert ("trigger", "events_no_delete") in names
    assert ("table", MIGRATIONS_TABLE) in names


def test_opening_again_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    open_store(path).close()
    first = {s.name: s.applied_at for s in _status(path)}
    time.sleep(0.01)
    conn = connect(path)
    try:
        assert apply_pending(conn, path) == []
    finally:
        conn.close()
    open_store(path).close()
    assert {s.name: s.applied_at for s in _status(path)} == first
    assert recorded(path) == [(name, 1) for name in sorted(NAMES)]


def _status(path: Path):  # type: ignore[no-untyped-def]
    conn = connect(path)
    try:
        return status(conn, path)
    finally:
        conn.close()


def test_opening_an_up_to_date_file_takes_the_fast_path_without_sqlite_utils(
    tmp_path: Path,
) -> None:
    """Up to date: one plain query, sqlite-utils is not even imported (every CLI call opens)."""
    path = tmp_path / "events.sqlite3"
    open_store(path).close()
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from datacore_msg.migrations.runner import open_store\n"
        f"store = open_store(Path({str(path)!r}))\n"
        "store.close()\n"
        "print(json.dumps('sqlite_utils' in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) is False


def test_data_survives_reopening(tmp_path: Path) -> None:
    from datacore_msg.eventlog.payloads import MessageMarked
    from datacore_msg.eventlog.signing import SigningKey

    path = tmp_path / "events.sqlite3"
    store = open_store(path)
    event = store.append(
        SigningKey.generate(),
        "gregor",
        MessageMarked(message="msg-20250615-120000-0000abcd", mark="read"),
        1_750_000_000_000,
    )
    store.close()
    again = open_store(path)
    try:
        assert [e.id for e in again.read_since(0)] == [event.id]
        assert again.verify() == []
    finally:
        again.close()


def test_migrate_status_via_cli_lists_every_step_as_applied(make_installation) -> None:  # type: ignore[no-untyped-def]
    inst = make_installation("gregor")
    result = inst.cli("migrate", "--status", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)["data"]
    assert data["applied_now"] == []
    assert [name for name, _ in data["migrations"]] == NAMES
    assert all(applied_at for _, applied_at in data["migrations"])


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


_RACER = """
import json, sys, time
from pathlib import Path
from datacore_msg.migrations.runner import open_store
from datacore_msg.migrations.schema import STEPS
ready, go, db, me = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
import sqlite_utils  # warm the import so every racer is at the start line together
(ready / me).write_text("ready")
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.002)
store = open_store(db)
# The racer's view of the schema, straight after opening.
rows = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
store.close()
print(json.dumps({"events": rows}))
"""


@pytest.mark.slow
def test_six_processes_opening_a_new_file_at_once_all_succeed_and_apply_each_step_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state" / "events.sqlite3"
    ready = tmp_path / "ready"
    ready.mkdir()
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(ready), str(go), str(db), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for i in range(6)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(ready.iterdir())) < len(procs):
            assert time.monotonic() < deadline, "racers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        go.write_text("go")
        outcomes = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out) == {"events": 0}
    assert recorded(db) == [(name, 1) for name in sorted(NAMES)]
    assert all(s.applied_at for s in _status(db))
