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
import sys

from datacore_msg.errors import InvalidInput
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import IO


def needs_terminal(stdin: IO[str] | None, stderr: IO[str] | None) -> None:
    """Refuse to open the window where it cannot work: it reads keys from stdin and draws on
    stderr, and without a terminal there it would draw escape codes into a pipe or a file, waiting
    for keys that never come."""
    if not (stdin is not None and stdin.isatty() and stderr is not None and stderr.isatty()):
        raise InvalidInput(
            "the chat window needs a terminal (stdin and stderr are not one here); "
            "use inbox, send and sync --watch in a script"
        )


def run_chat(root: str | None, space: str | None, watch: bool) -> None:
    gc.disable()
    try:
        from datacore_msg.app.space import open_space

        open_space(root, space).close()  # a space that is not set up is one line and exit 3, not a window
        needs_terminal(sys.__stdin__, sys.__stderr__)
        from datacore_msg.chat.app import ChatApp

        ChatApp(lambda: open_space(root, space), watch=watch).run()
    finally:
        gc.enable()
