"""The org renderer: message state -> entry text -> file text. Pure and deterministic.

Theory of operation
-------------------
A view file is its header (``FILE_HEADER``; archive files first add an Emacs mode line, because
Emacs does not open ``.org_archive`` files in org-mode by itself) followed by its entries in the
order of their ``message.sent`` events (``hlc``, ``origin``, ``seq``). Each entry is rendered from
one message's state alone, so an entry's text can be cached and re-rendered when (and only when)
that message's events change; joining cached entries gives the same bytes as rendering everything
from scratch.

Which user's views are rendered is a parameter: messages *to* the user go to ``inbox.org``, messages
*from* the user (or the user's agent) to ``outbox.org``; a message the user archived moves to
``archive/<view>-<YYYY-MM>.org_archive`` (the month it was archived in, in the user's time zone), so
live views hold only what is in play.

No text from a user reaches a heading, property or planning line: headings carry a keyword, the
timestamp and fixed tags; property values are validated names and ids; the body goes through
:func:`datacore_msg.projections.orgtext.encode_body`.

A sender whose name no pinned key backs, or whose name looks like another pinned name
(:class:`~datacore_msg.eventlog.lookalike.Sender`), is pointed out where a reader looks first: the
heading says ``From Tex (unverified; looks like tex)`` and carries the tags ``unverified`` /
``lookalike``, and ``VERIFIED`` and ``LOOKS_LIKE`` follow ``FROM`` (which stays the name as written).
Entries of verified senders that look like no other name are rendered as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.eventlog.names import agent_of
from datacore_msg.projections.messages import MessageState
from datacore_msg.projections.orgtext import DONE_KEYWORDS, TODO_KEYWORDS, encode_body
from datacore_msg.projections.timefmt import month_of, org_inactive
from datacore_msg.readmodels.entry import Entry

FILE_HEADER = f"#+TODO: {' '.join(TODO_KEYWORDS)} | {' '.join(DONE_KEYWORDS)}\n"
ARCHIVE_HEADER = "# -*- mode: org -*-\n" + FILE_HEADER
INBOX = "inbox.org"
OUTBOX = "outbox.org"
LIVE_FILES = (INBOX, OUTBOX)
ROLES = {"inbox": INBOX, "outbox": OUTBOX}

_KEYWORDS = {None: "TODO", "read": "DONE", "todo": "TODO", "done": "DONE", "archive": "ARCHIVED"}


def roles_of(state: MessageState, user: str) -> list[str]:
    """Messages to the user are in the inbox; messages from the user, or from the user's own agent
    (its replies to the senders of its tasks), are in the outbox."""
    roles = []
    if state.sent.to == user:
        roles.append("inbox")
    if state.sent.sender in (user, agent_of(user)):
        roles.append("outbox")
    return roles


def status_of(state: MessageState, role: str, user: str) -> str:
    """What the user sees of the message: ``unread`` (to them, not marked), ``sent`` (from them, not
    marked), or their mark: ``read``, ``todo``, ``done``, ``archived``."""
    mark = state.mark_of(user)
    if mark is None:
        return "unread" if role == "inbox" else "sent"
    return "archived" if mark == "archive" else mark


def file_for(state: MessageState, role: str, user: str, tz: tzinfo) -> str:
    archived = state.archived_at(user)
    if archived is None:
        return ROLES[role]
    stem = ROLES[role].removesuffix(".org")
    return f"archive/{stem}-{month_of(archived, tz)}.org_archive"


def _property(name: str, value: str) -> str:
    return f"  {f':{name}:':<10} {value}\n"


def sender_tag_names(sender: Sender | None) -> tuple[str, ...]:
    """The tags that point out an unverified or lookalike sender (``unverified``, ``lookalike``)."""
    if sender is None:
        return ()
    tags = () if sender.verified else ("imported",) if sender.imported else ("unverified",)
    return (*tags, "lookalike") if sender.looks_like is not None else tags


def sender_tags(sender: Sender | None) -> str:
    """:func:`sender_tag_names` as a heading's tags (``:unverified:lookalike:``), or ""."""
    tags = sender_tag_names(sender)
    return f":{':'.join(tags)}:" if tags else ""


