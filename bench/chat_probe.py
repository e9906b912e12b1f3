"""The chat window run headless in its own process, for figure 13 (``python -m bench.chat_probe``).

``first``: open the window on ``--root``'s space, draw the first screen, exit; print one JSON line
with the rows shown and the process's peak resident memory (KiB). ``live``: open it, print
``ready``, then for each of the next ``--count`` messages that appear in the list print the delay
from the message's append (its stamp's physical time) to the screen showing it, then exit.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

from datacore_msg.app.messages import MessageItem
from datacore_msg.app.space import open_space
from datacore_msg.chat.app import ChatApp
from datacore_msg.eventlog.hlc import physical_ms


class FirstScreen(ChatApp):
    async def on_mount(self) -> None:
        await super().on_mount()
        self.call_after_refresh(self.exit)


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
        app: ChatApp = FirstScreen(lambda: open_space(args.root), watch=False)
        app.run(headless=True, size=(120, 40))
        print(json.dumps({"rows": len(app.shown), "maxrss_kib": peak_rss_kib()}), flush=True)
        return 0
    live = Live(args.root, args.count)
    live.run(headless=True, size=(120, 40))
    print(json.dumps({"delays_s": live.delays}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
