"""Helpers for tests with several installations: run a command and require success, carry events
from one installation to another through the CLI, and forge events with an installation's own key
under any name (an attacker's throwaway key writing as someone else); ``ordered`` makes an equality
check of JSON values check key order too.

Importable from any test module (``from peers import ok, carry``): ``pyproject.toml`` puts
``tests/`` on the path.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.payloads import Payload


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def ok(result: Any) -> Any:
    """``result`` (of ``Installation.cli`` or ``.run``), asserting that the command succeeded."""
    assert result.code == 0, result
    return result


def data(inst: Any, *args: str) -> Any:
    """The ``data`` of a command run in-process with ``--json``."""
    return json.loads(ok(inst.cli(*args, "--json")).out)["data"]


def carry(src: Any, dst: Any) -> Any:
    """Everything ``src`` holds, exported and imported into ``dst`` through the CLI (in-process);
    the import's result."""
    exported = ok(src.cli("export", "-"))
    return ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8")))


def carry_by_processes(src: Any, dst: Any) -> Any:
    """:func:`carry`, each command as its own process."""
    exported = ok(src.run("export", "-"))
    return ok(dst.run("import", "-", stdin=exported.out.encode("utf-8")))


def spoof(inst: Any, actor: str, payload: Payload, ahead_ms: int = 0) -> Event:
    """An event signed with ``inst``'s own key under the name ``actor``, stamped ``ahead_ms`` from
    now (negative: in the past)."""
    with inst.space() as space:
        event: Event = space.store.append(space.signing_key(), actor, payload, wall_ms() + ahead_ms)
    return event


def ordered(value: Any) -> Any:
    """The value with every object as a list of (key, value) pairs: equality then checks order too."""
    if isinstance(value, dict):
        return [(key, ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [ordered(item) for item in value]
    return value


def rewrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` (same length) in the file itself, then put its mtime back: only the
    ctime says it changed (a hand edit that keeps the inode, the size and the mtime)."""
    assert len(old) == len(new)
    before = path.stat()
    data = path.read_bytes()
    assert data.count(old) == 1, data
    with path.open("r+b") as handle:
        handle.write(data.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
