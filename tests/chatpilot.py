"""Helpers for the chat window's pilot tests: open the window on an installation, type a line,
wait for a condition (polling, generous timeouts: the machine may be loaded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from datacore_msg.app.space import open_space
from datacore_msg.chat.app import ChatApp


def window(inst: Any, watch: bool = True) -> ChatApp:
    root = str(inst.root)
    return ChatApp(lambda: open_space(root), watch=watch)


async def type_line(pilot: Any, line: str) -> None:
    """Type ``line`` into the (emptied, focused) input and press Enter."""
    box = pilot.app.query_one("#input")
    box.load_text("")
    box.focus()
    await pilot.pause()
    for char in line:
        await pilot.press("ctrl+n" if char == "\n" else ("space" if char == " " else char))
    await pilot.press("enter")
    await pilot.pause()


async def command(pilot: Any, line: str, keys: bool = False) -> str:
    """Put ``line`` in the (emptied, focused) input (``keys``: type it key by key), press Enter and
    return the line under the list after it."""
    if keys:
        await type_line(pilot, line)
    else:
        box = pilot.app.query_one("#input")
        box.load_text(line)
        box.move_cursor(box.document.end)
        box.focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    app: ChatApp = pilot.app
    return app.notice_text


async def until(pilot: Any, check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await pilot.pause(0.05)


def shown_ids(app: ChatApp) -> list[str]:
    return [app._id_of(entry) for entry in app.shown]


def screen_text(app: ChatApp) -> str:
    """The text of the window's panels (header, title, info, notice) and of the list's rows."""
    from textual.widgets import OptionList, Static

    parts = [str(widget.render()) for widget in app.query(Static)]
    view = app.query_one("#list", OptionList)
    parts += [str(view.get_option_at_index(i).prompt) for i in range(view.option_count)]
    return "\n".join(parts)
