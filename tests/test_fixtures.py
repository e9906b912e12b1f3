"""The shared fixtures' shortcut is invisible: an installation from ``make_installation`` (its state
folder seeded from one a real ``init`` made earlier, then its own real ``init``) is the installation
``init`` makes from nothing -- the same files, modes, settings and log rows -- with its own key (and
so its own trust fingerprint).

If this fails after a change to ``init`` or to what the state folder holds, fix ``_seed_state`` in
``conftest.py`` (or stop seeding) rather than the test.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.app.setup import init
from datacore_msg.app.space import open_space

#: Columns that differ between any two inits: when a migration ran, and a file's size:mtime:inode.
VARYING_COLUMNS = {("_sqlite_migrations", "applied_at"), ("view_files", "written_stat")}


def tree(base: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every file and folder under ``base``: its mode, and a file's bytes with ``base`` spelled
    ``<base>``."""
    out: dict[str, tuple[int, bytes | None]] = {"": (os.stat(base).st_mode, None)}
    for path in sorted(base.rglob("*")):
        mode = path.stat().st_mode
        data = path.read_bytes().replace(str(base).encode(), b"<base>") if path.is_file() else None
        out[path.relative_to(base).as_posix()] = (mode, data)
    return out


def log_rows(db: Path, own: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the log file but the columns in ``VARYING_COLUMNS``, with the values in ``own``
    spelled by their labels."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {
            "schema": conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        }
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
            kept = ", ".join(f'"{c}"' for c in columns if (table, c) not in VARYING_COLUMNS)
            rows = conn.execute(f'SELECT {kept} FROM "{table}" ORDER BY 1').fetchall()
            out[table] = [tuple(own.get(v, v) if isinstance(v, str) else v for v in row) for row in rows]
        out["pragmas"] = [
            conn.execute(f"PRAGMA {name}").fetchone() for name in ("journal_mode", "user_version")
        ]
        return out
    finally:
        conn.close()


def snapshot(base: Path) -> dict[str, Any]:
    """The installation under ``base`` (``root/`` and ``state/``), less what is its own."""
    with open_space(str(base / "root")) as space:
        key_file, db, trust = space.paths.key_file, space.paths.db_file, space.trust().fingerprint()
    files = tree(base)
    key_mode, key = files.pop(key_file.relative_to(base).as_posix())
    files.pop(db.relative_to(base).as_posix())
    assert key
    record_mode, record = files.pop("root/.datacore/msg-state.json")  # names the own key
    assert record is not None
    files["root/.datacore/msg-state.json"] = (record_mode, re.sub(rb'"[0-9a-f]{64}"', b'"<own key>"', record))
    return {"files": files, "key_mode": key_mode, "log": log_rows(db, {trust: "<own trust>"})}


@pytest.mark.parametrize(("name", "tz"), [("gregor", "Europe/Ljubljana"), ("tex", "UTC")])
def test_a_seeded_installation_is_the_one_init_makes_from_nothing(
    make_installation: Callable[..., Any], tmp_path: Path, name: str, tz: str
) -> None:
    seeded = [make_installation(name, tz=tz, label=f"seeded-{k}") for k in range(2)]
    fresh = tmp_path / "fresh"
    result = init(name, "0-personal", tz, str(fresh / "root"), state_dir=str(fresh / "state"))
    assert result.warnings == ()
    expected = snapshot(fresh)
    for inst in seeded:
        assert snapshot(inst.root.parent) == expected
    keys = {inst.public_key for inst in seeded} | {result.public_key}
    assert len(keys) == 3  # each installation has its own key


def test_a_seeded_installation_works_like_a_fresh_one(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    gregor, tex = make_installation("gregor"), make_installation("tex")
    introduce(gregor, tex)
    assert gregor.cli("send", "@tex", "hello").code == 0
    for inst in (gregor, tex):
        assert inst.cli("rebuild", "--check").code == 0
        assert inst.cli("verify").code == 0
        assert not list(inst.views.rglob("*.edited-*"))
