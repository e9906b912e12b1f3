"""Search hits as human lines and JSON-ready dicts (no printing; no click: the fast path uses it).

Every value from an event goes through :func:`~datacore_msg.terminal.field` in human text; JSON
carries the exact text (the output module escapes what a terminal would act on).
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:  # the types only: the search command's fast path does without typing
    from typing import Any, Protocol

    class Hit(Protocol):
        """What a line or dict is made from: :class:`datacore_msg.app.search.SearchHit`, or the fast
        path's own row."""

        @property
        def id(self) -> str: ...
        @property
        def kind(self) -> str: ...
        @property
        def sender(self) -> str: ...
        @property
        def recipient(self) -> str: ...
        @property
        def thread(self) -> str | None: ...
        @property
        def time_ms(self) -> int: ...
        @property
        def snippet(self) -> str: ...
        @property
        def score(self) -> float: ...
        @property
        def text(self) -> str: ...
        @property
        def status(self) -> str: ...
        @property
        def archived(self) -> bool: ...
        @property
        def sender_verified(self) -> bool: ...
        @property
        def sender_looks_like(self) -> str | None: ...


def _iso(ms: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(tz).isoformat(timespec="seconds")


def hit_dict(hit: Hit, tz: tzinfo) -> dict[str, Any]:
    sender: dict[str, Any] = {}
    if not hit.sender_verified or hit.sender_looks_like is not None:
        sender = {"verified": hit.sender_verified, "looks_like": hit.sender_looks_like}
    return {
        "id": hit.id,
        "kind": hit.kind,
        "from": hit.sender,
        **sender,
        "to": hit.recipient,
        "thread": hit.thread,
        "time": _iso(hit.time_ms, tz),
        "status": hit.status,
        "archived": hit.archived,
        "score": round(hit.score, 6),
        "snippet": hit.snippet,
        "text": hit.text,
    }


def hit_lines(hit: Hit, tz: tzinfo) -> str:
    """``ID  [org time]  STATUS  FROM → TO  thread ROOT`` and the snippet on the next line."""
    from datacore_msg.eventlog.hlc import COUNTER_BITS
    from datacore_msg.eventlog.lookalike import Sender
    from datacore_msg.projections.timefmt import org_inactive
    from datacore_msg.terminal import field

    who = Sender(hit.sender, hit.sender_verified, hit.sender_looks_like).label
    thread = f"  thread {field(hit.thread)}" if hit.thread else ""
    archived = "  (archived)" if hit.archived and hit.status != "archived" else ""
    head = (
        f"{field(hit.id)}  {org_inactive(hit.time_ms << COUNTER_BITS, tz)}  {field(hit.status):<8} "
        f"{field(who)} → {field(hit.recipient)}{thread}{archived}"
    )
    return f"{head}\n    {field(' '.join(hit.snippet.split()))}"


def hits_text(hits: list[Any], tz: tzinfo) -> str:
    return "\n".join(hit_lines(hit, tz) for hit in hits) if hits else "No matches."
