"""The chat window driven headless by Textual's pilot, on real installations: sending, replying by
id prefix, each command, marking, tasks moved by the owner from the keyboard, messages appended by
another process appearing without a keypress, errors as one line."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from chatpilot import command, screen_text, shown_ids, until, window
from datacore_msg.app.presence import current_status
from datacore_msg.app.space import open_space
from datacore_msg.chat.app import ChatApp, short_id
from datacore_msg.eventlog.names import MAX_TEXT_BYTES
from peers import carry, data, ok

SIZE = (110, 32)


def sent_ids(inst: Any) -> list[str]:
    return [item["id"] for item in data(inst, "log") if item.get("type") == "message.sent"]


def message(inst: Any, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = data(inst, "show", ref)
    return found


def new_id(notice: str) -> str:
    assert notice.startswith("Sent: "), notice
    return notice.split()[1].rstrip(";")


async def test_sending_lands_in_the_log_and_the_list(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        notice = await command(pilot, "@gregor hello from the window", keys=True)
        sent = new_id(notice)
        assert message(tex, sent)["text"] == "hello from the window"
        assert message(tex, sent)["to"] == "gregor"
        assert shown_ids(app)[-1] == sent
        assert "hello from the window" in tex.read("outbox.org")
        assert app.query_one("#input").text == ""


async def test_multi_line_and_history(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        sent = new_id(await command(pilot, "@gregor first line\nsecond line", keys=True))
        assert message(tex, sent)["text"] == "first line\nsecond line"
        await pilot.press("up")
        assert app.query_one("#input").text == "@gregor first line\nsecond line"
        await pilot.press("down")
        assert app.query_one("#input").text == ""


async def test_completion_of_names_and_commands(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        for key in "@gr":
            await pilot.press(key)
        await pilot.press("tab")
        assert app.query_one("#input").text == "@gregor "
        await pilot.press(*"hi", "enter")
        await pilot.pause()
        sent = new_id(app.notice_text)
        for key in "/con":
            await pilot.press(key)
        await pilot.press("tab", ">", sent.rsplit("-", 1)[1][0], "tab")
        assert app.query_one("#input").text == f"/context >{short_id(sent)} "


async def test_unknown_name_is_confirmed_and_bad_input_is_one_line(tex: Any) -> None:
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        before = len(sent_ids(tex))
        notice = await command(pilot, "@nobody hi")
        assert "not in contacts.yaml" in notice and "Enter again" in notice
        assert len(sent_ids(tex)) == before
        assert app.query_one("#input").text == "@nobody hi"  # kept, to fix or confirm
        await pilot.press("enter")
        await pilot.pause()
        assert app.notice_text.startswith("Sent: ")
        assert len(sent_ids(tex)) == before + 1
        long = "x" * (MAX_TEXT_BYTES + 1)
        app.query_one("#input").load_text(f"@nobody {long}")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert "bytes" in app.notice_text or "long" in app.notice_text, app.notice_text
        assert "\n" not in app.notice_text
        assert len(sent_ids(tex)) == before + 1
        assert (await command(pilot, "hello")).startswith("start with @user")
        assert "the message id is missing" in await command(pilot, "@gregor > x")
        notice = await command(pilot, "@nobody >ffffffff reply")
        assert "no message of yours matches" in notice
        await command(pilot, "/mine")
        notice = await command(pilot, "/context ffffffff")
        assert "no message of yours matches" in notice
        assert app.mode == "all" and "All messages" in screen_text(app)
        assert app.is_running


async def test_reply_by_id_prefix_and_context(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    asked = json.loads(ok(gregor.cli("send", "@tex", "lunch at noon?", "--json")).out)["data"]["id"]
    carry(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        assert asked in shown_ids(app)
        prefix = short_id(asked)[:5]
        reply = new_id(await command(pilot, f"@gregor >{prefix} yes, see you there"))
        got = message(tex, reply)
        assert got["reply_to"] == asked and got["thread"] == asked and got["to"] == "gregor"
        assert "↳" in screen_text(app)
        await command(pilot, f"/context {prefix}")
        assert app.mode == "context"
        assert shown_ids(app) == [asked, reply]
        await pilot.press("escape", "escape")  # to the list, then back to all and the input
        await until(pilot, lambda: app.mode == "all", what="back to all")
        assert app.focused is app.query_one("#input")
        # Enter on a selected message starts a reply to it
        await pilot.press("escape")
        app.query_one("#list").highlighted = shown_ids(app).index(asked)
        await pilot.press("enter")
        assert app.query_one("#input").text == f"@gregor >{short_id(asked)} "
        assert app.focused is app.query_one("#input")


async def test_marking_from_the_keyboard_and_mine_todos(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    first = json.loads(ok(gregor.cli("send", "@tex", "one", "--json")).out)["data"]["id"]
    second = json.loads(ok(gregor.cli("send", "@tex", "two", "--json")).out)["data"]["id"]
    carry(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/mine")
        assert app.mode == "mine" and sorted(shown_ids(app)) == sorted([first, second])
        await pilot.press("escape", "escape")  # to the list, back to all
        await until(pilot, lambda: app.mode == "all", what="back to all")
        await pilot.press("escape")  # to the list
        assert app.focused is app.query_one("#list")
        app.query_one("#list").highlighted = shown_ids(app).index(first)
        await pilot.press("t")
        await pilot.pause()
        assert message(tex, first)["status"] == "todo"
        assert app.notice_text == f"Marked {first} todo"
        app.query_one("#list").highlighted = shown_ids(app).index(second)
        await pilot.press("r")
        await pilot.pause()
        assert message(tex, second)["status"] == "read"
        await pilot.press("escape")  # back to the input
        await command(pilot, "/mine")
        assert shown_ids(app) == []
        await command(pilot, "/todos")
        assert shown_ids(app) == [first]
        await pilot.press("escape")
        assert app.focused is app.query_one("#list")
        app.query_one("#list").highlighted = shown_ids(app).index(first)
        await pilot.press("d")
        await pilot.pause()
        assert message(tex, first)["status"] == "done"
        await pilot.press("escape", "escape")  # the done one left /todos: back to all, to the list
        app.query_one("#list").highlighted = shown_ids(app).index(first)
        await pilot.press("a")
        await pilot.pause()
        assert message(tex, first)["status"] == "archived"
        await pilot.press("r")  # archived is final: one line, no crash
        await pilot.pause()
        assert "archived" in app.notice_text and app.is_running


async def test_tasks_approve_reject_cancel_from_the_keyboard(gregor: Any, tex: Any) -> None:
    """gregor has not pinned tex's key: tex's requests wait for gregor's approval (no cooldown
    between them, so the governor decides both at once)."""
    settings = gregor.root / ".datacore" / "settings.local.yaml"
    settings.write_text(
        settings.read_text() + "  compute:\n    cooldown_between_tasks: 0\n", encoding="utf-8"
    )
    ids = []
    for text in ("first job", "second job"):
        ids.append(json.loads(ok(tex.cli("send", "@gregor-claude", text, "--json")).out)["data"]["id"])
    carry(tex, gregor)
    app = window(gregor)
    async with app.run_test(size=SIZE) as pilot:
        assert "⚙" in screen_text(app) and "[WAITING]" in screen_text(app) and "first job" in screen_text(app)
        await command(pilot, "/tasks")
        assert app.mode == "tasks" and shown_ids(app) == ids
        assert "[WAITING]" in screen_text(app)
        await pilot.press("escape")
        assert app.focused is app.query_one("#list")
        view = app.query_one("#list")

        async def press_on(task: str, key: str) -> None:
            view.highlighted = shown_ids(app).index(task)
            await pilot.press(key)
            await pilot.pause()

        await press_on(ids[0], "a")
        assert data(gregor, "task", "show", ids[0])["state"] == "QUEUED"
        await press_on(ids[1], "x")
        assert app.notice_text == f"reject: {ids[1]} is CANCELLED", app.notice_text
        assert data(gregor, "task", "show", ids[1])["state"] == "CANCELLED"
        await press_on(ids[0], "c")
        assert data(gregor, "task", "show", ids[0])["state"] == "CANCELLED"
        await press_on(ids[1], "a")  # a rejected task cannot be approved: one line, nothing moved
        assert "expected state" in app.notice_text and app.is_running
        assert data(gregor, "task", "show", ids[1])["state"] == "CANCELLED"


async def test_task_request_to_own_agent(tex: Any) -> None:
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        notice = await command(pilot, "@claude summarise the week")
        assert notice.startswith("Task: task-") and "(QUEUED)" in notice
        task = notice.split()[1]
        assert data(tex, "task", "show", task)["to"] == "tex-claude"
        await until(pilot, lambda: task in shown_ids(app), what="the task in the list")


async def test_status_relay_online_help_clear_quit(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        header = app.query_one("#header")
        assert "relay: offline" in str(header.render())
        assert (await command(pilot, "/status busy")) == "Status: busy"
        with tex.space() as sp:
            assert current_status(sp.paths) == "busy"
        assert "tex (busy)" in str(header.render())
        assert (await command(pilot, "/status")) == "Status: busy"
        await command(pilot, "/relay")
        info = app.query_one("#info")
        assert info.has_class("shown") and "no relay is configured" in str(info.render())
        notice = await command(pilot, "/online")
        assert "no relay is configured" in notice
        for line in ("/help", "/?"):
            await pilot.press("escape")
            assert not info.has_class("shown")
            await command(pilot, line)
            assert info.has_class("shown") and "/context ID" in str(info.render())
        await pilot.press("escape")
        await command(pilot, "/nope")
        assert info.has_class("shown") and "unknown command /nope" in str(info.render())
        new_id(await command(pilot, "@gregor before the clear"))
        assert shown_ids(app)
        await command(pilot, "/clear")
        assert shown_ids(app) == [] and not info.has_class("shown")
        after = new_id(await command(pilot, "@gregor after the clear"))
        assert shown_ids(app) == [after]
        await pilot.press("escape", "up")  # to the list; above its first row the older ones come back
        await pilot.pause()
        assert len(shown_ids(app)) == 2
        await command(pilot, "/quit")
        await until(pilot, lambda: not app.is_running, 10, "the window to close")


async def test_ctrl_c_quits(tex: Any) -> None:
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, 10, "the window to close")


@pytest.mark.slow
async def test_a_message_appended_by_another_process_appears(gregor: Any, tex: Any, introduce: Any) -> None:
    """No relay: another terminal's ``send`` (its own process) shows without a keypress."""
    introduce(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        result = ok(tex.run("send", "@gregor", "from the other terminal", "--json", "--root", str(tex.root)))
        sent = json.loads(result.out)["data"]["id"]
        await until(pilot, lambda: sent in shown_ids(app), 30, "the other process's message")


async def test_older_pages_load_on_scrolling_up(gregor: Any, tex: Any, introduce: Any) -> None:
    from datacore_msg.app import messages
    from datacore_msg.app.timeline import PAGE

    introduce(gregor, tex)
    with tex.space() as sp:
        for number in range(PAGE + 7):
            messages.send(sp, "@gregor", f"note {number}")
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        assert len(shown_ids(app)) == PAGE  # one page, not the whole history
        await pilot.press("escape")
        app.query_one("#list").highlighted = 0
        await pilot.press("up")
        await pilot.pause()
        assert len(shown_ids(app)) == PAGE + 7
        assert app.query_one("#list").highlighted == 6
        await pilot.press("up")
        assert len(shown_ids(app)) == PAGE + 7
        first = app.shown[0]
        assert "note 0" in first.item.state.sent.text


async def test_bell_rings_for_a_message_to_the_user_unless_turned_off(
    gregor: Any, tex: Any, introduce: Any
) -> None:
    introduce(gregor, tex)
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        ok(gregor.cli("send", "@tex", "ding"))
        carry(gregor, tex)
        await until(pilot, lambda: app.bells == 1, 30, "the bell")
        await command(pilot, "@gregor my own message does not ring")
        await pilot.pause(0.5)
        assert app.bells == 1
        await command(pilot, "/tasks")  # whatever the list shows
        ok(gregor.cli("send", "@tex", "ding again"))
        carry(gregor, tex)
        await until(pilot, lambda: app.bells == 2, 30, "the bell in /tasks")
    settings = tex.root / ".datacore" / "settings.local.yaml"
    settings.write_text(settings.read_text() + "  chat:\n    bell: false\n", encoding="utf-8")
    app = window(tex)
    async with app.run_test(size=SIZE) as pilot:
        ok(gregor.cli("send", "@tex", "quiet"))
        carry(gregor, tex)
        await until(pilot, lambda: "quiet" in screen_text(app), 30, "the message")
        assert app.bells == 0


def test_chat_on_an_installation_not_set_up_is_one_line(tmp_path: Any, capsys: Any) -> None:
    """No window on a root without settings: the error line and exit status of every command."""
    from datacore_msg.cli.exit_codes import Exit
    from datacore_msg.cli.main import main

    for name in ("chat", "gui"):
        code = main([name, "--root", str(tmp_path / "nowhere")])
        err = capsys.readouterr().err
        assert code == Exit.CONFIG
        assert err.count("\n") == 1 and "run 'datacore-msg init --name NAME' first" in err


async def test_the_first_frame_shows_the_newest_row(gregor: Any, tex: Any, introduce: Any) -> None:
    """The list is at its newest row in the window's first frame (not scrolled there a frame later:
    the first screen is the one people read)."""
    from datacore_msg.app import messages
    from datacore_msg.app.timeline import PAGE

    introduce(gregor, tex)
    with tex.space() as sp:
        sent = [messages.send(sp, "@gregor", f"note {n} " + "words " * 20).message_id for n in range(PAGE)]
    frames: list[str] = []

    class Recording(ChatApp):
        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)  # headless: Textual renders no terminal output
            if renderable is not None and hasattr(renderable, "render_segments"):
                frames.append(renderable.render_segments(self.console))

    root = str(tex.root)
    app = Recording(lambda: open_space(root), watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(frames), 30, "the first frame")
        assert f"#{short_id(sent[-1])}" in frames[0]
        assert f"#{short_id(sent[0])}" not in frames[0]


async def test_the_collector_turned_off_for_the_start_is_back_after_the_first_frame(tex: Any) -> None:
    """``run_chat`` starts the window with the garbage collector off; its first frame turns it on."""
    gc.disable()
    try:
        app = window(tex, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, gc.isenabled, 30, "the collector on")
            assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
        gc.unfreeze()
