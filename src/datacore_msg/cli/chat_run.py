"""The body of ``chat`` and ``gui``, free of the command framework: :mod:`datacore_msg.cli.fastpath`
runs it straight from ``sys.argv`` and the click commands of :mod:`datacore_msg.cli.chat_commands`
call it too.

The window's start is mostly imports (the package and Textual) and one frame. The cyclic garbage
collector is off from here to the first frame (:meth:`datacore_msg.chat.app.ChatApp.on_ready` freezes
what was made so far and turns it back on): its passes over the tens of thousands of objects the
imports make found nothing to free and cost about a tenth of the start.
"""

from __future__ import annotations

import gc


def run_chat(root: str | None, space: str | None, watch: bool) -> None:
    gc.disable()
    try:
        from datacore_msg.app.space import open_space

        open_space(root, space).close()  # a space that is not set up is one line and exit 3, not a window
        from datacore_msg.chat.app import ChatApp

        ChatApp(lambda: open_space(root, space), watch=watch).run()
    finally:
        gc.enable()
