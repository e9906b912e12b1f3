"""One rendered org entry of a view, as the pure renderer produces it and the view cache stores it.

``role`` names the view it belongs to (``inbox``, ``outbox``, ``agent``), ``file`` the file it lives
in now (a live view or an archive file), ``sort`` its place in that file; ``status`` and ``peer`` are
what the hook reads of a message (its viewer's status, the other party), and for an inbox entry
``peer_verified`` and ``peer_looks_like`` what is known of the sender's name (whether a pinned key
backs it, the pinned name it looks like).
"""

from __future__ import annotations

from datacore_msg.records import Record, set_field


class Entry(Record):
    __slots__ = (
        "file",
        "peer",
        "peer_looks_like",
        "peer_verified",
        "role",
        "sort",
        "status",
        "subject",
        "text",
    )
    subject: str
    role: str
    file: str
    sort: tuple[int, str, int]
    text: str
    status: str | None
    peer: str | None
    peer_verified: bool | None
    peer_looks_like: str | None

    def __init__(
        self,
        subject: str,
        role: str,
        file: str,
        sort: tuple[int, str, int],
        text: str,
        status: str | None = None,
        peer: str | None = None,
        peer_verified: bool | None = None,
        peer_looks_like: str | None = None,
    ) -> None:
        set_field(self, "subject", subject)
        set_field(self, "role", role)
        set_field(self, "file", file)
        set_field(self, "sort", sort)
        set_field(self, "text", text)
        set_field(self, "status", status)
        set_field(self, "peer", peer)
        set_field(self, "peer_verified", peer_verified)
        set_field(self, "peer_looks_like", peer_looks_like)
