"""The inbox finds its open messages through the status index, whatever the size of its view."""

from __future__ import annotations

from typing import Any

from datacore_msg.app import exchange, messages
from datacore_msg.projections.render import INBOX


def test_open_messages_are_found_through_the_status_index_not_the_whole_file(gregor: Any, tex: Any) -> None:
    for n in range(3):
        assert tex.cli("send", "@gregor", f"note {n}").code == 0
    with tex.space() as space:
        lines = [line.encode() for line in exchange.export_lines(space)]
    with gregor.space() as space:
        exchange.import_events(space, lines)
        opened = messages.inbox(space)
        cache = space.views().cache
        assert [item.id for item in opened.items] == cache.subjects("inbox", INBOX, ("unread", "todo"))
        open_rows = [row for row in cache.statuses("inbox", INBOX) if row[1] in ("unread", "todo")]
        assert cache.statuses("inbox", INBOX, ("unread", "todo")) == open_rows
        assert [row[0] for row in open_rows] == [item.id for item in opened.items]
        statements: list[str] = []
        cache.conn.set_trace_callback(statements.append)
        cache.subjects("inbox", INBOX, ("unread", "todo"))
        cache.statuses("inbox", INBOX, ("unread", "todo"))
        cache.conn.set_trace_callback(None)
        plans = [
            " ".join(str(row[-1]) for row in cache.conn.execute("EXPLAIN QUERY PLAN " + query))
            for query in statements
        ]
    assert len(plans) == 2
    for plan in plans:
        assert "view_entries_status" in plan, plan
        assert "PRIMARY KEY" not in plan, plan
