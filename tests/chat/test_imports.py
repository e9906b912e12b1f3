"""The chat window's start loads no class framework: importing attrs and building attrs classes cost
its first screen about a tenth (benchmark figure 13), so the modules it imports before the first
frame declare their classes as :class:`~datacore_msg.records.Record` subclasses."""

from __future__ import annotations

import subprocess
import sys


def test_opening_the_chat_window_imports_neither_attrs_nor_cattrs() -> None:
    code = (
        "import sys\n"
        "import datacore_msg.cli.chat_run, datacore_msg.app.space, datacore_msg.chat.app\n"
        "print(sorted(m for m in ('attr', 'attrs', 'cattrs') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
