"""One rendered org entry of a view, as the pure renderer produces it and the view cache stores it.

``role`` names the view it belongs to (``inbox``, ``outbox``, ``agent``), ``file`` the file it lives
in now (a live view or an archive file), ``sort`` its place in that file; ``status`` and ``peer`` are
what the hook reads of a message (its viewer's status, the other party), and for an inbox entry
``peer_verified`` and ``peer_looks_like`` what is known of the sender's name (whether a pinned key
backs it, the pinned name it looks like).

:class:`SearchDoc` is what the search index holds of a message or task that has an entry in the
user's views: its text as written, who sent it to whom, when, and what the user sees of it.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Entry:
    subject: str
    role: str
    file: str
    sort: tuple[int, str, int]
    text: str
    status: str | None = None
    peer: str | None = None
    peer_verified: bool | None = None
    peer_looks_like: str | None = None


@attrs.frozen
class SearchDoc:
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
