"""The chat window: a Textual app over the service calls the CLI makes.

Theory of operation
-------------------
The window holds two connections to the space's log: its own (in the UI thread, for every command
and listing) and, when a relay is configured and no other watcher runs for the space, the relay
watcher's (:class:`~datacore_msg.app.watch.RelayWatcher`, the same code as ``sync --watch``, in a
thread with its own space). The watcher lands teammates' events and pushes this window's appends
(it sees them as another connection's commits); it reports its state through a queue the UI drains.
The thread starts after the first frame and takes the watcher lock itself (when another watcher
holds it, it says so through the queue and ends), so the first screen waits for neither.

Every :data:`POLL_S` the UI asks SQLite whether another connection committed
(``PRAGMA data_version``: the watcher's landing, a ``send`` in another terminal, a hook's claim) and
when one did, catches the views up and reloads what it shows: the list is a page of the view
cache's rows (:mod:`datacore_msg.app.timeline`), never the whole history; scrolling above the first
row loads the page before it. Each command of the input line (:mod:`.commands`) is one service call
(``messages.send``, ``tasks.request``, ``messages.mark``, ``tasks.transition``, ``presence`` …)
followed by the CLI's push-on-append, so it is an event in the log like any other. Errors are one
line under the list; nothing a user types or a relay does ends the window.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option

from datacore_msg.app import messages, presence, tasks, timeline
from datacore_msg.app.messages import MessageItem
from datacore_msg.app.space import Space
from datacore_msg.app.timeline import Row, TaskItem
from datacore_msg.chat import commands as cmd
from datacore_msg.errors import DatacoreError
from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.records import TYPE_CHECKING
from datacore_msg.terminal import field, printable

if TYPE_CHECKING:
    from typing import Any, ClassVar

POLL_S = 0.2
#: Lines of one message's text shown in the list.
MAX_LINES = 6
HISTORY = 200
MARKS = {"unread": "●", "todo": "◆", "read": " ", "done": "✓", "archived": "▪"}
RELAY_STATES = {"live": "connected", "down": "reconnecting", "refused": "auth refused"}
#: The relay's state when another process (``sync --watch``) holds the space's connection.
WATCHER_ELSEWHERE = "(sync --watch)"

Opener = Callable[[], Space]


def short_id(full: str) -> str:
    """What the list shows of an id: its random part (a unique prefix of it is enough to refer)."""
    return full.rsplit("-", 1)[-1]


class ChatInput(TextArea):
    """The input line: Enter sends, Ctrl-N (or Shift/Alt-Enter where the terminal tells them
    apart) starts a new line, Up/Down at the first/last line walk the history, Tab completes
    ``@names``, ``>ids`` and ``/commands``."""

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, complete: Callable[[str], str | None], **kw: Any) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kw)
        self.complete = complete
        self.lines_sent: list[str] = []
        self._back = 0

    def remember(self, line: str) -> None:
        if line and (not self.lines_sent or self.lines_sent[-1] != line):
            self.lines_sent.append(line)
            del self.lines_sent[:-HISTORY]
        self._back = 0

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        handled = True
        if key == "enter":
            self.post_message(self.Submitted(self.text))
        elif key in ("ctrl+n", "shift+enter", "alt+enter", "ctrl+j"):
            self.insert("\n")
        elif key == "up" and self.cursor_location[0] == 0 and self._back < len(self.lines_sent):
            self._back += 1
            self._show(self.lines_sent[-self._back])
        elif key == "down" and self.cursor_location[0] == self.document.line_count - 1 and self._back:
            self._back -= 1
            self._show(self.lines_sent[-self._back] if self._back else "")
        elif key == "tab":
            handled = self._complete()
        else:
            handled = False
        if handled:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def _complete(self) -> bool:
        row, col = self.cursor_location
        line = self.document.get_line(row)[:col]
        word = line.rsplit(None, 1)[-1] if line and not line[-1].isspace() else ""
        done = self.complete(word) if word else None
        if done is None:
            return False
        self.insert(done[len(word) :])
        return True


class MessageList(OptionList):
    """The list (one option a row: no widget per row, so a page draws at once); Up on its first
    row asks for the page before."""

    class Older(Message):
        pass

    #: Rows given before the list had a size (the first screen): scroll to the highlighted one as
    #: the first frame is drawn, not in a frame after it.
    scroll_pending = False

    def render_lines(self, crop: Region) -> list[Strip]:
        if self.scroll_pending and self.scrollable_content_region:
            self.scroll_pending = False
            width = self.scrollable_content_region.width
            self.scroll_to_highlight()
            if self.scrollable_content_region.width != width:  # the scrollbar came: wrap again
                self._clear_caches()
                self.scroll_to_highlight()
        return super().render_lines(crop)

    def action_cursor_up(self) -> None:
        if self.highlighted in (None, 0):
            self.post_message(self.Older())
            return
        super().action_cursor_up()


class ChatApp(App[None]):
    TITLE = "datacore-msg chat"
    ENABLE_COMMAND_PALETTE = False
    #: Focus goes to the input at once (not to the list first and then moved: a restyle and a redraw).
    AUTO_FOCUS = "#input"
    CSS = """
    Screen { layout: vertical; }
    #header { height: 1; background: $primary; color: $text; padding: 0 1; }
    #title { height: 1; color: $text-muted; padding: 0 1; }
    #list { height: 1fr; border: none; }
    #info { height: auto; max-height: 60%; border: round $secondary; padding: 0 1; display: none; }
    #info.shown { display: block; }
    #notice { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    #notice.error { color: $error; }
    #input { height: auto; min-height: 3; max-height: 8; }
    #footer { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False),
        Binding("escape", "escape", "List / input", show=False),
    ]

    def __init__(self, opener: Opener, *, watch: bool = True, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.opener = opener
        self.space = opener()
        self.poll_s = poll_s
        self.want_watch = watch
        from datacore_msg.config.chat import load_chat_settings

        self.chat_settings = load_chat_settings(self.space.settings, self.space.paths.settings_file)
        self.rows: list[Row] = []
        self.shown: list[Row | Any] = []
        self.mode = "all"
        self.context_ref = ""
        self.floor: timeline.Sort | None = None
        self.version = -1
        self.relay_state = "offline" if self.space.settings.relay.url is None else "connecting"
        self.relay_note = ""
        self.online_count: int | None = None
        self.status = presence.current_status(self.space.paths)
        self.bells = 0
        self.pending_unknown: str | None = None
        self.notice_text = ""
        self._states: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.want_thread = False
        self._thread: threading.Thread | None = None
        self._lock: Any = None
        self._roster_seen: tuple[int, int] | None = None

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="title")
        yield MessageList(id="list")
        yield Static(id="info")
        yield Static(id="notice")
        yield ChatInput(self._complete, id="input")
        yield Static(id="footer")

    async def on_mount(self) -> None:
        self.query_one("#footer", Static).update(
            Text(
                f"space {self.space.paths.space} · Enter send · Ctrl-N new line · Esc list/input · "
                "r t d a mark · /help · Ctrl-C quit"
            )
        )
        self._decide_watcher()
        await self._reload(first=True)
        self._header()
        self.set_interval(self.poll_s, self._poll)

    def on_ready(self) -> None:
        """After the first frame: what the first screen does not need. The relay watcher's thread
        (its imports and its connection would compete with the first frame for the interpreter);
        the garbage collector, when :func:`~datacore_msg.cli.chat_run.run_chat` turned it off for the
        start (what the start made is frozen: long-lived, never to be scanned again)."""
        if self.want_thread:
            self._thread = threading.Thread(target=self._watch, name="chat-relay-watcher", daemon=True)
            self._thread.start()
        if not gc.isenabled():
            gc.freeze()
            gc.enable()

    async def on_unmount(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self._lock is not None:
            self._lock.release()
        self.space.close()

    # -- the relay watcher -----------------------------------------------------------------------

    def _decide_watcher(self) -> None:
        """Whether the window runs the relay watcher (in a thread started after the first frame)."""
        if self.space.settings.relay.url is None:
            return
        if not self.want_watch:
            self.relay_state, self.relay_note = "offline", "not connecting (--no-relay)"
            return
        if self.space.settings.relay.secret is None:
            self.relay_state, self.relay_note = "offline", "no relay secret is set"
            return
        self.want_thread = True

    def _watch(self) -> None:
        """The watcher's thread: the space's watcher lock (another watcher holding it leaves the
        relay to that one), then the watcher of ``sync --watch`` until the window closes."""
        from datacore_msg.app.watch_lock import acquire

        try:
            self._lock = acquire(self.space.paths.space_state_dir, wait_s=0.3)
        except OSError as exc:
            self._states.put(("failed", f"the relay watcher's lock: {exc}"))
            return
        if self._lock is None:
            self._states.put(("elsewhere", "a sync --watch of this space holds the relay connection"))
            return
        from datacore_msg.app.watch import RelayWatcher

        try:
            with self.opener() as sp:
                sp.preflight()
                watcher = RelayWatcher(
                    sp,
                    self._stop,
                    lambda line: self._states.put(("note", line)),
                    connect_timeout_s=5.0,
                    on_state=lambda state: self._states.put(("state", state)),
                )
                watcher.run()
        except DatacoreError as exc:
            self._states.put(("failed", str(exc)))
        except Exception as exc:  # the window outlives its watcher
            self._states.put(("failed", f"the relay watcher stopped: {exc!r}"))

    def _drain(self) -> None:
        changed = False
        while True:
            try:
                kind, value = self._states.get_nowait()
            except queue.Empty:
                break
            if kind == "elsewhere":
                self.relay_state, self.relay_note = f"connecting {WATCHER_ELSEWHERE}", value
                self._roster_seen = None  # the other watcher's roster tells its state: read it again
                changed = True
            elif kind == "state":
                changed = changed or RELAY_STATES.get(value, value) != self.relay_state
                self.relay_state = RELAY_STATES.get(value, value)
            elif kind == "failed":
                self.relay_state, self.relay_note = "offline", value
                self._notice(value, error=True)
                changed = True
            elif value.startswith(("not connected:", "connected to")):
                self.relay_note = value
            elif value.startswith("warning:"):
                self._notice(value)
        if changed:
            self._header()
            if self.relay_state == "auth refused":
                self._notice(self.relay_note or "the relay refused this installation", error=True)

    # -- the periodic look -----------------------------------------------------------------------

    async def _poll(self) -> None:
        self._drain()
        self._online()
        try:
            version = self.space.store.data_version()
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)
            return
        if version != self.version:
            await self._reload()

    def _online(self) -> None:
        """The roster the watcher keeps (``online.json``), read again when it changed: the count in
        the header; with another process's watcher, its connection's state too."""
        if self.space.settings.relay.url is None or not self.want_watch:
            return
        seen = _stat(presence.roster_path(self.space.paths))
        if seen == self._roster_seen:
            return
        self._roster_seen = seen
        count: int | None = None
        try:
            online = presence.who_is_online(self.space) if seen is not None else None
            if online is not None:
                count = sum(1 for peer in online.peers if not peer.you)
        except (DatacoreError, OSError):
            count = None
        state = self.relay_state
        if self.relay_state.endswith(WATCHER_ELSEWHERE):
            state = ("connected" if count is not None else "reconnecting") + f" {WATCHER_ELSEWHERE}"
        if count != self.online_count or state != self.relay_state:
            self.online_count, self.relay_state = count, state
            self._header()

    def _header(self) -> None:
        online = "–" if self.online_count is None else str(self.online_count)
        text = Text()
        text.append(field(self.space.user), style="bold")
        text.append(f" ({self.status})  ·  {online} online  ·  relay: {self.relay_state}")
        self.query_one("#header", Static).update(text)

    # -- what the list shows ---------------------------------------------------------------------

    async def _reload(self, first: bool = False) -> None:
        """Catch the views up and show the current mode again, keeping the selected row."""
        from datacore_msg.app.views import refresh

        sp = self.space
        try:
            self.version = sp.store.data_version()
            report = refresh(sp)
            for warning in report.warnings:
                self._notice(warning)
            before = {row.id for row in self.rows}
            rows = timeline.page(sp, None, max(timeline.PAGE, len(self.rows)))
            if self.floor is not None:
                rows = [row for row in rows if row.sort > self.floor]
            arrived = [row for row in rows if row.id not in before]
            self.rows = rows
            if not first and self._ring_for(arrived):  # whatever the list shows now
                self.bells += 1
                self.bell()
            if self.mode == "all":
                shown: list[Any] = list(rows)
                title = "All messages (newest last; Up on the first row loads older)"
            elif self.mode == "mine":
                inbox = messages.inbox(sp)
                shown = [item for item in inbox.items if item.status == "unread"]
                title = f"/mine: {len(shown)} unread (Esc: back to all)"
            elif self.mode == "todos":
                inbox = messages.inbox(sp)
                shown = [item for item in inbox.items if item.status == "todo"]
                title = f"/todos: {len(shown)} to do (Esc: back to all)"
            elif self.mode == "tasks":
                listed = tasks.list_tasks(sp, closed_today=True)
                shown = [TaskItem(state, tasks.sender_of(sp, state)) for state in listed.items]
                title = f"/tasks: {len(shown)} for {sp.agent} (a approve, x reject, c cancel; Esc: back)"
            else:
                thread = messages.thread(sp, self.context_ref)
                shown = list(thread.items)
                title = f"/context {short_id(thread.root)}: {len(shown)} in the thread (Esc: back)"
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)
            if self.mode != "all":  # a listing that failed (an unknown id): back to all messages
                self.mode = "all"
                await self._reload()
                self._notice(str(exc), error=True)
            return
        self.query_one("#title", Static).update(Text(title))
        await self._show_rows(shown, follow=first)

    def _ring_for(self, arrived: list[Row]) -> bool:
        if not self.chat_settings.bell:
            return False
        user = self.space.user
        for row in arrived:
            item = row.item
            if (
                isinstance(item, MessageItem)
                and item.state.sent.to == user
                and item.state.sent.sender != user
            ):
                return True
        return False

    async def _show_rows(self, shown: list[Any], follow: bool = False, keep_offset: int = 0) -> None:
        view = self.query_one("#list", MessageList)
        selected = self._selected_id()
        at_end = follow or view.highlighted is None or view.highlighted >= len(self.shown) - 1
        self.shown = shown
        view.clear_options()
        view.add_options([Option(self._line(entry)) for entry in shown])
        if not shown:
            return
        ids = [self._id_of(entry) for entry in shown]
        if keep_offset:
            view.highlighted = keep_offset
        elif selected in ids and not at_end:
            view.highlighted = ids.index(selected)
        else:
            view.highlighted = len(shown) - 1
        view.scroll_to_highlight()
        view.scroll_pending = not view.scrollable_content_region

    @staticmethod
    def _id_of(entry: Any) -> str:
        item = entry.item if isinstance(entry, Row) else entry
        return str(item.id)

    def _selected_id(self) -> str | None:
        view = self.query_one("#list", MessageList)
        if view.highlighted is None or not 0 <= view.highlighted < len(self.shown):
            return None
        return self._id_of(self.shown[view.highlighted])

    def _selected(self) -> MessageItem | TaskItem | None:
        view = self.query_one("#list", MessageList)
        if view.highlighted is None or not 0 <= view.highlighted < len(self.shown):
            return None
        entry = self.shown[view.highlighted]
        item = entry.item if isinstance(entry, Row) else entry
        return item if isinstance(item, MessageItem | TaskItem) else None

    def _when(self, hlc: int) -> str:
        moment = datetime.fromtimestamp(physical_ms(hlc) / 1000, tz=timezone.utc).astimezone(self.space.tz)
        return moment.strftime("%m-%d %H:%M")

    def _line(self, entry: Any) -> Text:
        item = entry.item if isinstance(entry, Row) else entry
        text = Text(no_wrap=False)
        if isinstance(item, TaskItem):
            state = item.state
            text.append(self._when(state.request_order[0]) + " ", style="dim")
            text.append("⚙ ", style="magenta")
            text.append(field(item.sender.label), style="bold")
            text.append(f" → {field(state.agent)} ")
            text.append(f"[{state.state}]", style="magenta")
            text.append(" " + _body(state.request.text))
            text.append(f"  #{short_id(state.id)}", style="dim")
            return text
        sent = item.state.sent
        mine = sent.sender in (self.space.user, self.space.agent)
        text.append(self._when(item.state.shown_hlc) + " ", style="dim")
        text.append(MARKS.get(item.status, " ") + " ", style="bold yellow" if item.status == "unread" else "")
        text.append(field(item.sender.label), style="bold green" if mine else "bold cyan")
        text.append(f" → {field(sent.to)}")
        if sent.reply_to:
            text.append(f" ↳{short_id(sent.reply_to)}", style="dim")
        if sent.priority:
            text.append(f" [#{field(sent.priority)}]", style="red")
        text.append(": " + _body(sent.text))
        text.append(f"  #{short_id(sent.id)}", style="dim")
        return text

    # -- input -----------------------------------------------------------------------------------

    def _complete(self, word: str) -> str | None:
        names: set[str] = set()
        ids: list[str] = []
        for entry in self.shown:
            item = entry.item if isinstance(entry, Row) else entry
            if isinstance(item, MessageItem):
                names.update((item.state.sent.sender, item.state.sent.to))
            ids.append(short_id(self._id_of(entry)))
        with contextlib.suppress(DatacoreError, OSError):
            from datacore_msg.config.contacts import load_contacts

            names.update(contact.id for contact in load_contacts(self.space.paths.contacts_file))
        names.add("claude")
        names.discard(self.space.user)
        return cmd.complete(word, sorted(names), ids)

    async def on_chat_input_submitted(self, message: ChatInput.Submitted) -> None:
        box = self.query_one("#input", ChatInput)
        line = message.text
        parsed = cmd.parse(line)
        if parsed is None:
            return
        box.remember(line.strip())
        keep = await self._run(parsed, line.strip())
        if not keep:
            box.load_text("")

    async def _run(self, parsed: cmd.Command, line: str) -> bool:
        """Run one command; whether the input keeps its text (a refused send, to fix it)."""
        try:
            return await self._dispatch(parsed, line)
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)
            return True

    async def _dispatch(self, parsed: cmd.Command, line: str) -> bool:
        if isinstance(parsed, cmd.Invalid):
            self._notice(parsed.message, error=True)
            return True
        if isinstance(parsed, cmd.Quit):
            self.exit()
            return False
        if isinstance(parsed, cmd.Help):
            self._help(parsed.unknown)
            return False
        if isinstance(parsed, cmd.Clear):
            self._hide_info()
            self._notice("")
            self.mode = "all"
            self.floor = self.rows[-1].sort if self.rows else None
            self.rows = []
            await self._reload()
            return False
        if isinstance(parsed, cmd.Send | cmd.TaskRequest | cmd.Reply):
            return await self._send(parsed, line)
        if isinstance(parsed, cmd.Context):
            self.mode, self.context_ref = "context", parsed.ref
            await self._reload()
            return False
        if isinstance(parsed, cmd.Status):
            if parsed.status is not None:
                self.status = presence.set_status(self.space.paths, parsed.status)
                self._header()
            self._notice(f"Status: {self.status}")
            return False
        assert isinstance(parsed, cmd.View)
        if parsed.name == "online":
            self._show_online()
        elif parsed.name == "relay":
            self._show_relay()
        else:
            self.mode = parsed.name
            self._hide_info()
            await self._reload()
        return False

    async def _send(self, parsed: cmd.Send | cmd.TaskRequest | cmd.Reply, line: str) -> bool:
        sp = self.space
        recipient = messages.recipient_of(sp, parsed.to)
        if not messages.is_known_name(sp, recipient) and self.pending_unknown != line:
            self.pending_unknown = line
            self._notice(
                f"@{recipient} is not in contacts.yaml and was never seen in the log (a typo?); "
                "press Enter again to send anyway",
                error=True,
            )
            return True
        self.pending_unknown = None
        if isinstance(parsed, cmd.TaskRequest):
            requested = tasks.request(sp, recipient, parsed.text)
            state = requested.state.state if requested.state is not None else "REQUESTED"
            note, views = f"Task: {requested.task_id} ({state})", requested.views
        else:
            reply_to = parsed.ref if isinstance(parsed, cmd.Reply) else None
            sent = messages.send(sp, parsed.to, parsed.text, reply_to=reply_to)
            note, views = f"Sent: {sent.message_id}", sent.views
        self._after_append(note, views.warnings)
        await self._reload()
        return False

    def _after_append(self, note: str, warnings: list[str] | tuple[str, ...]) -> None:
        from datacore_msg.app.push import push_after_append

        outcome = push_after_append(self.space)
        extra = [*warnings, *(outcome.views.warnings if outcome.views is not None else ())]
        if outcome.problem is not None:
            extra.append(outcome.problem)
        self._notice("; ".join([note, *extra]), error=outcome.problem is not None)

    # -- keys on the list ------------------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        view = self.query_one("#list", MessageList)
        if self.focused is not view or event.key not in ("r", "t", "d", "a", "x", "c"):
            return
        event.stop()
        item = self._selected()
        if item is None:
            return
        try:
            if isinstance(item, TaskItem):
                await self._task_key(item, event.key)
            else:
                await self._message_key(item, event.key)
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)

    def on_option_list_option_selected(self, _: OptionList.OptionSelected) -> None:
        """Enter on a message: a reply to it, started in the input."""
        item = self._selected()
        if not isinstance(item, MessageItem):
            return
        try:
            other = messages.other_party(self.space, item.state.sent)
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)
            return
        box = self.query_one("#input", ChatInput)
        box.load_text(f"@{other} >{short_id(item.id)} ")
        box.move_cursor(box.document.end)
        box.focus()

    async def _message_key(self, item: MessageItem, key: str) -> None:
        how = {"r": "read", "t": "todo", "d": "done", "a": "archive"}.get(key)
        if how is None:
            return
        marked = messages.mark(self.space, item.id, how)
        note = f"Marked {marked.message_id} {marked.mark}" + ("" if marked.changed else " (already)")
        self._after_append(note, marked.views.warnings)
        await self._reload()

    async def _task_key(self, item: TaskItem, key: str) -> None:
        action = {"a": "approve", "x": "reject", "c": "cancel"}.get(key)
        if action is None:
            return
        moved = tasks.transition(self.space, item.id, action)
        self._after_append(f"{action}: {moved.task_id} is {moved.state.state}", moved.views.warnings)
        await self._reload()

    async def on_message_list_older(self, _: MessageList.Older) -> None:
        """Up on the first row: the page before it (after /clear with nothing new: the newest)."""
        if self.mode != "all":
            return
        before = self.rows[0].sort if self.rows else None
        try:
            older = timeline.page(self.space, before, timeline.PAGE)
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)
            return
        if not older:
            self._notice("the beginning of the history")
            return
        self.floor = None
        self.rows = older + self.rows
        await self._show_rows(list(self.rows), keep_offset=len(older) - 1)

    def action_escape(self) -> None:
        """Esc: close the panel; else from the input to the list; else from the list back to the
        input (and from a listing back to all messages)."""
        view = self.query_one("#list", MessageList)
        box = self.query_one("#input", ChatInput)
        info = self.query_one("#info", Static)
        if info.has_class("shown"):
            self._hide_info()
            return
        if self.focused is not view:
            view.focus()
            return
        box.focus()
        if self.mode != "all":
            self.mode = "all"
            self.run_worker(self._reload(), exclusive=True)

    # -- panels ----------------------------------------------------------------------------------

    def _notice(self, line: str, error: bool = False) -> None:
        self.notice_text = line
        notice = self.query_one("#notice", Static)
        notice.update(Text(printable(line).replace("\n", " ")))
        notice.set_class(error, "error")

    def _info(self, text: Text) -> None:
        info = self.query_one("#info", Static)
        info.update(text)
        info.add_class("shown")

    def _hide_info(self) -> None:
        self.query_one("#info", Static).remove_class("shown")

    def _help(self, unknown: str | None) -> None:
        text = Text()
        if unknown:
            text.append(f"unknown command {field(unknown)}\n", style="bold red")
        text.append("@user text", style="bold")
        text.append("  send · ")
        text.append("@claude text", style="bold")
        text.append("  a task for your agent · ")
        text.append("@user-claude text", style="bold")
        text.append("  a task for theirs · ")
        text.append("@user >ID text", style="bold")
        text.append("  reply in the thread\n")
        for name, what in cmd.SLASH_HELP:
            text.append(f"{name:<38}", style="bold")
            text.append(what + "\n")
        text.append(
            "Keys: Esc list/input · on the list r read, t todo, d done, a archive, Enter reply · "
            "Ctrl-N new line · Up history · Tab complete"
        )
        self._info(text)
        if unknown:
            self._notice(f"unknown command {unknown}; the commands are above", error=True)

    def _show_online(self) -> None:
        if self.space.settings.relay.url is None:
            self._notice("no relay is configured (messaging.relay.url): nobody to see online", error=True)
            return
        try:
            online = presence.who_is_online(self.space)
        except (DatacoreError, OSError) as exc:
            self._notice(str(exc), error=True)
            return
        text = Text()
        for peer in online.peers:
            text.append(f"{field(peer.name):<24}", style="bold")
            text.append(f" {peer.status}" + (" (you)" if peer.you else "") + "\n")
        if not online.peers:
            text.append("nobody is connected")
        self._info(text)

    def _show_relay(self) -> None:
        relay = self.space.settings.relay
        text = Text()
        if relay.url is None:
            text.append("no relay is configured (messaging.relay.url); the window works on the local log")
        else:
            if len(relay.urls) > 1:
                text.append(f"relay: {self.relay_state}\n")
                text.append("relays, tried in order: " + ", ".join(field(url) for url in relay.urls) + "\n")
            else:
                text.append(f"relay {field(relay.url)}: {self.relay_state}\n")
            secret = "set" if relay.secret else "not set"
            text.append(f"secret: {secret}" + (f" (from {relay.secret_from})" if relay.secret_from else ""))
            if self.relay_note:
                text.append(f"\n{field(self.relay_note)}")
        self._info(text)


def _body(text: str) -> str:
    lines = text.strip().splitlines() or [""]
    shown = [printable(line) for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"… ({len(lines) - MAX_LINES} more lines)")
    return "\n    ".join(shown)


def _stat(path: Any) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)
