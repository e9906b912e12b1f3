"""The search index: the texts of the user's own view entries, in SQLite FTS5, ranked with bm25.

A read model like the view cache: derived from the log by the same catch-up (one
:class:`~datacore_msg.readmodels.entry.SearchDoc` per message or task with an entry in the user's
views, see :mod:`datacore_msg.projections.searchdocs`), replaced whole by ``rebuild``, never a source
of truth. Its rows are written inside the view cache's transaction, so the index and the views'
checkpoint move together.

* ``search_docs``: one row per document (``UNIQUE (kind, subject)``), with the filter columns;
* ``search_text``: an FTS5 table over ``search_docs.text`` (external content, so each text is stored
  once), tokenizer ``unicode61 remove_diacritics 2`` (``cafe`` finds ``café``). This module keeps it
  in step: a changed text is deleted with its old value and inserted again; a new mark changes the
  row only.

Queries
-------
What a person types is never handed to FTS5 as syntax. :func:`fts_query` turns it into a conjunction
of FTS5 strings: each word (split on white space) is one string, a ``"quoted part"`` one phrase, a
word ending in ``*`` a prefix; quotes inside are doubled, control characters (NUL included) and lone
surrogates become spaces, words without a letter or digit are dropped. ``AND``, ``-``, ``:``,
``NEAR``, parentheses are plain words. The only errors are a query with no words, over
:data:`MAX_QUERY_CHARS` characters or over :data:`MAX_TERMS` terms (:class:`BadQuery`, one line).

Ranking: ``bm25`` (FTS5's, over the whole index), best first; equal scores newest first. A
document's number (the FTS5 rowid, :func:`doc_number`) is its time in ms followed by 20 bits of a
hash of its identity: a function of the document alone, so the order never depends on the order
rows were written in (a rebuilt index answers exactly like the one kept up incrementally), and
``since`` is a range of numbers FTS5 seeks to. Without other filters the ranking runs inside FTS5
alone; with them, each match's row is looked up in ``search_docs`` (FTS5 kept as the outer loop).
Snippets are computed for the returned rows only, the matched words between ``[`` and ``]``, by
one walk over the matches between the lowest and highest returned number (keeping the returned
ones) while that range holds few matches, else by a lookup per number, which FTS5 answers by running
the query again for each; both give the same rows and snippets. A searching connection's page cache
may grow to 64 MiB, so that a long-lived process (the MCP server) keeps the index's pages between
searches.
"""

from __future__ import annotations

import sqlite3
import unicodedata
import zlib
from collections.abc import Iterable, Sequence

from datacore_msg.errors import BadQuery
from datacore_msg.eventlog.sqlite_errors import translating
from datacore_msg.readmodels.bulk import without_indexes
from datacore_msg.readmodels.searchdoc import SearchDoc
from datacore_msg.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # not imported at run time: the search command's fast path does without pathlib
    from pathlib import Path

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32
MAX_LIMIT = 1000
SNIPPET_TOKENS = 16
#: Snippets by a walk over the matches in the hits' number range while it holds at most this many.
WALK_AT_MOST = 5000
#: The page cache a search lets its connection grow to (:meth:`SearchIndex.keep_pages`).
CACHE_KIB = 65536
MARK_OPEN, MARK_CLOSE, ELLIPSIS = "[", "]", "…"

_COLUMNS = (
    "kind, subject, sender, recipient, thread, time_ms, status, archived, sender_verified, "
    "sender_looks_like, text"
)
_PLACES = ", ".join("?" for _ in _COLUMNS.split(", "))
_D_COLUMNS = ", ".join(f"d.{name}" for name in _COLUMNS.split(", "))


def _row(doc: SearchDoc) -> tuple[object, ...]:
    return (
        doc.kind,
        doc.subject,
        doc.sender,
        doc.recipient,
        doc.thread,
        doc.time_ms,
        doc.status,
        int(doc.archived),
        int(doc.sender_verified),
        doc.sender_looks_like,
        doc.text,
    )


def _doc(row: Sequence[object]) -> SearchDoc:
    return SearchDoc(
        kind=str(row[0]),
        subject=str(row[1]),
        sender=str(row[2]),
        recipient=str(row[3]),
        thread=None if row[4] is None else str(row[4]),
        time_ms=int(row[5]),  # type: ignore[call-overload]
        status=str(row[6]),
        archived=bool(row[7]),
        sender_verified=bool(row[8]),
        sender_looks_like=None if row[9] is None else str(row[9]),
        text=str(row[10]),
    )


# -- writing (inside the view cache's transaction) ------------------------------------------------

#: Low bits of a document's number taken from a hash of its identity; the high bits are its time.
HASH_BITS = 20
#: Times past this (year 2109; only a forged clock stamp) share the last number range.
MAX_TIME_MS = (1 << 42) - 1


