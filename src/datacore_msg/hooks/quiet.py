"""The prompt hook's stamp: "nothing new" answered from a few ``stat`` calls, before anything is imported.

Theory of operation
-------------------
What the prompt hook prints is a function of a few files and the clock: the settings and contacts
(through the settings cache, itself a file), the event log (SQLite in WAL mode: the database and
its ``-wal`` file), the session's cursor, the environment the paths depend on, and the time, which
matters only when a WORKING task passes its timeout. When a prompt has run the whole check
(:mod:`.prompt`) and found nothing to print, nothing to catch up and nothing to claim, it writes a
stamp for its session: the identity of each of those files (device, inode, size, mtime and ctime in
ns, or "missing") taken *before* it read them, and the earliest time at which the answer could change
by the clock alone (the first WORKING task's timeout). The next prompt of that session reads the
stamp, ``stat``-s the files, compares, looks at the clock, and exits at once when all match; it
imports nothing but ``_json`` (to read its stdin exactly as :func:`json.loads` does) and ``zlib``.

Anything that could change the answer changes a file: an event appended by any command, an import or
the relay's watcher (the log), a settings or contacts edit, a cursor written. A change made after
the identities were taken shows in them (a new ctime, which no program can set). A stamp is not
written while any of its files changed less than :data:`RACY_NS` ago: a file system stamps times in
coarse steps (a jiffy, or 1-2 s on some), so a change in the same step as the identity was taken
could leave it as it was. This assumes the files' times come from a clock that agrees with this
machine's within that margin.

Any doubt is a miss: no stamp, another session's or root's, another version of datacore-msg, an
environment that differs, stdin that is not a plain JSON object with a UUID-like ``session_id``, an
option other than ``--root`` and ``--space``, a file that cannot be read or ``stat``-ed, a stamp that
is not a regular file (a FIFO would block the read) or does not name every file a stamp covers. A miss only
means the whole check runs, which is the reference for what the hook prints. Stamps live in the
settings cache's folder (``hook-stamps/``), may be deleted at any time, and those untouched for
:data:`STAMP_KEEP_DAYS` are removed when a session starts.
"""

from __future__ import annotations

import os

import datacore_msg

TYPE_CHECKING = False
if TYPE_CHECKING:  # the types only: this module runs before anything else is imported
    from collections.abc import Mapping, Sequence

MAX_INPUT_BYTES = 1 << 20
SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
#: The environment variables the settings cache is keyed by (the state folder and the user's name).
ENV_KEYS = ("USER", "DATACORE_MSG_STATE", "XDG_STATE_HOME")
STAMPS = "hook-stamps"
STAMP_KEEP_DAYS = 30
#: A file changed less than this long before its identity was taken keeps a stamp from being written.
RACY_NS = 2_000_000_000
MAGIC = "datacore-msg hook stamp 1"
MISSING = "-"
END = "end"
_MAX_STAMP_BYTES = 1 << 16
_WHITESPACE = " \t\n\r"
#: ``stat.S_IFMT`` and ``stat.S_IFREG`` (not imported: see the module docstring).
_FILE_TYPE = 0o170000
_REGULAR = 0o100000


