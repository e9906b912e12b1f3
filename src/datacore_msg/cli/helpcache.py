"""``--help`` printed from a cache, without loading the command framework.

Theory of operation
-------------------
Help text is a pure function of the program's source, the command framework's version, the words
typed before ``--help`` and the terminal's width. The first time a given ``datacore-msg [COMMAND
[SUBCOMMAND]] --help`` is run, click renders it as always (:func:`render`); a successful rendering is
kept in the user's cache folder under a key made of all of those: the argument list, the width,
and the size, modification time and inode of every module of this package and of click's own
source files (the file is named by a checksum of the key and starts with the key itself, which a
reader checks). Any later run with the same key prints the kept text (:func:`cached`); an edited or
upgraded package, another width or another click changes the key, and a missing or damaged entry
is rendered again, so the cache can always be deleted. Only the plain spelling is cached: words
without options, then ``--help`` or ``-h``.
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Callable, Mapping

HELP_FLAGS = ("--help", "-h")
VERSION = 1


def is_help(argv: list[str]) -> bool:
    """``[WORD [WORD]] --help`` (or ``-h``), words without a leading dash."""
    return (
        1 <= len(argv) <= 3
        and argv[-1] in HELP_FLAGS
        and all(word and not word.startswith("-") for word in argv[:-1])
    )


def _width(env: Mapping[str, str]) -> int:
    """The terminal width click lays help out for, found as ``shutil.get_terminal_size`` finds it
    (``COLUMNS``, else the terminal's, else 80)."""
    try:
        columns = int(env["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns if columns > 0 else 80


def _sources() -> list[str]:
    """Stat tokens of this package's modules and click's (their changes change the help)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folders = [package]
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "click")
        if os.path.isfile(os.path.join(candidate, "__init__.py")):
            folders.append(candidate)
            break
    tokens: list[str] = []
    for folder in folders:
        for base, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(base, name)
                    st = os.stat(path)
                    tokens.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return tokens


def _entry(argv: list[str], env: Mapping[str, str]) -> tuple[str, str] | None:
    """The cache file for ``argv`` and the key its first line must hold (the file is named by a
    checksum of the key; the key itself, checked on reading, makes a clash harmless)."""
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    try:
        key = repr([VERSION, argv, _width(env), _sources()])
    except OSError:
        return None
    tag = f"{zlib.crc32(key.encode('utf-8', 'surrogatepass')):08x}"
    return os.path.join(base, "datacore-msg", f"help-{tag}.txt"), key


def cached(argv: list[str], env: Mapping[str, str]) -> str | None:
    """The kept help text for ``argv``, if there is one."""
    entry = _entry(argv, env)
    if entry is None:
        return None
    path, key = entry
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            first, _, text = handle.read().partition("\n")
    except (OSError, ValueError):
        return None
    return text if first == key and text else None


def show(argv: list[str], env: Mapping[str, str]) -> int:
    """Print the help ``argv`` asks for: kept text, else rendered by click (and kept)."""
    text = cached(argv, env)
    if text is not None:
        sys.stdout.write(text)
        return 0
    from datacore_msg.cli.main import main

    return render(argv, env, main)


def render(argv: list[str], env: Mapping[str, str], run: Callable[[list[str]], int]) -> int:
    """Run the full command line on ``argv`` (a help request), print its output, and keep it when
    it succeeded."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = run(argv)
    text = out.getvalue()
    sys.stdout.write(text)
    entry = _entry(argv, env)
    if status == 0 and text and entry is not None and "\n" not in entry[1]:
        from pathlib import Path

        from datacore_msg.errors import DatacoreError
        from datacore_msg.fsutil import atomic_write

        path, key = entry
        data = f"{key}\n{text}".encode("utf-8", "surrogateescape")
        with contextlib.suppress(DatacoreError, OSError, UnicodeError):
            atomic_write(Path(path), data)
    return status
