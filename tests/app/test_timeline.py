"""The chat window's list, one page at a time: paging back from the newest through every view
file (inbox, outbox, archives, the agent view) yields each of the user's messages and their agent's
tasks exactly once, in the views' order; a page reads only its own rows."""

from __future__ import annotations

import json
from typing import Any

from datacore_msg.app import messages, timeline
from peers import carry, ok


def test_pages_cover_every_file_once_in_order(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    incoming = [
        json.loads(ok(gregor.cli("send", "@tex", f"in {n}", "--json")).out)["data"]["id"] for n in range(9)
    ]
    ok(gregor.cli("send", "@tex-claude", "a task for tex's agent"))
    carry(gregor, tex)
    with tex.space() as sp:
        for n in range(8):
            messages.send(sp, "@gregor", f"out {n}")
        for ref in incoming[:4]:  # archived: moved to archive/inbox-YYYY-MM.org_archive
            messages.mark(sp, ref, "archive")
        files = {file for file, *_ in sp.store.conn.execute("SELECT file FROM view_entries")}
        assert len(files) >= 4, files  # inbox, outbox, an archive, the agent view

        everything = timeline.page(sp, None, 10_000)
        assert len(everything) == 9 + 8 + 1
        assert [row.sort for row in everything] == sorted(row.sort for row in everything)
        assert sum(isinstance(row.item, timeline.TaskItem) for row in everything) == 1

        pages: list[list[timeline.Row]] = []
        before = None
        while True:
            rows = timeline.page(sp, before, 5)
            if not rows:
                break
            assert len(rows) <= 5
            pages.append(rows)
            before = rows[0].sort
        walked = [row.id for rows in reversed(pages) for row in rows]
        assert walked == [row.id for row in everything]
        assert len(set(walked)) == len(walked)
