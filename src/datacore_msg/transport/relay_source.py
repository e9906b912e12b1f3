"""What the relay's endpoints read: its heads in memory, its recent events in memory, the rest from
its log.

Theory of operation
-------------------
Every relay endpoint reads the relay's store through one :class:`RelaySource` (the protocol's
:class:`~.protocol.EventSource`). The relay is the only writer of its log and tells the source about
every batch it stored (:meth:`RelaySource.stored`), so:

* ``heads()`` is a dict kept in memory (read from the log once, at start), not a query per
  connection;
* ``events_after(origin, seq, limit)`` is answered from :class:`RecentEvents` — the last events of
  each origin, kept in memory up to a byte budget — when they cover the range asked for. That is
  the fan-out: a batch one peer sent is offered to every live connection, whose endpoint asks for
  exactly those events and gets the very objects that were stored, without a read of the log per
  connection. A peer further behind (catch-up after being away, or a slow peer that fell behind
  its window) is served from the log, through the read connection given to the source.

:func:`encode_frame` writes an ``events`` frame from the JSON text of each event kept in
:class:`RecentEvents`, so a batch fanned out to many connections is serialised once, not once per
connection; the text is exactly :func:`~.frames.encode`'s.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from datacore_msg.eventlog.envelope import Event
from datacore_msg.transport import frames
from datacore_msg.transport.protocol import EventSource

#: Bytes of recent events the relay keeps in memory for the fan-out.
RECENT_BYTES = 32 * 1024 * 1024
#: Recent events kept per origin.
RECENT_PER_ORIGIN = 5_000


def event_text(event: Event) -> str:
    return json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)


class RecentEvents:
    """Per origin, the last contiguous run of stored events (oldest dropped first), with each one's
    JSON text; at most ``max_bytes`` of text in all (the origins stored to longest ago go first)."""

    def __init__(self, max_bytes: int = RECENT_BYTES, per_origin: int = RECENT_PER_ORIGIN) -> None:
        self.max_bytes = max_bytes
        self.per_origin = per_origin
        self._runs: OrderedDict[str, list[Event]] = OrderedDict()
        self._texts: dict[str, str] = {}
        self.bytes = 0
        self._body_key: tuple[str, ...] = ()
        self._body = b""

    def add(self, event: Event) -> None:
        run = self._runs.get(event.origin)
        if run and event.seq <= run[-1].seq:
            return
        if run is None or (run and event.seq != run[-1].seq + 1):
            self._drop(event.origin)
            run = self._runs[event.origin] = []
        text = event_text(event)
        run.append(event)
        self._texts[event.id] = text
        self.bytes += len(text)
        self._runs.move_to_end(event.origin)
        if len(run) > self.per_origin:
            self._trim(event.origin, len(run) - self.per_origin)
        while self.bytes > self.max_bytes and self._runs:
            oldest = next(iter(self._runs))
            run = self._runs[oldest]
            self._trim(oldest, max(1, len(run) // 2))

    def _trim(self, origin: str, count: int) -> None:
        run = self._runs[origin]
        for event in run[:count]:
            self.bytes -= len(self._texts.pop(event.id, ""))
        del run[:count]
        if not run:
            del self._runs[origin]

    def _drop(self, origin: str) -> None:
        if origin in self._runs:
            self._trim(origin, len(self._runs[origin]))

    def after(self, origin: str, seq: int, limit: int) -> list[Event] | None:
        """``origin``'s events after ``seq`` (at most ``limit``), or None when the run does not
        start at or before ``seq + 1`` (the caller reads the log)."""
        run = self._runs.get(origin)
        if not run:
            return None
        first = run[0].seq
        if seq + 1 < first:
            return None
        start = seq + 1 - first
        return run[start : start + limit]

    def text(self, event: Event) -> str | None:
        return self._texts.get(event.id)

    def body(self, events: list[Event]) -> bytes:
        """The events as they end an ``events`` frame (``e1,e2,...]}``, UTF-8); the last one made
        is kept, since a fan-out sends the same events to every connection."""
        key = tuple(event.id for event in events)
        if key == self._body_key:
            return self._body
        parts = [self._texts.get(event.id) or event_text(event) for event in events]
        self._body_key, self._body = key, (",".join(parts) + "]}").encode("utf-8")
        return self._body

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs.values())


class RelaySource:
    """The relay's :class:`~.protocol.EventSource`: heads and recent events from memory, older events
    from ``store`` (a read connection, used on the event loop's thread only)."""

    def __init__(self, store: EventSource, recent: RecentEvents | None = None) -> None:
        self.store = store
        self.recent = recent if recent is not None else RecentEvents()
        self._heads = store.heads()
        self.reads = 0

    def heads(self) -> dict[str, int]:
        return dict(self._heads)

    def origin_count(self) -> int:
        return len(self._heads)

    def head(self, origin: str) -> int:
        return self._heads.get(origin, 0)

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]:
        if limit <= 0 or self._heads.get(origin, 0) <= seq:
            return []
        found = self.recent.after(origin, seq, limit)
        if found is not None:
            return found
        self.reads += 1
        return self.store.events_after(origin, seq, limit)

    def stored(self, events: list[Event]) -> None:
        """The relay stored ``events`` (in the order ingest accepted them: per origin, seq order)."""
        for event in events:
            if event.seq > self._heads.get(event.origin, 0):
                self._heads[event.origin] = event.seq
            self.recent.add(event)


def encode_frame(frame: frames.Frame, recent: RecentEvents) -> bytes:
    """``frames.encode(frame)`` as UTF-8, with the events of an ``events`` frame taken from
    ``recent``'s texts when it holds them (the same bytes), and the list of events serialised once
    for all the connections it goes to (:meth:`RecentEvents.body`)."""
    if not isinstance(frame, frames.Events):
        return frames.encode(frame).encode("utf-8")
    head = f'{{"v":{frames.PROTOCOL_VERSION},"t":"{frame.TYPE}","batch":{frame.batch},"events":['
    return head.encode("ascii") + recent.body([e for e in frame.events if isinstance(e, Event)])
