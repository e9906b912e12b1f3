"""The chat window's start loads no class framework: importing attrs and building attrs classes cost
its first screen about a tenth (benchmark figure 13), so the modules it loads up to its first frame
declare their classes as :class:`~datacore_msg.records.Record` subclasses."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

FRAMEWORKS = "('attr', 'attrs', 'cattrs')"

WINDOW = f"""
import sys
from datacore_msg.app.space import open_space
from datacore_msg.chat.app import ChatApp


class FirstFrame(ChatApp):
    loaded = None

    def on_ready(self):
        super().on_ready()
        self.loaded = sorted(m for m in {FRAMEWORKS} if m in sys.modules)
        self.exit()


app = FirstFrame(lambda: open_space(sys.argv[1]), watch=False)
app.run(headless=True, size=(100, 30))
print(app.loaded)
"""


def test_importing_the_chat_window_imports_neither_attrs_nor_cattrs() -> None:
    code = (
        "import sys\n"
        "import datacore_msg.cli.chat_run, datacore_msg.chat.app\n"
        f"print(sorted(m for m in {FRAMEWORKS} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_the_chat_windows_first_frame_needs_neither_attrs_nor_cattrs(tex: Any) -> None:
    """Up to the first frame: the settings it reads and the page of rows it shows included."""
    assert tex.cli("send", "@tex", "a note to self").code == 0
    proc = subprocess.run(
        [sys.executable, "-c", WINDOW, str(tex.root)],
        env=tex.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
