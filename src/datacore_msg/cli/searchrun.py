"""``datacore-msg search``'s fast path: answered from current derived rows before click is imported.

A search only reads, so when the derived rows already hold every event of the log, in the current
format (:func:`datacore_msg.readmodels.hookread.freshness`, the check the prompt hook makes), it is
answered in one read transaction by :mod:`datacore_msg.readmodels.searchindex`, with the settings
taken from the hooks' JSON cache (:mod:`datacore_msg.hooks.config`) instead of the YAML: the
standard library only, so the process costs little more than starting Python. It does without
:mod:`pathlib` and, when the zone's file is where the C library and :mod:`zoneinfo` both read it,
without :mod:`zoneinfo` too (which imports ``sysconfig``): the hits' times are converted by
``time.localtime`` with ``TZ`` naming that file (:class:`SystemZone`), the same offsets.

Anything else takes the full path (:func:`run` returns None and the command line runs as usual,
catching the views up first): rows behind the log or in an older format, an option this parser
does not take (``--since``, ``--help``, a bad ``--limit``), a name that is not valid, a query with
no words, any error. So every error message and every catch-up comes from the one full path, and
the answers are the same either way. What the fast path does not do is the refresh's other work:
the governor's sweep of timed-out tasks and the reading of a hand-edited agent view, which the next
other command does (a search never changes them).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone, tzinfo

from datacore_msg.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from datacore_msg.readmodels.searchindex import Match

VALUE_OPTIONS = {"--from": "sender", "--to": "recipient", "--thread": "thread", "--limit": "limit"}
VALUE_OPTIONS.update({"--root": "root", "--space": "space"})
FLAGS = {"--tasks": "tasks", "--json": "as_json"}
MAX_LIMIT = 1000


class Args(NamedTuple):
    query: str
    sender: str | None = None
    recipient: str | None = None
    thread: str | None = None
    limit: int = 20
    tasks: bool = False
    as_json: bool = False
    root: str | None = None
    space: str | None = None


class Hit:
    """A match as :mod:`datacore_msg.cli.search_format` shows it (the fields of ``SearchHit``); a
    plain class, which costs less to define at start-up than a named tuple."""

    __slots__ = (
        "archived",
        "id",
        "kind",
        "recipient",
        "score",
        "sender",
        "sender_looks_like",
        "sender_verified",
        "snippet",
        "status",
        "text",
        "thread",
        "time_ms",
    )
    id: str
    kind: str
    sender: str
    recipient: str
    thread: str | None
    time_ms: int
    snippet: str
    score: float
    text: str
    status: str
    archived: bool
    sender_verified: bool
    sender_looks_like: str | None

    def __init__(self, match: Match) -> None:
        doc = match.doc
        self.id, self.kind, self.sender, self.recipient = doc.subject, doc.kind, doc.sender, doc.recipient
        self.thread, self.time_ms, self.snippet, self.score = (
            doc.thread,
            doc.time_ms,
            match.snippet,
            match.score,
        )
        self.text, self.status, self.archived = doc.text, doc.status, doc.archived
        self.sender_verified, self.sender_looks_like = doc.sender_verified, doc.sender_looks_like


def parse_args(argv: Sequence[str]) -> Args | None:
    """The arguments after ``search``, or None for anything the full path must handle."""
    values: dict[str, str | bool] = {}
    query: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest = argv[i + 1 :]
            if query is not None or len(rest) != 1:
                return None
            query = rest[0]
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name in FLAGS and not eq:
                values[FLAGS[name]] = True
            elif name in VALUE_OPTIONS and VALUE_OPTIONS[name] not in values:
                if not eq:
                    i += 1
                    if i == len(argv):
                        return None
                    value = argv[i]
                values[VALUE_OPTIONS[name]] = value
            else:
                return None
        elif query is None:
            query = arg
        else:
            return None
        i += 1
    if query is None:
        return None
    limit = str(values.pop("limit", "20"))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        return None
    return Args(query=query, limit=int(limit), **values)  # type: ignore[arg-type]


def _name(value: str | None, agent: str) -> str | None:
    from datacore_msg.eventlog.names import is_actor

    if value is None:
        return None
    name = value[1:] if value.startswith("@") else value
    if not is_actor(name):
        raise ValueError(value)
    return agent if name == "claude" else name


def run(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> int | None:
    """Answer ``search`` from current rows and return the exit status, or None: take the full path."""
    args = parse_args(argv)
    if args is None or (args.thread is not None and not args.thread.strip()):
        return None
    from datacore_msg.errors import DatacoreError
    from datacore_msg.hooks import config as hook_config
    from datacore_msg.readmodels import hookread
    from datacore_msg.readmodels.searchindex import Filters, SearchIndex

    try:
        config = hook_config.load(args.root, args.space, env)
        filters = Filters(
            kind="task" if args.tasks else None,
            sender=_name(args.sender, config.agent),
            recipient=_name(args.recipient, config.agent),
            thread=None if args.thread is None else args.thread.strip(),
        )
        db = config.db
        with hookread.reading(db) as conn:
            if not hookread.freshness(conn).current:
                return None
            matches = SearchIndex(conn, db).search(args.query, filters, args.limit)
    except (DatacoreError, OSError, ValueError):
        return None
    _emit([Hit(match) for match in matches], config.timezone, args.as_json)
    return 0


#: Where the C library and :mod:`zoneinfo` (its first search folder on Linux) read a zone from.
ZONE_DIR = "/usr/share/zoneinfo"
_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


class SystemZone(tzinfo):
    """The zone ``TZ`` names to the C library, for :meth:`datetime.fromtimestamp` and
    :meth:`datetime.astimezone` (all the formatting of hits asks of it): each instant gets the
    offset ``time.localtime`` gives it, as a fixed-offset zone."""

    def fromutc(self, dt: datetime) -> datetime:
        offset = timedelta(seconds=time.localtime((dt.replace(tzinfo=None) - _EPOCH) // _SECOND).tm_gmtoff)
        return (dt + offset).replace(tzinfo=timezone(offset))

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        raise NotImplementedError("SystemZone converts from UTC only")

    def dst(self, dt: datetime | None) -> timedelta | None:
        raise NotImplementedError("SystemZone converts from UTC only")

    def tzname(self, dt: datetime | None) -> str | None:
        raise NotImplementedError("SystemZone converts from UTC only")


def zone_file(name: str, env: Mapping[str, str]) -> str | None:
    """The TZif file of the zone ``name`` that :class:`zoneinfo.ZoneInfo` would read too (the first
    folder of its default search path), or None: let :mod:`zoneinfo` find it (it imports
    ``sysconfig``, a few ms)."""
    if not hasattr(time, "tzset") or env.get("PYTHONTZPATH"):
        return None
    if not name or name.startswith("/") or ".." in name.split("/"):
        return None
    path = os.path.join(ZONE_DIR, name)
    try:
        with open(path, "rb") as file:
            return path if file.read(4) == b"TZif" else None
    except OSError:
        return None


class time_zone:  # used as a function in a with statement (without importing contextlib)
    """The zone ``name``: read by the C library (``TZ``, restored after) when :func:`zone_file`
    finds its file, else by :mod:`zoneinfo`."""

    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self.name = name
        self.path = zone_file(name, env)
        self.saved: str | None = None

    def __enter__(self) -> tzinfo:
        if self.path is None:
            from zoneinfo import ZoneInfo

            return ZoneInfo(self.name)
        self.saved = os.environ.get("TZ")
        os.environ["TZ"] = ":" + self.path
        time.tzset()
        return SystemZone()

    def __exit__(self, *exc: object) -> None:
        if self.path is None:
            return
        if self.saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = self.saved
        time.tzset()


def _emit(hits: list[Hit], zone: str, as_json: bool, env: Mapping[str, str] = os.environ) -> None:
    from datacore_msg.cli.output import emit_json, emit_text
    from datacore_msg.cli.search_format import hit_dict, hits_text

    with time_zone(zone, env) as tz:
        if as_json:
            data = [hit_dict(hit, tz) for hit in hits]
        else:
            text = hits_text(hits, tz)
    if as_json:
        emit_json(data)
    else:
        emit_text(text)