def sender_properties(sender: Sender | None) -> list[tuple[str, str]]:
    """``VERIFIED`` and ``LOOKS_LIKE`` for a sender to point out (none for the others)."""
    if sender is None or not sender.marked:
        return []
    props = [("VERIFIED", "yes" if sender.verified else "no")]
    if sender.looks_like is not None:
        props.append(("LOOKS_LIKE", sender.looks_like))
    return props


def render_entry(state: MessageState, role: str, user: str, tz: tzinfo, sender: Sender | None = None) -> str:
    """One message's entry; ``sender`` (what the trust book says of its sender) marks an unverified
    or lookalike sender (None: no mark)."""
    sent = state.sent
    mark = state.mark_of(user)
    if role == "outbox" and mark is None:
        keyword, tags = "DONE", ":message:"
    else:
        keyword = _KEYWORDS[mark]
        tags = ":unread:message:" if mark is None else ":message:"
    created = org_inactive(state.shown_hlc, tz)
    title = created
    marked = sender is not None and sender.marked
    if marked:
        assert sender is not None
        title += f" From {sender.label}"
        tags = tags[:-1] + sender_tags(sender)
    parts = [f"* {keyword} {title} {tags}\n"]
    archived = state.archived_at(user) if mark == "archive" else None
    if archived is not None:
        parts.append(f"  CLOSED: {org_inactive(archived, tz)}\n")
    parts.append(f"  :PROPERTIES:\n  :ID:       {sent.id}\n  :FROM:     {sent.sender}\n")
    if marked:
        parts.extend(_property(name, value) for name, value in sender_properties(sender))
    parts.append(f"  :TO:       {sent.to}\n")
    if sent.reply_to is not None:
        parts.append(_property("REPLY_TO", sent.reply_to))
    if sent.thread is not None:
        parts.append(_property("THREAD", sent.thread))
    if sent.priority is not None:
        parts.append(_property("PRIORITY", sent.priority))
    parts.append(f"  :CREATED:  {created}\n")
    if state.imported is not None:
        parts.append(_property("IMPORTED", state.imported.original))
    parts.append("  :END:\n")
    body = encode_body(sent.text)
    if body:
        parts.append("\n".join(body))
        parts.append("\n")
    return "".join(parts)


def entries_for(state: MessageState, user: str, tz: tzinfo, sender: Sender | None = None) -> list[Entry]:
    """The message's entries in ``user``'s views; ``sender`` as for :func:`render_entry`. An inbox
    entry's peer is the sender, with what is known of it (read by the hook)."""
    return [
        Entry(
            state.sent.id,
            role,
            file_for(state, role, user, tz),
            state.sent_order,
            render_entry(state, role, user, tz, sender),
            status_of(state, role, user),
            state.sent.sender if role == "inbox" else state.sent.to,
            sender.verified if role == "inbox" and sender is not None else None,
            sender.looks_like if role == "inbox" and sender is not None else None,
        )
        for role in roles_of(state, user)
    ]


def render_file(name: str, entry_texts: Iterable[str]) -> str:
    header = ARCHIVE_HEADER if name.endswith(".org_archive") else FILE_HEADER
    return header + "".join(entry_texts)


def render_files(entries: Iterable[Entry], live_files: Iterable[str] = LIVE_FILES) -> dict[str, str]:
    """Every view file's full text from a set of entries (live files always present)."""
    by_file: dict[str, list[Entry]] = {name: [] for name in live_files}
    for entry in entries:
        by_file.setdefault(entry.file, []).append(entry)
    return {
        name: render_file(name, (entry.text for entry in sorted(items, key=lambda e: e.sort)))
        for name, items in sorted(by_file.items())
    }
