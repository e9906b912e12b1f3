"""SVG snapshots of the chat window's main screens (kept in ``__snapshots__/``; the README shows
the first). The installation is made deterministic: events appended with fixed ids at fixed times
(UTC), no relay; the keys differ from run to run but the window never shows them.

Update after a deliberate change of the window: ``pytest tests/chat/test_snapshots.py
--snapshot-update -n 0``, then look at the SVGs before committing them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chatpilot import window
from datacore_msg.eventlog.payloads import MessageMarked, MessageSent, Payload, TaskRequested
from peers import carry

SIZE = (100, 28)
#: 2026-03-11 14:30:00 UTC.
T0 = 1_773_239_400_000


def _append(inst: Any, actor: str, payload: Payload, at_ms: int) -> None:
    with inst.space() as sp:
        sp.store.append(sp.signing_key(), actor, payload, at_ms)


@pytest.fixture
def office(make_installation: Callable[..., Any], introduce: Callable[..., None]) -> Any:
    """tex's installation (UTC) with a short conversation with gregor and a task for tex's agent."""
    tex = make_installation("tex", tz="UTC")
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    introduce(gregor, tex)
    # (who appends, what, minutes after T0); tex's own events before gregor's are carried over: the
    # governor's decision on the task, made when it arrives, is stamped now, and tex's later
    # appends would be stamped after it
    conversation: list[tuple[Any, Payload, int]] = [
        (
            gregor,
            MessageSent(id="msg-20260311-143000-a1b2c3d4", sender="gregor", to="tex", text="Lunch at noon?"),
            0,
        ),
        (
            gregor,
            MessageSent(
                id="msg-20260311-143500-5e6f7a8b",
                sender="gregor",
                to="tex",
                text="The pricing draft is in the shared folder.\nComments welcome before Friday.",
                priority="A",
            ),
            5,
        ),
        (
            gregor,
            TaskRequested(
                id="task-20260311-144000-0c0ffee0",
                sender="gregor",
                to="tex-claude",
                text="Summarise the competitor pricing notes",
            ),
            10,
        ),
        (
            tex,
            MessageSent(
                id="msg-20260311-144500-9d8c7b6a",
                sender="tex",
                to="gregor",
                text="Yes, see you there.",
                reply_to="msg-20260311-143000-a1b2c3d4",
                thread="msg-20260311-143000-a1b2c3d4",
            ),
            15,
        ),
        (tex, MessageMarked(message="msg-20260311-143000-a1b2c3d4", mark="read"), 16),
        (tex, MessageMarked(message="msg-20260311-143500-5e6f7a8b", mark="todo"), 17),
    ]
    for inst, payload, minutes in conversation:
        _append(inst, inst.name, payload, T0 + minutes * 60_000)
    carry(gregor, tex)
    return tex


def test_main_screen(office: Any, snap_compare: Any) -> None:
    assert snap_compare(window(office), terminal_size=SIZE)


def test_help_screen(office: Any, snap_compare: Any) -> None:
    assert snap_compare(window(office), terminal_size=SIZE, press=["/", "?", "enter"])


def test_tasks_screen(office: Any, snap_compare: Any) -> None:
    keys = [*"/tasks", "enter"]
    assert snap_compare(window(office), terminal_size=SIZE, press=keys)


def test_thread_screen(office: Any, snap_compare: Any) -> None:
    keys = ["/", *"context", "space", *"a1b2", "enter"]
    assert snap_compare(window(office), terminal_size=SIZE, press=keys)
