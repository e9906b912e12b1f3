"""The chat window run headless in its own process, for figure 13 (``python -m bench.chat_probe``).

``first``: open the window on ``--root``'s space as ``datacore-msg chat`` does
(:func:`datacore_msg.cli.chat_run.run_chat`: the garbage collector off until the first frame), and
exit at the first frame that shows the list's rows; print one JSON line with the moment that frame
was drawn (``time.monotonic()``, the system-wide ``CLOCK_MONOTONIC``, so the parent can subtract its
own spawn time), whether the frame's terminal output holds the newest row's id, the frames drawn
before it, the rows shown and the process's peak resident memory (KiB). The frame is rendered to the
terminal sequences a terminal would get (headless, Textual skips that step). ``live``: open it, print
``ready``, then for each of the next ``--count`` messages that appear in the list print the delay
from the message's append (its stamp's physical time) to the screen showing it, then exit.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from typing import Any

gc.disable()  # as run_chat does, before the package's imports; ChatApp.on_ready turns it back on

from datacore_msg.app.messages import MessageItem  # noqa: E402
from datacore_msg.app.space import open_space  # noqa: E402
from datacore_msg.chat.app import ChatApp, MessageList, short_id  # noqa: E402
from datacore_msg.eventlog.hlc import physical_ms  # noqa: E402

#: Frames drawn without the newest row before the probe gives up waiting for it (and says so).
MAX_FRAMES = 20


class FirstScreen(ChatApp):
    """Exits at the first frame whose terminal output shows the list's newest row."""

    painted_at: float | None = None
    newest_shown = False
    frames_before = 0

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is None or self.painted_at is not None:
            return
        output = renderable.render_segments(self.console) if hasattr(renderable, "render_segments") else ""
        rows = self.query_one("#list", MessageList).option_count
        self.newest_shown = bool(rows) and f"#{short_id(self._id_of(self.shown[-1]))}" in output
        if not self.newest_shown and self.frames_before < MAX_FRAMES:
            self.frames_before += 1
            return
        self.painted_at = time.monotonic()
        self.exit()

    def on_ready(self) -> None:
        super().on_ready()
        if not self.shown:  # nothing to show: no frame will ever hold a row
            self.exit()


class Live(ChatApp):
    def __init__(self, root: str, count: int) -> None:
        super().__init__(lambda: open_space(root), watch=False)
        self.count = count
        self.seen: set[str] = set()
        self.delays: list[float] = []

    async def on_mount(self) -> None:
        await super().on_mount()
        self.seen = {self._id_of(entry) for entry in self.shown}
        self.call_after_refresh(lambda: print("ready", flush=True))

    async def _show_rows(self, shown: list[Any], follow: bool = False, keep_offset: int = 0) -> None:
        await super()._show_rows(shown, follow, keep_offset)
        now_ms = time.time_ns() / 1e6
        for entry in shown:
            item = getattr(entry, "item", entry)
            if isinstance(item, MessageItem) and item.id not in self.seen and self.seen:
                self.seen.add(item.id)
                self.delays.append((now_ms - physical_ms(item.state.sent_hlc)) / 1000)
        if len(self.delays) >= self.count:
            self.exit()


def peak_rss_kib() -> int:
    """This process's peak resident set since its ``exec`` (``VmHWM``; ``ru_maxrss`` on Linux keeps
    the forked parent's peak across ``exec``, so a large parent would hide the probe's own)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chat_probe")
    parser.add_argument("mode", choices=("first", "live"))
    parser.add_argument("--root", required=True)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
    if args.mode == "first":
        open_space(args.root).close()
        app = FirstScreen(lambda: open_space(args.root), watch=False)
        app.run(headless=True, size=(120, 40))
        found = {
            "painted_at": app.painted_at,
            "newest_shown": app.newest_shown,
            "frames_before": app.frames_before,
            "rows": len(app.shown),
            "maxrss_kib": peak_rss_kib(),
        }
        print(json.dumps(found), flush=True)
        return 0
    live = Live(args.root, args.count)
    live.run(headless=True, size=(120, 40))
    print(json.dumps({"delays_s": live.delays}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
