"""``messages.inbox_page`` (the MCP server's ``list_inbox``): the inbox ordered unread first, then
to-do, then the rest, cut to a page, with the counts of the whole; the same messages and statuses
as ``messages.inbox``, which folds every message."""

from __future__ import annotations

from typing import Any

import pytest

from datacore_msg.app import messages
from datacore_msg.app.space import SpaceOpener
from peers import carry, data


@pytest.mark.parametrize("include_all", [False, True])
def test_a_page_is_the_inbox_by_status_cut_to_the_limit(
    make_installation: Any, introduce: Any, include_all: bool
) -> None:
    gregor, tex = make_installation("gregor"), make_installation("tex")
    introduce(gregor, tex)
    ids = [data(tex, "send", "@gregor", f"note {n}")["id"] for n in range(9)]
    carry(tex, gregor)
    for ref, how in zip(ids, ["read", "todo", "done", "archive", "todo", "read"], strict=False):
        data(gregor, "mark", ref, how)
    rank = messages.STATUS_ORDER
    with gregor.space() as space:
        whole = messages.inbox(space, include_all).items
        expected = sorted(whole, key=lambda item: rank[item.status])
        for limit in (1, 3, 20):
            page = messages.inbox_page(space, include_all, limit)
            assert [(i.id, i.status) for i in page.items] == [(i.id, i.status) for i in expected[:limit]]
            assert page.total == len(whole)
            assert page.unread == sum(1 for item in whole if item.status == "unread") == 3
    assert [i.status for i in expected][:3] == ["unread"] * 3


def test_the_opener_reads_settings_afresh_and_keeps_one_connection(gregor: Any) -> None:
    opener = SpaceOpener(str(gregor.root), None)
    with opener.open() as first:
        store = first.store
    assert store.conn.execute("SELECT 1").fetchone() == (1,)  # still open after the space closed
    sent = data(gregor, "send", "@tex", "written by another command meanwhile")["id"]
    with opener.open() as second:
        assert second.store is store
        assert messages.show(second, sent).state.sent.text == "written by another command meanwhile"
    opener.close()
    with opener.open() as third:
        assert third.store is not store
    opener.close()