class _Decoding:
    """The settings :class:`json.JSONDecoder` gives its C scanner (``json.loads``'s defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def parse_args(argv: Sequence[str]) -> tuple[str | None, str | None, bool] | str:
    """``[--root R] [--space S] [--check]`` (also ``--opt=value``) as (root, space, check);
    anything else is returned as the offending word."""
    values: dict[str, str | None] = {"root": None, "space": None}
    check = False
    words = list(argv)
    while words:
        word = words.pop(0)
        name, eq, value = word.partition("=")
        if word == "--check":
            check = True
        elif name in ("--root", "--space"):
            if not eq:
                if not words:
                    return word
                value = words.pop(0)
            values[name[2:]] = value
        else:
            return word
    return values["root"], values["space"], check


def resolve_root(root: str | None, env: Mapping[str, str]) -> str:
    value = root or env.get("DATACORE_ROOT") or "~/Data"
    return os.path.abspath(os.path.expanduser(value))


def cache_dir(env: Mapping[str, str]) -> str:
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "datacore-msg")


def cache_tag(root: str, space_arg: str | None) -> str:
    """Names the files of one (root, --space) in the cache; a clash only costs a miss or a rebuild,
    since each entry names its root and space."""
    from zlib import crc32

    return f"{crc32(chr(0).join((root, space_arg or '')).encode('utf-8', 'surrogatepass')):08x}"


def settings_cache_file(root: str, space_arg: str | None, env: Mapping[str, str]) -> str:
    """The settings cache of (root, --space) (:func:`datacore_msg.hooks.config.cache_file`)."""
    return os.path.join(cache_dir(env), f"hook-config-{cache_tag(root, space_arg)}.json")


def is_safe(session: str) -> bool:
    """A session id usable as a file name as it is (Claude's are UUIDs)."""
    return 0 < len(session) <= 100 and SAFE_CHARS.issuperset(session)


def stamp_file(env: Mapping[str, str], root: str, space_arg: str | None, session: str) -> str:
    return os.path.join(cache_dir(env), STAMPS, f"{cache_tag(root, space_arg)}-{session}.stamp")


def header(root: str, space_arg: str | None, session: str, env: Mapping[str, str]) -> list[str]:
    """What a stamp is for: this code, root, space, session and environment."""
    fields = [MAGIC, datacore_msg.__version__, root, _optional(space_arg), session]
    return fields + [_optional(env.get(name)) for name in ENV_KEYS]


def _optional(value: str | None) -> str:
    return "!" if value is None else "=" + value


def session_of(raw: bytes) -> str | None:
    """The ``session_id`` of stdin when ``json.loads`` reads it as an object and the id is a safe
    file name; None for anything else (the whole check then says what is wrong)."""
    if len(raw) > MAX_INPUT_BYTES:
        return None
    try:
        from _json import make_scanner

        text = raw.decode("utf-8")
        scan = make_scanner(_Decoding)  # type: ignore[arg-type]  # any object with these attributes
        data, end = scan(text, _skip(text, 0))
    except Exception:  # not JSON (or no C scanner): the whole check reports it
        return None
    if _skip(text, end) != len(text) or not isinstance(data, dict):
        return None
    session = data.get("session_id")
    return session if isinstance(session, str) and is_safe(session) else None


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def identity(path: str) -> str | None:
    """The file's identity; :data:`MISSING` when there is none; None when it cannot be told."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except (OSError, ValueError):
        return None
    return _identity(st)


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def observe(paths: Sequence[str], now_ns: int) -> list[str] | None:
    """Path and identity of each file, in turn; None when one cannot be told or changed less than
    :data:`RACY_NS` before ``now_ns`` (taken before the calls), or in the future."""
    marks: list[str] = []
    for path in paths:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            marks += [path, MISSING]
            continue
        except (OSError, ValueError):
            return None
        if max(st.st_mtime_ns, st.st_ctime_ns) > now_ns - RACY_NS:
            return None
        marks += [path, _identity(st)]
    return marks


#: The files a stamp names, in this order (:func:`datacore_msg.hooks.prompt._observe`): the settings,
#: the contacts, the settings cache, the log, its ``-wal`` file and the session's cursor.
STAMPED_FILES = 6


def _covers(marks: Sequence[str], root: str, space_arg: str | None, env: Mapping[str, str]) -> bool:
    """Whether ``marks`` name as many files as a stamp does, this space's settings cache among them
    and the log's ``-wal`` beside the log: a stamp cut or edited to name fewer files is no answer."""
    paths = marks[::2]
    return (
        len(marks) == 2 * STAMPED_FILES
        and paths[2] == settings_cache_file(root, space_arg, env)
        and paths[4] == paths[3] + "-wal"
    )


def stamp_bytes(head: Sequence[str], due_ms: int | None, marks: Sequence[str]) -> bytes:
    """A stamp: the header, the due time ("" for none), the marks, an end; NUL-separated."""
    return os.fsencode("\0".join([*head, "" if due_ms is None else str(due_ms), *marks, END]))


def nothing_new(
    root: str | None, space_arg: str | None, raw: bytes, env: Mapping[str, str], now_ms: int
) -> bool:
    """Whether this session's stamp says, with certainty, that the prompt has nothing to print."""
    try:
        session = session_of(raw)
        if session is None:
            return False
        resolved = resolve_root(root, env)
        # Non-blocking: a FIFO planted as the stamp would otherwise hang every prompt in open().
        fd = os.open(stamp_file(env, resolved, space_arg, session), os.O_RDONLY | os.O_NONBLOCK)
        try:
            if os.fstat(fd).st_mode & _FILE_TYPE != _REGULAR:
                return False
            data = os.read(fd, _MAX_STAMP_BYTES)
        finally:
            os.close(fd)
        fields = os.fsdecode(data).split("\0")
        head = header(resolved, space_arg, session, env)
        count = len(head)
        marks = fields[count + 1 : -1]
        if fields[:count] != head or fields[-1] != END or not _covers(marks, resolved, space_arg, env):
            return False
        due = fields[count]
        if due and now_ms > int(due):
            return False
        return all(identity(path) == mark for path, mark in zip(marks[::2], marks[1::2], strict=True))
    except Exception:  # any doubt: the whole check
        return False
