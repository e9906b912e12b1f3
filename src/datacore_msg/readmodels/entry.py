"""One rendered org entry of a view, as the pure renderer produces it and the view cache stores it.

``role`` names the view it belongs to (``inbox``, ``outbox``, ``agent``), ``file`` the file it lives
in now (a live view or an archive file), ``sort`` its place in that file; ``status`` and ``peer`` are
what the hook reads of a message (its viewer's status, the other party), and for an inbox entry
``peer_verified`` and ``peer_looks_like`` what is known of the sender's name (whether a pinned key
backs it, the pinned name it looks like).
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
