"""A ``sync`` through a relay sends what the events it received made this installation append: the
owner's governor decides a request in the same ``sync`` that brought it, and the decision goes out
before the command returns (not with the next sync)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from peers import data
from relayproc import RelayProcess, configure, sync

pytestmark = pytest.mark.slow


def test_the_decision_a_sync_caused_goes_out_in_that_sync(
    make_installation: Callable[..., Any], introduce: Callable[..., None], relay: RelayProcess
) -> None:
    gregor, tex = make_installation("gregor", label="gregor"), make_installation("tex", label="tex")
    introduce(gregor, tex)
    for inst in (gregor, tex):
        configure(inst, relay)
    task = data(tex, "send", "@gregor-claude", "summarise the notes")["id"]
    sync(tex)
    got = sync(gregor)
    assert got["received"] == 1
    assert got["sent"] >= 1, "the governor's decision stayed behind"
    sync(tex)
    assert data(tex, "task", "show", task)["state"] == "QUEUED"
    again = sync(gregor)
    assert (again["sent"], again["received"]) == (0, 0)
