"""A log file edited to hold text no writer makes: the commands that read it say so in one line."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit

EDITS = {
    "not JSON": "[[",
    "nested too deeply": "[" * 100_000,
    "truncated": '{"to": "tex", "text": "hi',
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_log_reports_an_edited_row_in_one_line(gregor: Any, edit: str) -> None:
    assert gregor.cli("send", "@tex", "hi there").code == 0
    with gregor.space() as space:
        path = space.store.path
        (event,) = [e for e in space.store.read_since(0) if e.type == "message.sent"]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("UPDATE events SET data = ? WHERE id = ?", (EDITS[edit], event.id))
    finally:
        conn.close()
    result = gregor.run("log")
    assert result.code == Exit.INTEGRITY, result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    assert f"event {event.id[:12]}" in result.err and "not valid JSON" in result.err, result.err
    checked = gregor.run("verify")
    assert checked.code == Exit.INTEGRITY and "not valid JSON" in checked.out + checked.err