def doc_number(doc: SearchDoc) -> int:
    """A document's number (the FTS5 rowid): its time in ms, then 20 bits of a hash of its kind and
    id. A function of the document alone, so an index kept up incrementally and one rebuilt number
    (and so order equal scores) alike; newer documents have larger numbers."""
    return _number(doc.kind, doc.subject, doc.time_ms)


def _number(kind: str, subject: str, time_ms: int) -> int:
    digest = zlib.crc32(f"{kind}:{subject}".encode("utf-8", "surrogatepass"))
    return (min(time_ms, MAX_TIME_MS) << HASH_BITS) | (digest & ((1 << HASH_BITS) - 1))


def _row_number(row: Sequence[object]) -> int:
    """:func:`doc_number` of a row in ``_COLUMNS`` order."""
    return _number(str(row[0]), str(row[1]), int(row[5]))  # type: ignore[call-overload]


def _free_number(conn: sqlite3.Connection, doc: SearchDoc) -> int:
    """:func:`doc_number`, or the next free one after it in the (unlikely) case of a clash."""
    number = doc_number(doc)
    while _exists(conn, number):
        number += 1
    return number


def _exists(conn: sqlite3.Connection, number: int) -> bool:
    return conn.execute("SELECT 1 FROM search_docs WHERE doc = ?", (number,)).fetchone() is not None


def replace_docs(conn: sqlite3.Connection, docs: Iterable[SearchDoc]) -> None:
    """Drop every document and load these, then build the full-text index in one pass."""
    start_staging(conn)
    try:
        stage_docs(conn, docs)
        replace_docs_from_stage(conn)
    finally:
        end_staging(conn)


def start_staging(conn: sqlite3.Connection) -> None:
    """An empty temporary table of this connection for :func:`stage_docs` (it takes no lock on the
    log and spills to disk, so a rebuild never holds every document in memory). Each staged row
    carries its document's own number (:func:`doc_number`) in ``doc``; the numbers that clash are
    moved on when the documents are loaded."""
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS staged_docs AS SELECT doc, {_COLUMNS} FROM search_docs WHERE false"
    )
    conn.execute("DELETE FROM temp.staged_docs")


def stage_docs(conn: sqlite3.Connection, docs: Iterable[SearchDoc]) -> None:
    conn.executemany(
        f"INSERT INTO temp.staged_docs (doc, {_COLUMNS}) VALUES (?, {_PLACES})",
        [(doc_number(doc), *_row(doc)) for doc in docs],
    )


def replace_docs_from_stage(conn: sqlite3.Connection) -> None:
    """Replace every document with those staged by :func:`stage_docs` (inside the caller's
    transaction).

    In ``(time, kind, subject)`` order (SQLite's binary order of the UTF-8 text is the code point
    order Python sorts by) each document takes its own number, or the next free one after it; only
    the few that clash are renumbered in the staging table. The rows then go in by number (appends
    to the table's b-tree), with the secondary indexes dropped and built again afterwards (one sort
    each instead of a random insert per row), and the full-text index is built in one pass."""
    taken: set[int] = set()
    moved: list[tuple[int, int]] = []
    for rowid, number in conn.execute(
        "SELECT rowid, doc FROM temp.staged_docs ORDER BY time_ms, kind, subject"
    ):
        free = number
        while free in taken:
            free += 1
        taken.add(free)
        if free != number:
            moved.append((free, rowid))
    taken.clear()
    conn.executemany("UPDATE temp.staged_docs SET doc = ? WHERE rowid = ?", moved)
    conn.execute("INSERT INTO search_text (search_text) VALUES ('delete-all')")
    conn.execute("DELETE FROM search_docs")
    with without_indexes(conn, "search_docs"):
        conn.execute(
            f"INSERT INTO search_docs (doc, {_COLUMNS}) SELECT doc, {_COLUMNS} FROM temp.staged_docs "
            "ORDER BY doc"
        )
    conn.execute("INSERT INTO search_text (search_text) VALUES ('rebuild')")


