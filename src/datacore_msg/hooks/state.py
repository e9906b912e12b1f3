"""What the hook remembers between prompts: one cursor per Claude session, and a log of its failures.

A cursor is the set of items the hook has already put in front of one Claude session (keyed by the
session's ``session_id``): a task announced in a given state, a WORKING reminder, a message, a task
waiting for approval, a failure notice. An item is shown to a session once. Cursors live in the
space's state folder as small JSON files named by the session id (hashed unless it is a plain
UUID-like word), replaced atomically;
cursors untouched for :data:`KEEP_DAYS` are removed when a session starts. A lost or unreadable
cursor only means an item may be shown once more.

It also writes the prompts' stamps (:mod:`.quiet`) and removes those untouched for
:data:`~.quiet.STAMP_KEEP_DAYS` when a session starts.

The log (``hook.log`` in the state folder, at most :data:`LOG_MAX_BYTES` before it is rotated once)
holds the details of the hook's own failures, which the hook itself reports in one line.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping

from datacore_msg import jsontext
from datacore_msg.errors import StorageError
from datacore_msg.fsutil import atomic_write
from datacore_msg.hooks.quiet import SAFE_CHARS, STAMP_KEEP_DAYS, STAMPS
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a path is written: a prompt with nothing new only reads
    from pathlib import Path

KEEP_DAYS = 30
LOG_MAX_BYTES = 1_000_000
CURSORS = "hook-sessions"
NOTICE_SESSIONS = 200


def session_key(session_id: str) -> str:
    """A file-name-safe key: Claude's session ids (UUIDs) as they are, anything else hashed."""
    if 0 < len(session_id) <= 100 and SAFE_CHARS.issuperset(session_id):
        return session_id
    from datacore_msg.digests import sha256

    return "h-" + sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def cursor_file(state_dir: str, session_id: str) -> str:
    return os.path.join(state_dir, CURSORS, f"{session_key(session_id)}.json")


def cursor_path(state_dir: str, session_id: str) -> Path:
    from pathlib import Path

    return Path(cursor_file(state_dir, session_id))


def load_cursor(state_dir: str, session_id: str) -> set[str]:
    try:
        with open(cursor_file(state_dir, session_id), encoding="utf-8") as handle:
            data = jsontext.load(handle)
    except (OSError, ValueError):
        return set()
    seen = data.get("seen") if isinstance(data, dict) else None
    return {item for item in seen if isinstance(item, str)} if isinstance(seen, list) else set()


def save_cursor(state_dir: str, session_id: str, seen: Iterable[str]) -> None:
    data = {"v": 1, "seen": sorted(set(seen))}
    atomic_write(cursor_path(state_dir, session_id), jsontext.dumps(data).encode("utf-8"), mode=0o600)


def prune_cursors(state_dir: str, now_s: float) -> int:
    """Remove cursors of sessions untouched for KEEP_DAYS; returns how many were removed."""
    return _prune(os.path.join(state_dir, CURSORS), ".json", now_s - KEEP_DAYS * 86400)


def save_stamp(path: str, data: bytes) -> None:
    """Write a prompt's stamp (:mod:`.quiet`), creating its folder; not fsynced: a stamp lost or torn
    by a crash reads as no stamp (it must match whole), which only means the whole check runs."""
    from pathlib import Path

    atomic_write(Path(path), data, mode=0o600, durable=False)


def prune_stamps(cache_dir: str, now_s: float) -> int:
    """Remove the prompt stamps untouched for STAMP_KEEP_DAYS; returns how many were removed."""
    return _prune(os.path.join(cache_dir, STAMPS), ".stamp", now_s - STAMP_KEEP_DAYS * 86400)


def _prune(folder: str, suffix: str, before_s: float) -> int:
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.name.endswith(suffix) and entry.stat().st_mtime < before_s:
                os.unlink(entry.path)
                removed += 1
    return removed


def default_log_file(env: Mapping[str, str]) -> Path:
    from pathlib import Path

    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "datacore-msg" / "hook.log"


def log_failure(log_file: Path, summary: str, details: str) -> None:
    """Append one entry to the hook's log (rotated to ``hook.log.1`` past LOG_MAX_BYTES)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if log_file.stat().st_size > LOG_MAX_BYTES:
                os.replace(log_file, log_file.with_name(log_file.name + ".1"))
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(f"{stamp} pid {os.getpid()}: {summary}\n{details.rstrip()}\n\n")
    except OSError as exc:
        raise StorageError(f"{log_file}: cannot write the hook's log: {exc.strerror}") from None


def first_notice(log_file: Path, session_id: str, code: str) -> bool:
    """Whether a failure of kind ``code`` is new to this session (and record that it was shown).
    Kept next to the log, since a failure may come before the space's state folder is known."""
    path = log_file.with_name("hook-notices.json")
    try:
        with open(path, encoding="utf-8") as handle:
            shown = jsontext.load(handle)
        if not isinstance(shown, dict):
            shown = {}
    except (OSError, ValueError):
        shown = {}
    session = session_key(session_id)
    codes = shown.pop(session, [])
    codes = codes if isinstance(codes, list) else []
    if code in codes:
        shown[session] = codes
        return False
    shown[session] = [*codes, code]
    recent = dict(list(shown.items())[-NOTICE_SESSIONS:])
    with contextlib.suppress(StorageError):
        atomic_write(path, jsontext.dumps(recent).encode("utf-8"), mode=0o600)
    return True
