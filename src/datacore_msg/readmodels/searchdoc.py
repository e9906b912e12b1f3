"""What the search index holds of a message or task that has an entry in the user's views: its text
as written, who sent it to whom, when, and what the user sees of it. Standard library only (the
search command's fast path reads it)."""

from __future__ import annotations

from datacore_msg.records import NamedTuple


class SearchDoc(NamedTuple):
    """One searchable text: ``kind`` is ``message`` or ``task``; ``thread`` the thread a message
    belongs to (None for a thread's first message and for tasks); ``status`` what the user sees
    (``unread``, ``read``, …, or the task's state); ``archived`` whether its entry is in an archive
    file; ``sender_verified`` / ``sender_looks_like`` what is known of the sender's name."""

    kind: str
    subject: str
    sender: str
    recipient: str
    thread: str | None
    time_ms: int
    status: str
    archived: bool
    sender_verified: bool
    sender_looks_like: str | None
    text: str
