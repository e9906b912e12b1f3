"""``--help`` from the cache: the same bytes as click renders, one entry per argument list and
terminal width, and only for successful help requests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datacore_msg.cli.helpcache import is_help


def run(args: list[str], cache: Path, columns: str = "80") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), COLUMNS=columns)
    argv = [sys.executable, "-m", "datacore_msg", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "datacore-msg").glob("help-*.txt"))


@pytest.mark.parametrize(
    ("argv", "plain"),
    [
        (["--help"], True),
        (["-h"], True),
        (["send", "--help"], True),
        (["task", "cancel", "-h"], True),
        (["send", "@tex", "--help"], True),
        (["--traceback", "--help"], False),
        (["send", "--help", "x"], False),
        (["a", "b", "c", "--help"], False),
        ([], False),
    ],
)
def test_which_requests_are_cached(argv: list[str], plain: bool) -> None:
    assert is_help(argv) == plain


@pytest.mark.slow
def test_help_is_rendered_once_then_printed_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run(["--help"], cache)
    assert first.returncode == 0 and "Usage: datacore-msg" in first.stdout
    (entry,) = entries(cache)
    key, _, kept = entry.read_text(encoding="utf-8").partition("\n")
    assert kept == first.stdout and "'--help'" in key
    assert run(["--help"], cache).stdout == first.stdout
    entry.write_text(f"{key}\nkept text\n", encoding="utf-8")  # proves the next run reads the cache
    assert run(["--help"], cache).stdout == "kept text\n"
    entry.write_text("another key\nkept text\n", encoding="utf-8")  # not this request's entry
    assert run(["--help"], cache).stdout == first.stdout
    narrow = run(["--help"], cache, columns="60")
    assert narrow.returncode == 0 and narrow.stdout != first.stdout and len(entries(cache)) == 2
    send = run(["send", "--help"], cache)
    assert send.returncode == 0 and "Usage: datacore-msg send" in send.stdout
    assert run(["send", "--help"], cache).stdout == send.stdout
    unknown = run(["nosuch", "--help"], cache)
    assert unknown.returncode == 2 and len(entries(cache)) == 3