def end_staging(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.staged_docs")


def apply_docs(
    conn: sqlite3.Connection, upserts: Iterable[SearchDoc], deletes: Iterable[tuple[str, str]]
) -> None:
    """Store changed documents and drop those of (kind, subject) pairs no longer in the views."""
    upserts = list(upserts)
    deletes = list(deletes)
    held = _held_docs(conn, [*deletes, *((doc.kind, doc.subject) for doc in upserts)])
    for kind, subject in deletes:
        old = held.pop((kind, subject), None)
        if old is not None:
            conn.execute("INSERT INTO search_text (search_text, rowid, text) VALUES ('delete', ?, ?)", old)
            conn.execute("DELETE FROM search_docs WHERE doc = ?", (old[0],))
    for doc in upserts:
        old = held.get((doc.kind, doc.subject))
        if old is None:
            number = _free_number(conn, doc)
            conn.execute(
                f"INSERT INTO search_docs (doc, {_COLUMNS}) VALUES (?, {_PLACES})", (number, *_row(doc))
            )
            conn.execute("INSERT INTO search_text (rowid, text) VALUES (?, ?)", (number, doc.text))
            held[(doc.kind, doc.subject)] = (number, doc.text)
            continue
        conn.execute(
            "UPDATE search_docs SET sender = ?, recipient = ?, thread = ?, time_ms = ?, status = ?, "
            "archived = ?, sender_verified = ?, sender_looks_like = ?, text = ? WHERE doc = ?",
            (*_row(doc)[2:], old[0]),
        )
        if old[1] != doc.text:
            conn.execute("INSERT INTO search_text (search_text, rowid, text) VALUES ('delete', ?, ?)", old)
            conn.execute("INSERT INTO search_text (rowid, text) VALUES (?, ?)", (old[0], doc.text))
            held[(doc.kind, doc.subject)] = (old[0], doc.text)


def _held_docs(
    conn: sqlite3.Connection, keys: Iterable[tuple[str, str]], chunk: int = 500
) -> dict[tuple[str, str], tuple[int, str]]:
    """The number and text of each stored document among ``keys`` (kind, subject): one query per
    kind and ``chunk`` subjects, on the (kind, subject) index."""
    by_kind: dict[str, set[str]] = {}
    for kind, subject in keys:
        by_kind.setdefault(kind, set()).add(subject)
    held: dict[tuple[str, str], tuple[int, str]] = {}
    for kind, subjects in sorted(by_kind.items()):
        ordered = sorted(subjects)
        for start in range(0, len(ordered), chunk):
            part = ordered[start : start + chunk]
            marks = ", ".join("?" * len(part))
            for subject, number, text in conn.execute(
                f"SELECT subject, doc, text FROM search_docs WHERE kind = ? AND subject IN ({marks})",
                (kind, *part),
            ):
                held[(kind, subject)] = (int(number), str(text))
    return held


# -- queries ---------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Control characters (NUL included) and lone surrogates as spaces: FTS5 strings end at a NUL,
    and a surrogate cannot be encoded for SQLite."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)


def _string(words: str, prefix: bool) -> str | None:
    if not any(ch.isalnum() for ch in words):
        return None
    return '"' + words.replace('"', '""') + '"' + ("*" if prefix else "")


def fts_query(text: str) -> str:
    """What a person typed as an FTS5 query that cannot be a syntax error (see the module's
    docstring); :class:`BadQuery` when there is nothing to search for or too much."""
    if len(text) > MAX_QUERY_CHARS:
        raise BadQuery(
            f"search: the query is {len(text):,} characters long; at most {MAX_QUERY_CHARS:,} are allowed"
        )
    terms: list[str] = []
    for i, part in enumerate(_clean(text).split('"')):
        if i % 2:  # inside quotes: one phrase (an unclosed quote runs to the end)
            term = _string(" ".join(part.split()), prefix=False)
            if term is not None:
                terms.append(term)
            continue
        for word in part.split():
            term = _string(word.rstrip("*"), prefix=word.endswith("*"))
            if term is not None:
                terms.append(term)
    if not terms:
        raise BadQuery("search: the query has no words to search for (only spaces or punctuation)")
    if len(terms) > MAX_TERMS:
        raise BadQuery(
            f"search: the query has {len(terms)} words or phrases; at most {MAX_TERMS} are allowed"
        )
    return " ".join(terms)


class Filters(NamedTuple):
    kind: str | None = None
    sender: str | None = None
    recipient: str | None = None
    thread: str | None = None
    since_ms: int | None = None


class Match(NamedTuple):
    doc: SearchDoc
    #: bm25 with its sign turned: higher is better.
    score: float
    snippet: str


def _where(filters: Filters) -> tuple[str, list[object]]:
    """The filters on ``search_docs`` (``since`` is a range of document numbers instead)."""
    clauses: list[str] = []
    params: list[object] = []
    if filters.kind is not None:
        clauses.append("d.kind = ?")
        params.append(filters.kind)
    if filters.sender is not None:
        clauses.append("d.sender = ?")
        params.append(filters.sender)
    if filters.recipient is not None:
        clauses.append("d.recipient = ?")
        params.append(filters.recipient)
    if filters.thread is not None:
        clauses.append("(d.thread = ? OR (d.kind = 'message' AND d.subject = ?))")
        params.extend((filters.thread, filters.thread))
    return " AND ".join(clauses), params


def _first_number(since_ms: int | None) -> int:
    return 0 if since_ms is None else min(max(since_ms, 0), MAX_TIME_MS) << HASH_BITS


class SearchIndex:
    def __init__(self, conn: sqlite3.Connection, path: Path | str) -> None:
        self.conn = conn
        self.path = path

    def keep_pages(self, kib: int = CACHE_KIB) -> None:
        """Let the connection's page cache grow to ``kib`` KiB (never shrink it). A search reads
        pages scattered over the index (each word's list, the texts' sizes, the rows); with SQLite's
        default 2 MiB most of them are read again by the next search of a long-lived process (the
        MCP server, a library user). The cache grows only as pages are read."""
        with translating(self.path):
            size = int(self.conn.execute("PRAGMA cache_size").fetchone()[0])
            if (-size if size < 0 else size * 4) < kib:
                self.conn.execute(f"PRAGMA cache_size = -{int(kib)}")

    def count(self) -> int:
        with translating(self.path):
            return int(self.conn.execute("SELECT COUNT(*) FROM search_docs").fetchone()[0])

    def search(self, query: str, filters: Filters, limit: int) -> list[Match]:
        """The ``limit`` best matches of ``query`` (what a person typed) under ``filters``."""
        if not 1 <= limit <= MAX_LIMIT:
            raise BadQuery(f"search: the limit must be between 1 and {MAX_LIMIT}, not {limit}")
        fts = fts_query(query)
        where, params = _where(filters)
        first = _first_number(filters.since_ms)
        if where:
            # FTS5 stays the outer loop (CROSS JOIN), each match's row looked up by its number.
            sql = (
                "SELECT d.doc, bm25(search_text) AS score FROM search_text "
                "CROSS JOIN search_docs d ON d.doc = search_text.rowid "
                f"WHERE search_text MATCH ? AND search_text.rowid >= ? AND {where} "
                "ORDER BY score, d.doc DESC LIMIT ?"
            )
        else:
            sql = (
                "SELECT rowid, bm25(search_text) AS score FROM search_text "
                "WHERE search_text MATCH ? AND rowid >= ? ORDER BY score, rowid DESC LIMIT ?"
            )
        with translating(self.path):
            try:
                ranked = self.conn.execute(sql, (fts, first, *params, limit)).fetchall()
                return self._matches(fts, [(int(doc), float(score)) for doc, score in ranked])
            except sqlite3.OperationalError as exc:
                if "fts5" not in str(exc).lower():
                    raise
                # A safety net: fts_query leaves FTS5 no syntax to fail on.
                raise BadQuery("search: the query could not be read as words; use plain words") from None

    def _matches(self, fts: str, ranked: list[tuple[int, float]]) -> list[Match]:
        """The ranked documents' rows and snippets, in one query, in rank order.

        FTS5 takes ``rowid IN (...)`` as one lookup of the query per number (each parses it and
        seeks every term's list again); a walk over the matches between the lowest and highest
        number, keeping the wanted ones (``+rowid IN``: a filter, not a lookup), costs less while
        they are few, and the same rows and snippets come out either way."""
        if not ranked:
            return []
        numbers = [doc for doc, _ in ranked]
        places = ", ".join("?" for _ in ranked)
        head = (
            f"SELECT d.doc, {_D_COLUMNS}, snippet(search_text, 0, ?, ?, ?, ?) FROM search_text "
            "CROSS JOIN search_docs d ON d.doc = search_text.rowid WHERE search_text MATCH ? "
        )
        low, high = min(numbers), max(numbers)
        count = self.conn.execute(
            "SELECT COUNT(*) FROM search_text WHERE search_text MATCH ? AND rowid BETWEEN ? AND ?",
            (fts, low, high),
        ).fetchone()[0]
        if count <= WALK_AT_MOST:
            sql = head + f"AND search_text.rowid BETWEEN ? AND ? AND +search_text.rowid IN ({places})"
            params: tuple[object, ...] = (fts, low, high, *numbers)
        else:
            sql = head + f"AND search_text.rowid IN ({places})"
            params = (fts, *numbers)
        rows = self.conn.execute(sql, (MARK_OPEN, MARK_CLOSE, ELLIPSIS, SNIPPET_TOKENS, *params)).fetchall()
        by_doc = {int(row[0]): row[1:] for row in rows}
        # A document a concurrent catch-up dropped between the two reads is left out.
        return [
            Match(_doc(by_doc[doc]), -score, str(by_doc[doc][-1])) for doc, score in ranked if doc in by_doc
        ]

    def docs(self) -> list[SearchDoc]:
        """Every document, in (kind, subject) order (for tests and checks)."""
        with translating(self.path):
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM search_docs ORDER BY kind, subject").fetchall()
        return [_doc(row) for row in rows]
