"""``chat`` where there is no terminal (a script, a pipe, an agent's shell): one line and exit 3
at once, not a window drawn as escape codes into a pipe, waiting for keys that never come."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("command", ["chat", "gui"])
def test_the_window_without_a_terminal_is_refused_in_one_line(
    make_installation: Callable[..., Any], command: str
) -> None:
    tex = make_installation("tex")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "datacore_msg", command, "--root", str(tex.root)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == Exit.INVALID_INPUT, done
    assert done.stdout == b""
    assert done.stderr.decode().count("\n") == 1 and "needs a terminal" in done.stderr.decode()
    assert b"\x1b" not in done.stderr
