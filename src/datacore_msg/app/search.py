"""Full-text search over the message and task texts in the user's own views (``search``).

The search index (:mod:`datacore_msg.readmodels.searchindex`) answers: bm25-ranked, best first, with
a snippet whose matched words are between ``[`` and ``]``. When the derived rows are behind the log
(or were folded in another format or with other pinned keys) the views are caught up first, by the
same refresh as every listing; when they already hold every event, a search only reads them (as the
command's fast path does), so it leaves the refresh's other work (the governor's sweep of timed-out
tasks, a hand-edited agent view) to the next command that changes or lists something.

Only what the user's views show is indexed (messages to or from the user or the user's agent, tasks
for the user's agent), so nothing else can be found.

Choices: ``tasks=True`` searches task texts only; otherwise messages and tasks both. Archived
messages and closed tasks are always searched; a hit says ``archived``. The query is plain words
(all must match; ``"a phrase"``; ``word*`` for a prefix); nothing typed is FTS5 syntax, and a query
with no words or too long raises :class:`~datacore_msg.errors.BadQuery` (code ``bad_query``).
"""

from __future__ import annotations

import attrs

from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh
from datacore_msg.errors import BadQuery
from datacore_msg.eventlog.names import check_actor
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.projections.searchdocs import MESSAGE, TASK
from datacore_msg.readmodels.hookread import freshness
from datacore_msg.readmodels.searchindex import Filters, Match, SearchIndex

DEFAULT_LIMIT = 20


@attrs.frozen
class SearchHit:
    """One result: ``id`` of the message or task, ``kind`` (``message`` or ``task``), its ends,
    ``thread`` (None for a thread's first message and tasks), ``time_ms`` (when it was sent or
    requested, Unix ms), the ``snippet`` (matched words in ``[`` ``]``), ``score`` (bm25, higher is
    better), the whole ``text``; ``status`` as the user sees it (``unread``, ``read``, ``todo``,
    ``done``, ``archived``, ``sent``, or the task's state), ``archived``, and what is known of the
    sender's name (``sender_verified``: a pinned key backs it; ``sender_looks_like``: the pinned name
    it looks like)."""

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


@attrs.frozen
class Found:
    hits: list[SearchHit]
    views: WriteReport


def _hit(match: Match) -> SearchHit:
    doc = match.doc
    return SearchHit(
        id=doc.subject,
        kind=doc.kind,
        sender=doc.sender,
        recipient=doc.recipient,
        thread=doc.thread,
        time_ms=doc.time_ms,
        snippet=match.snippet,
        score=match.score,
        text=doc.text,
        status=doc.status,
        archived=doc.archived,
        sender_verified=doc.sender_verified,
        sender_looks_like=doc.sender_looks_like,
    )


def _name(space: Space, value: str | None, option: str) -> str | None:
    """``@tex`` -> ``tex``; ``claude`` / ``@claude`` is the user's own agent."""
    if value is None:
        return None
    name = check_actor(value[1:] if value.startswith("@") else value, option)
    return space.agent if name == "claude" else name


def filters_of(
    space: Space,
    *,
    sender: str | None = None,
    recipient: str | None = None,
    thread: str | None = None,
    since_ms: int | None = None,
    tasks: bool = False,
) -> Filters:
    if thread is not None and not thread.strip():
        raise BadQuery("search: --thread is empty")
    if since_ms is not None and since_ms < 0:
        raise BadQuery("search: since must be a time after 1970")
    return Filters(
        kind=TASK if tasks else None,
        sender=_name(space, sender, "--from"),
        recipient=_name(space, recipient, "--to"),
        thread=None if thread is None else thread.strip(),
        since_ms=since_ms,
    )


def _current(space: Space) -> bool:
    """The derived rows hold every event, in the current format, folded with today's pinned keys."""
    fresh = freshness(space.store.conn)
    return fresh.current and fresh.trust == space.trust().fingerprint()


def index_of(space: Space) -> SearchIndex:
    index = SearchIndex(space.store.conn, space.store.path)
    index.keep_pages()
    return index


def find(
    space: Space,
    query: str,
    *,
    sender: str | None = None,
    recipient: str | None = None,
    thread: str | None = None,
    since_ms: int | None = None,
    tasks: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> Found:
    """:func:`search`, with the report of the views' refresh (hand edits kept aside)."""
    filters = filters_of(
        space, sender=sender, recipient=recipient, thread=thread, since_ms=since_ms, tasks=tasks
    )
    views = WriteReport() if _current(space) else refresh(space)
    matches = index_of(space).search(query, filters, limit)
    return Found([_hit(match) for match in matches], views)


def search(
    space: Space,
    query: str,
    *,
    sender: str | None = None,
    recipient: str | None = None,
    thread: str | None = None,
    since_ms: int | None = None,
    tasks: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> list[SearchHit]:
    """The ``limit`` best matches of ``query`` among the texts in the user's views, best first.
    ``sender`` / ``recipient``: only from / to that name (``claude``: the user's agent); ``thread``:
    only that thread (its first message included); ``since_ms``: sent or requested at or after that
    time; ``tasks``: task texts only (otherwise messages and tasks). Raises
    :class:`~datacore_msg.errors.BadQuery` for a query with no words, too long, or a limit outside
    1..1000."""
    return find(
        space,
        query,
        sender=sender,
        recipient=recipient,
        thread=thread,
        since_ms=since_ms,
        tasks=tasks,
        limit=limit,
    ).hits


__all__ = ["MESSAGE", "TASK", "Found", "SearchHit", "find", "search"]
