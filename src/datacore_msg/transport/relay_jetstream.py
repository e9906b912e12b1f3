"""The relay's store on NATS JetStream: relay instances become stateless front ends of one stream.

Theory of operation
-------------------
Every event the relay stores is one message of the stream ``NAME`` (``relay serve --stream``,
``DATACORE`` by default) on the subject ``NAME.<origin>``: one subject per origin (the envelope
names no space; a relay serves one team, whatever its spaces), so the subject's messages are that
origin's chain, seq 1, 2, 3… in stream order, and the subject's message count is the origin's head.

* **Ingest** runs :func:`~datacore_msg.eventlog.store.check_batch`, the very checks of the SQLite
  relay's ``ingest`` (id, signature, fork, chain link, gap, clock skew, payload), against the ids
  held for the batch's ``(origin, seq)`` and predecessors: the origin's last message (its *tip*:
  seq, id and stream sequence, cached, else a direct get of the subject's last message) and, when
  the batch repeats older seqs, those events read from the stream. Each origin's accepted events
  (a *run*, each linked to the one before) are then published pipelined — sent side by side (no
  other publish of this instance between them), their PubAcks awaited together — each with
  ``Nats-Msg-Id`` = the event id (JetStream drops a second copy within the duplicate window); the
  first with ``Nats-Expected-Last-Subject-Sequence`` = the stream sequence of the tip it was
  checked against, each next one with ``Nats-Expected-Last-Msg-Id`` = its predecessor's event id.
  JetStream checks these as it stores each message, in stream order: the first is stored only
  right after the tip on its subject, each next one only when its predecessor is the stream's very
  last message — so only right after it on the subject too. Another instance racing on the origin,
  or any message landing inside the run, makes JetStream refuse that publish and every later one
  of the run (their predecessor is then not last); the instance keeps what was stored, re-reads the
  tip and checks the rest again (each event is now a duplicate, a fork or a next link), so the
  stream never holds a fork or a gap. The batch is acknowledged to the peer only after JetStream's
  PubAck for every accepted event; any
  failure to reach JetStream raises :class:`~datacore_msg.errors.StorageError` (the relay answers
  ``error store_unavailable``; the peer keeps its events and sends them again).
* **Heads**: at start, the stream's per-subject message counts (stream info with a subjects filter,
  paged) and its last sequence, taken together; then kept in memory, raised by this instance's
  publishes and by the *tail*.
* **The tail**: an ordered push consumer on ``NAME.>`` from the stream sequence after that
  snapshot. Every message another instance stored reaches :meth:`JetStreamStore.listen`'s callback
  on the relay's event loop, which fans it out like a local batch: two peers on two instances see
  each other live. Its last stream sequence against the stream's (checked every second) is the
  lag ``/status`` and ``/metrics`` report.
* **Settle**: before the relay answers a connection's ``auth`` with its heads, it awaits
  :meth:`JetStreamStore.settle`: the stream's last sequence, asked of JetStream then, and the tail
  past it (its events handed to the listener), so the heads hold everything JetStream had
  acknowledged, whichever instance stored it; a tail still behind after ``SETTLE_WAIT_S`` is an
  error (``store_unavailable``: the peer tries again).
* **Catch-up** (``events_after``) reads a subject from a stream sequence with a pull consumer
  (no acks; one request per page, kept for the reader's next page). The stream sequence of an
  origin's seq is its tip's, or the next page's, else found by a binary search with direct gets
  (``next_by_subj``). While a consumer cannot be made (a cluster electing a stream leader), the
  page is read with direct gets, which any replica answers. A read that cannot be answered, or
  answers nothing while the heads say the origin has more, raises
  :class:`~datacore_msg.errors.StorageError`: the endpoint would take an empty page for "nothing
  more", and a ``sync`` would end OK without events JetStream acknowledged.

The NATS client is asyncio and runs on a thread of its own with its own event loop: the sans-I/O
protocol reads ``events_after`` synchronously, as it reads the SQLite log on the relay's loop, so a
catch-up read waits for JetStream the way a SQLite read waits for the disk; ``ingest`` is awaited
on the relay's loop without blocking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import attrs
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api

from datacore_msg.errors import IntegrityError, StorageError
from datacore_msg.eventlog.envelope import Event, from_json
from datacore_msg.eventlog.payloads import Payload
from datacore_msg.eventlog.store import IngestReport, check_batch, decode_with, lookup_keys
from datacore_msg.migrations.upcasters import upcast
from datacore_msg.transport.relay_store import OnStored, StoreHealth

T = TypeVar("T")

DEFAULT_STREAM = "DATACORE"
#: The longest stream name NATS takes.
MAX_STREAM_NAME = 255
#: Seconds to wait for JetStream to answer one request (a publish, a read).
REQUEST_TIMEOUT_S = 5.0
#: Seconds the relay's event loop waits for one catch-up read (it serves no one meanwhile, as
#: during a read of the SQLite log); past it the endpoint is told the store holds less, for now.
READ_WAIT_S = 10.0
#: Seconds a new connection waits for JetStream's last sequence and this instance's tail to reach
#: it (less than the relay's admission timeout); past it the peer is told the store is unavailable.
SETTLE_WAIT_S = 6.0
#: Seconds the relay keeps trying to reach NATS when it starts.
CONNECT_TIMEOUT_S = 15.0
#: JetStream's de-duplication window (seconds): a message id seen within it is dropped.
DUPLICATE_WINDOW_S = 120.0
#: The largest message the stream takes (one event is at most ~400 KiB).
MAX_MSG_BYTES = 1024 * 1024
#: Bytes a published message's headers may take (``Nats-Msg-Id``, the expected last sequence).
HEADERS_ROOM = 256
#: JetStream's error code for a stream created meanwhile (by another instance) with another config.
STREAM_NAME_IN_USE = 10058
#: JetStream's error code when ``Nats-Expected-Last-Subject-Sequence`` does not hold.
WRONG_LAST_SEQUENCE = 10071
#: JetStream's error code when ``Nats-Expected-Last-Msg-Id`` does not hold.
WRONG_LAST_MSG_ID = 10070
CHECK_FAILED = (WRONG_LAST_SEQUENCE, WRONG_LAST_MSG_ID)
#: Times in a row an ingest re-checks a batch, storing nothing, after another instance moved one
#: of its origins (or another message came between two of a pipelined run).
RACE_RETRIES = 20
#: Catch-up readers (pull consumers) kept open for a next page.
READERS_KEPT = 64
#: Events the tail keeps for a listener not registered yet (the relay registers as it starts).
UNHEARD_KEPT = 100_000
#: Events read by direct gets, one at a time, when a catch-up reader cannot be made.
DIRECT_READS = 100

_UNREACHABLE = (nats.errors.Error, asyncio.TimeoutError, OSError)


def shown(text: str) -> str:
    """``text`` with the credentials of any ``USER:PASSWORD@`` in it replaced by ``***@``, for an
    error or a log line."""
    return re.sub(r"(nats://)?[^\s,'\"]*@", lambda m: (m.group(1) or "") + "***@", text)


def parse_servers(spec: str) -> list[str]:
    """``nats://HOST:PORT[,HOST:PORT...]`` as the list of server URLs it names (``USER:PASSWORD@``
    before a host is passed to NATS, and never shown)."""
    rest = spec.removeprefix("nats://")
    servers = [part.strip().removeprefix("nats://") for part in rest.split(",")]
    if not rest or not all(servers):
        raise StorageError(f"{shown(spec)!r}: a JetStream store is nats://HOST:PORT[,HOST:PORT...]")
    for server in servers:
        host, _, port = server.rpartition("@")[2].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise StorageError(f"{shown(spec)!r}: {shown(server)!r} is not HOST:PORT")
    return [f"nats://{server}" for server in servers]


def check_stream_name(name: str) -> str:
    if not name or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
        raise StorageError(f"{name[:40]!r}: a stream name is letters, digits, - and _ only")
    if len(name) > MAX_STREAM_NAME:
        raise StorageError(f"{name[:40]}…: a stream name is at most {MAX_STREAM_NAME} characters")
    return name


class _StreamRefused(Exception):
    """JetStream answered, and will not create the stream as configured (not worth a retry)."""


@attrs.define
class _Tip:
    """An origin's last stored event: its seq, id and stream sequence."""

    seq: int
    event_id: str
    stream_seq: int


def _decode(event: Event) -> Payload | None:
    return decode_with(upcast, event)


def _event_of(msg: Msg | js_api.RawStreamMsg) -> Event:
    data = msg.data or b""
    return from_json(json.loads(data))


class _Log:
    """The asyncio side, on the store's own loop: the connection, the tips, the tail, the readers."""

    def __init__(
        self, servers: list[str], stream: str, replicas: int, login: tuple[str, str] | None = None
    ) -> None:
        self.servers = servers
        self.login = login
        self.stream = stream
        self.replicas = replicas
        self.prefix = f"{stream}."
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.seqs: dict[str, int] = {}
        self.tips: dict[str, _Tip] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.delivered = 0
        self.last_seq = 0
        self.connected = False
        self.problem = ""
        #: The last error the NATS server reported (a refused login shows only here).
        self.nats_error = ""
        #: What the operator should know about the stream found (said once, at start).
        self.notes: list[str] = []
        self.on_stored: OnStored | None = None
        self._tail: Any = None
        self._readers: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._outbox: list[Event] = []
        #: Stream sequences this instance published and its tail has not passed yet (not parsed
        #: again: the relay already fanned them out).
        self._mine: set[int] = set()
        self._watch: asyncio.Task[None] | None = None
        #: PubAcks awaited, by the token ending their reply subject.
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ack_prefix = ""
        self._ack_count = 0
        self._sending = asyncio.Lock()
        self._tail_moved = time.monotonic()

    def subject(self, origin: str) -> str:
        return self.prefix + origin

    # -- connecting --------------------------------------------------------------------------------

    async def open(self, connect_timeout: float) -> None:
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                left = max(1.0, deadline - time.monotonic())
                if self.nc is None:
                    self.nc = await asyncio.wait_for(self._connect(), timeout=left)
                    self.js = self.nc.jetstream(timeout=REQUEST_TIMEOUT_S)
                await self._ensure_stream()
                await self._snapshot()
                await self._start_tail(self.last_seq + 1)
                break
            except _StreamRefused as exc:
                with contextlib.suppress(Exception):
                    await self.nc.close()  # type: ignore[union-attr]
                self.nc = None
                raise StorageError(f"{exc} (at {shown(', '.join(self.servers))})") from None
            except _UNREACHABLE as exc:
                if time.monotonic() > deadline:
                    if self.nc is not None:
                        with contextlib.suppress(Exception):
                            await self.nc.close()
                        self.nc = None
                    why = _why(exc)
                    if self.nats_error and self.nats_error != why:
                        why += f" (NATS said: {self.nats_error})"
                    raise StorageError(
                        f"JetStream at {shown(', '.join(self.servers))} cannot be reached: {why}"
                    ) from None
                await asyncio.sleep(0.5)
        self.connected = True
        self._watch = asyncio.create_task(self._watch_loop())

    async def _connect(self) -> NatsClient:
        user, password = self.login or (None, None)
        return await nats.connect(
            self.servers,
            user=user,
            password=password,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            error_cb=self._error,
            closed_cb=self._disconnected,
        )

    async def _disconnected(self) -> None:
        self.connected = False
        self.problem = "disconnected from NATS"

    async def _reconnected(self) -> None:
        self.connected = True
        self.problem = ""

    async def _error(self, exc: Exception) -> None:
        self.problem = _why(exc)
        if isinstance(exc, nats.errors.Error) and not isinstance(exc, asyncio.TimeoutError):
            self.nats_error = self.problem  # the server's -ERR, kept over a reset that may follow

    async def _ensure_stream(self) -> None:
        assert self.js is not None
        try:
            info = await self.js.stream_info(self.stream)
            replicas = info.config.num_replicas or 1
            if replicas != self.replicas:
                self.notes.append(
                    f"stream {self.stream} exists with {replicas} replica(s), not the {self.replicas} "
                    "--replicas asks for; it is used as it is (change it with the nats CLI)"
                )
        except nats.js.errors.NotFoundError:
            config = js_api.StreamConfig(
                name=self.stream,
                subjects=[f"{self.stream}.>"],
                retention=js_api.RetentionPolicy.LIMITS,
                storage=js_api.StorageType.FILE,
                discard=js_api.DiscardPolicy.NEW,
                num_replicas=self.replicas,
                duplicate_window=DUPLICATE_WINDOW_S,
                max_msg_size=MAX_MSG_BYTES,
                allow_direct=True,
                deny_delete=True,
                deny_purge=True,
            )
            try:
                await self.js.add_stream(config)
            except nats.js.errors.APIError as exc:
                if exc.code == 503 or exc.err_code == STREAM_NAME_IN_USE:
                    raise  # not ready yet (a cluster electing its leader), or another instance made it first
                raise _StreamRefused(
                    f"JetStream refused to create the stream {self.stream}: {exc.description}"
                ) from None

    async def _api(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.nc is not None
        reply = await self.nc.request(f"$JS.API.{what}", json.dumps(body).encode(), timeout=REQUEST_TIMEOUT_S)
        answer: dict[str, Any] = json.loads(reply.data)
        if "error" in answer:
            raise nats.js.errors.APIError.from_error(answer["error"])
        return answer

    async def _snapshot(self) -> None:
        """Heads from the stream's per-subject counts, and its last sequence, in pages."""
        offset = 0
        seqs: dict[str, int] = {}
        last = 0
        while True:
            info = await self._api(
                f"STREAM.INFO.{self.stream}", {"subjects_filter": f"{self.stream}.>", "offset": offset}
            )
            state = info.get("state", {})
            if offset == 0:
                last = int(state.get("last_seq", 0))
            subjects: dict[str, int] = state.get("subjects") or {}
            for subject, count in subjects.items():
                seqs[subject.removeprefix(self.prefix)] = int(count)
            offset += len(subjects)
            total = int(info.get("total", 0))
            if not subjects or offset >= total:
                break
        self.seqs = seqs
        self.last_seq = self.delivered = last

    # -- the tail ----------------------------------------------------------------------------------

    async def _start_tail(self, start: int) -> None:
        assert self.js is not None
        config = js_api.ConsumerConfig(
            deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, start)
        )
        self._tail = await self.js.subscribe(
            f"{self.stream}.>",
            stream=self.stream,
            cb=self._on_tail,
            ordered_consumer=True,
            idle_heartbeat=2.0,
            config=config,
        )
        self._tail_moved = time.monotonic()

    async def _on_tail(self, msg: Msg) -> None:
        stream_seq = msg.metadata.sequence.stream
        if stream_seq <= self.delivered:
            return
        self.delivered = stream_seq
        self._tail_moved = time.monotonic()
        if stream_seq in self._mine:
            self._mine.discard(stream_seq)
            return
        try:
            event = _event_of(msg)
        except (ValueError, IntegrityError):
            return  # not an event of ours: nothing a peer could be sent
        if event.seq > self.seqs.get(event.origin, 0):
            self.seqs[event.origin] = event.seq
        tip = self.tips.get(event.origin)
        if tip is None or event.seq > tip.seq:
            self.tips[event.origin] = _Tip(event.seq, event.id, stream_seq)
        if self.on_stored is None:  # no listener yet: kept for it, within a bound
            if len(self._outbox) < UNHEARD_KEPT:
                self._outbox.append(event)
            return
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(event)

    def listen(self, on_stored: OnStored) -> None:
        self.on_stored = on_stored
        self._flush()

    def _flush(self) -> None:
        events, self._outbox = self._outbox, []
        if events and self.on_stored is not None:
            self.on_stored(events)

    async def _watch_loop(self) -> None:
        """Every second: the stream's last sequence (the lag), and a tail that stopped moving while
        the stream grew is started again from where it was."""
        while True:
            await asyncio.sleep(1.0)
            try:
                info = await self._api(f"STREAM.INFO.{self.stream}", {})
                self.last_seq = int(info.get("state", {}).get("last_seq", 0))
                self._mine = {seq for seq in self._mine if seq > self.delivered}
                self.problem = ""
                if self.last_seq > self.delivered and time.monotonic() - self._tail_moved > 5.0:
                    with contextlib.suppress(*_UNREACHABLE):
                        await self._tail.unsubscribe()
                    await self._start_tail(self.delivered + 1)
            except _UNREACHABLE as exc:
                self.problem = _why(exc)

    async def settle(self, timeout: float) -> None:
        """Return once the tail passed every message the stream held when this was called (heads
        and the listener know every event JetStream acknowledged before), or raise
        :class:`~datacore_msg.errors.StorageError`."""
        deadline = time.monotonic() + timeout
        try:
            info = await asyncio.wait_for(self._api(f"STREAM.INFO.{self.stream}", {}), timeout)
        except _UNREACHABLE as exc:
            raise StorageError(f"JetStream did not say how far its stream goes: {_why(exc)}") from None
        target = int(info.get("state", {}).get("last_seq", 0))
        self.last_seq = max(self.last_seq, target)
        while self.delivered < target:
            if time.monotonic() > deadline:
                raise StorageError(
                    f"this relay instance has read the stream up to {self.delivered} of {target} "
                    "(its consumer is behind)"
                )
            await asyncio.sleep(0.01)
        self._flush()

    def health(self) -> StoreHealth:
        reachable = self.connected and self.nc is not None and self.nc.is_connected and not self.problem
        return StoreHealth(reachable, max(0, self.last_seq - self.delivered), self.problem)

    # -- reading -----------------------------------------------------------------------------------

    async def _get(self, subject: str, after: int | None = None) -> js_api.RawStreamMsg | None:
        """The subject's last message, or its first one at stream sequence ``after`` or later."""
        assert self.js is not None
        try:
            if after is None:
                return await self.js.get_last_msg(self.stream, subject, direct=True)
            return await self.js.get_msg(self.stream, seq=after, subject=subject, next=True, direct=True)
        except nats.js.errors.NotFoundError:
            return None

    async def tip(self, origin: str) -> _Tip | None:
        tip = self.tips.get(origin)
        if tip is not None:
            return tip
        msg = await self._get(self.subject(origin))
        if msg is None or msg.seq is None:
            return None
        event = _event_of(msg)
        tip = self.tips[origin] = _Tip(event.seq, event.id, msg.seq)
        if event.seq > self.seqs.get(origin, 0):
            self.seqs[origin] = event.seq
        return tip

    def _bound(self, tip: _Tip) -> int:
        """A stream sequence at or past every message this instance knows of (a tip read from a
        replica that is behind may be older than what the tail or a publish saw)."""
        return max(tip.stream_seq, self.delivered, self.last_seq)

    async def _locate(self, origin: str, seq: int, tip: _Tip) -> int | None:
        """The stream sequence of ``origin``'s event ``seq``: a binary search of the stream with
        direct gets of the subject's next message."""
        if seq == tip.seq:
            return tip.stream_seq
        subject = self.subject(origin)
        low, high = 1, self._bound(tip)
        while low <= high:
            middle = (low + high) // 2
            msg = await self._get(subject, middle)
            if msg is None or msg.seq is None:
                high = middle - 1
                continue
            found = _event_of(msg).seq
            if found == seq:
                return msg.seq
            if found < seq:
                low = msg.seq + 1
            else:
                high = middle - 1
        return None

    async def events_after(self, origin: str, seq: int, limit: int) -> list[Event]:
        tip = await self.tip(origin)
        if tip is not None and tip.seq < self.seqs.get(origin, 0):
            self.tips.pop(origin, None)  # read from a replica that is behind: read again
            tip = await self.tip(origin)
        head = max(tip.seq if tip is not None else 0, self.seqs.get(origin, 0))
        if tip is None or limit <= 0 or seq >= head:
            return []
        wanted = min(limit, head - seq)
        reader = self._readers.pop((origin, seq), None)
        events: list[Event] = []
        try:
            if reader is None:
                start = await self._locate(origin, seq + 1, tip)
                if start is None:
                    return []
                reader = await self._reader(origin, start)
            while len(events) < wanted:
                msgs = await self._pull(reader, wanted - len(events))
                if not msgs:
                    break
                events += [_event_of(msg) for msg in msgs]
        except _UNREACHABLE:
            if events:
                return events
            return await self._read_direct(origin, seq, tip, min(wanted, DIRECT_READS))
        if events and events[-1].seq < head:
            self._readers[(origin, events[-1].seq)] = reader
            while len(self._readers) > READERS_KEPT:
                self._readers.popitem(last=False)  # the server drops it when idle
        return events

    async def _pull(self, consumer: str, count: int) -> list[Msg]:
        """Up to ``count`` messages of a pull consumer, in one request (``no_wait``: what it has
        now), collected by a callback (nats-py's ``fetch`` waits on each message in turn)."""
        assert self.nc is not None
        inbox = self.nc.new_inbox()
        got: list[Msg] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def collect(msg: Msg) -> None:
            if done.done():
                return
            if not msg.data and msg.headers and msg.headers.get("Status"):
                done.set_result(None)  # 404 no messages / 408 request expired: that was all
                return
            got.append(msg)
            if len(got) >= count:
                done.set_result(None)

        sub = await self.nc.subscribe(inbox, cb=collect)
        try:
            request = json.dumps({"batch": count, "no_wait": True}).encode()
            await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{consumer}", request, reply=inbox)
            await asyncio.wait_for(done, REQUEST_TIMEOUT_S)
        finally:
            with contextlib.suppress(*_UNREACHABLE):
                await sub.unsubscribe()
        return got

    async def _read_direct(self, origin: str, seq: int, tip: _Tip, wanted: int) -> list[Event]:
        """``origin``'s events after ``seq`` by direct gets, one by one: any replica answers them,
        so they work while a cluster elects a stream leader and a consumer cannot be made."""
        start = await self._locate(origin, seq + 1, tip)
        events: list[Event] = []
        subject = self.subject(origin)
        while start is not None and len(events) < wanted:
            msg = await self._get(subject, start)
            if msg is None or msg.seq is None:
                break
            events.append(_event_of(msg))
            start = msg.seq + 1
        return events

    async def _reader(self, origin: str, start: int) -> str:
        """A pull consumer of ``origin``'s subject from stream sequence ``start`` (no acks; the
        server deletes it after 30 s unused): its name."""
        assert self.js is not None
        config = js_api.ConsumerConfig(
            name=self.nc.new_inbox().rsplit(".", 1)[-1] if self.nc is not None else None,
            filter_subject=self.subject(origin),
            deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=js_api.AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        info = await self.js.add_consumer(self.stream, config)
        return info.name

    # -- writing -----------------------------------------------------------------------------------

    async def _held(self, origin: str, seqs: set[int]) -> dict[tuple[str, int], str]:
        """The stored ids of ``origin``'s ``seqs`` that are stored. A cached tip below the batch's
        first predecessor may be stale (another instance stored more): it is read again."""
        tip = await self.tip(origin)
        if tip is not None and seqs and min(seqs) > tip.seq:
            self.tips.pop(origin, None)
            tip = await self.tip(origin)
        if tip is None:
            return {}
        held = {(origin, tip.seq): tip.event_id}
        older = sorted(seq for seq in seqs if 1 <= seq < tip.seq)
        if older:
            after = older[0] - 1
            while after < older[-1]:
                page = await self.events_after(origin, after, min(500, older[-1] - after))
                if not page:
                    break
                held.update({(origin, event.seq): event.id for event in page})
                after = page[-1].seq
        return held

    async def ingest(self, items: list[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        if self.js is None or self.nc is None or not self.nc.is_connected:
            raise StorageError(f"JetStream is not reachable ({self.problem or 'not connected'})")
        batch = list(items)
        keys = lookup_keys(batch)
        origins = sorted({origin for origin, _ in keys})
        locks = [self.locks.setdefault(origin, asyncio.Lock()) for origin in origins]
        accepted: list[Event] = []
        try:
            async with contextlib.AsyncExitStack() as stack:
                for lock in locks:
                    await stack.enter_async_context(lock)
                stalled = 0
                while stalled < RACE_RETRIES:
                    before = len(accepted)
                    mine = {event.id for event in accepted}
                    held: dict[tuple[str, int], str] = {}
                    for origin in origins:
                        seqs = {seq for o, seq in keys if o == origin}
                        held.update(await self._held(origin, seqs))
                    checked = check_batch(batch, held, now_ms, _decode)
                    pending, too_big = self._fitting(checked.accepted, batch)
                    raced = await self._publish_all(pending, accepted)
                    if not raced:
                        duplicates = checked.duplicates - sum(
                            1 for _, item in batch if isinstance(item, Event) and item.id in mine
                        )
                        order = {item.id: n for n, (_, item) in enumerate(batch) if isinstance(item, Event)}
                        accepted.sort(key=lambda event: order[event.id])
                        rejected = sorted(checked.rejected + too_big)
                        return IngestReport(accepted, max(0, duplicates), rejected)
                    stalled = 0 if len(accepted) > before else stalled + 1
                raise StorageError("another relay instance keeps storing the same origins; try again")
        except _UNREACHABLE as exc:
            raise StorageError(f"JetStream did not store the batch: {_why(exc)}") from None

    def _fitting(
        self, pending: list[tuple[Event, str]], batch: list[Any]
    ) -> tuple[list[tuple[Event, str]], list[tuple[int, str]]]:
        """``pending`` without the events too big for one message of this NATS server and stream
        (a peer's event can be up to a frame, JetStream's messages smaller), nor what follows them
        of their origin; those as rejected, by their place in the batch."""
        assert self.nc is not None
        limit = min(self.nc.max_payload, MAX_MSG_BYTES) - HEADERS_ROOM
        place = {item.id: lineno for lineno, item in batch if isinstance(item, Event)}
        kept: list[tuple[Event, str]] = []
        refused: list[tuple[int, str]] = []
        cut: set[str] = set()
        for event, data in pending:
            size = len(json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False).encode())
            if event.origin in cut:
                why = "an earlier event of this origin in this batch was rejected"
                refused.append((place[event.id], f"origin {event.origin[:12]} seq {event.seq}: {why}"))
            elif size > limit:
                cut.add(event.origin)
                why = f"{size} bytes, over the {limit} bytes one JetStream message holds"
                refused.append((place[event.id], f"event {event.id[:12]}: {why}"))
            else:
                kept.append((event, data))
        return kept, refused

    async def _publish_all(self, pending: list[tuple[Event, str]], accepted: list[Event]) -> bool:
        """Publish each origin's events in order (origins side by side); True when another
        instance moved an origin first (its tip is dropped, the caller checks again)."""
        runs: dict[str, list[Event]] = {}
        for event, _ in pending:
            runs.setdefault(event.origin, []).append(event)
        results = await asyncio.gather(*(self._publish_run(run, accepted) for run in runs.values()))
        return any(results)

    async def _publish_run(self, run: list[Event], accepted: list[Event]) -> bool:
        """Publish one origin's events, pipelined: the first checked against the subject's last
        stream sequence (its tip), each next one against the stream's last message id (its
        predecessor's event id); then every PubAck is awaited. True when a check failed (another
        instance or another origin came in between): the tip is dropped and the caller checks
        again, the events stored so far being duplicates then."""
        assert self.js is not None
        origin = run[0].origin
        tip = self.tips.get(origin)
        last = tip.stream_seq if tip is not None and tip.seq == run[0].seq - 1 else 0
        if run[0].seq > 1 and last == 0:
            self.tips.pop(origin, None)
            return True
        linked = [run[0]]
        for event in run[1:]:
            if event.seq != linked[-1].seq + 1 or event.prev != linked[-1].id:
                break  # the rest after a check again
            linked.append(event)
        subject = self.subject(origin)
        tokens: list[str] = []
        try:
            async with self._sending:  # one run's messages reach the stream side by side
                for n, event in enumerate(linked):
                    headers = {"Nats-Msg-Id": event.id}
                    if n == 0:
                        headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
                    else:
                        headers["Nats-Expected-Last-Msg-Id"] = linked[n - 1].id
                    text = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)
                    tokens.append(await self._publish(subject, text.encode("utf-8"), headers))
            futures = [self._acks[token] for token in tokens]
            answers = await asyncio.wait_for(asyncio.gather(*futures), REQUEST_TIMEOUT_S)
        finally:
            for token in tokens:
                self._acks.pop(token, None)
        raced = False
        failure = ""
        for event, answer in zip(linked, answers, strict=True):
            error = answer.get("error")
            if isinstance(error, dict):
                if error.get("err_code") in CHECK_FAILED:
                    raced = True
                else:
                    failure = failure or str(error.get("description", error))
            elif answer.get("duplicate"):
                raced = True
            else:
                self._stored(event, int(answer["seq"]), accepted)
        if failure:
            raise nats.errors.Error(failure)
        if raced:
            self.tips.pop(origin, None)
        return raced or len(linked) < len(run)

    async def _publish(self, subject: str, data: bytes, headers: dict[str, str]) -> str:
        """Publish one message to the stream, its PubAck to come to :attr:`_acks` under the token
        returned (nats-py's own ``publish_async`` never resolves a refused publish)."""
        assert self.nc is not None
        if not self._ack_prefix:
            prefix = self.nc.new_inbox()
            await self.nc.subscribe(f"{prefix}.*", cb=self._on_ack)
            self._ack_prefix = prefix
        self._ack_count += 1
        token = str(self._ack_count)
        self._acks[token] = asyncio.get_running_loop().create_future()
        await self.nc.publish(subject, data, reply=f"{self._ack_prefix}.{token}", headers=headers)
        return token

    async def _on_ack(self, msg: Msg) -> None:
        future = self._acks.get(msg.subject.rsplit(".", 1)[-1])
        if future is None or future.done():
            return
        try:
            answer = json.loads(msg.data) if msg.data else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict) or not ("seq" in answer or "error" in answer):
            status = msg.headers.get("Status", "") if msg.headers else ""
            answer = {"error": {"description": f"no PubAck ({status or 'unreadable answer'})"}}
        future.set_result(answer)

    def _stored(self, event: Event, stream_seq: int, accepted: list[Event]) -> None:
        tip = self.tips.get(event.origin)
        if tip is None or event.seq > tip.seq:
            self.tips[event.origin] = _Tip(event.seq, event.id, stream_seq)
        if stream_seq > self.delivered:
            self._mine.add(stream_seq)
        if event.seq > self.seqs.get(event.origin, 0):
            self.seqs[event.origin] = event.seq
        accepted.append(event)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self._tail is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tail.unsubscribe(), timeout=2)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), timeout=5)
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


def _why(exc: BaseException) -> str:
    text = shown(str(exc).strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JetStreamStore:
    """A :class:`~.relay_store.RelayStore` on a JetStream stream (created, file storage, when
    missing). Connects on construction (retrying for ``connect_timeout`` seconds) or raises
    :class:`~datacore_msg.errors.StorageError`."""

    def __init__(
        self,
        servers: list[str],
        stream: str = DEFAULT_STREAM,
        replicas: int = 1,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        login: tuple[str, str] | None = None,
    ) -> None:
        """``login``: a NATS user and password (``relay serve`` takes them from ``NATS_USER`` and
        ``NATS_PASSWORD``, so they stay off command lines), else what the URLs carry, else none."""
        self.servers = servers
        self.stream = check_stream_name(stream)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="relay-jetstream", daemon=True)
        self._thread.start()
        self._log = _Log(servers, self.stream, replicas, login)
        try:
            self._call(self._log.open(connect_timeout), connect_timeout + 10)
        except BaseException:
            self.close()
            raise

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = REQUEST_TIMEOUT_S * 4) -> T:
        return self._submit(coro).result(timeout)

    def heads(self) -> dict[str, int]:
        return dict(self._log.seqs)

    def events_after(self, origin: str, seq: int, limit: int) -> list[Event]:
        """``origin``'s events after ``seq``: at least one when the stream holds more than
        ``seq`` of it, else :class:`~datacore_msg.errors.StorageError` (never fewer in silence: the
        endpoint would take it for all there is, and a ``sync`` would end without them)."""
        held = self._log.seqs.get(origin, 0)
        if limit <= 0 or held <= seq:
            return []
        if not self._log.health().reachable:
            raise StorageError(f"JetStream is not reachable ({self._log.problem or 'not connected'})")
        try:
            found = self._call(self._log.events_after(origin, seq, limit), READ_WAIT_S)
        except (*_UNREACHABLE, TimeoutError) as exc:
            raise StorageError(f"JetStream did not answer a catch-up read: {_why(exc)}") from None
        if not found:
            raise StorageError(
                f"JetStream holds events of {origin[:12]} up to seq {held} but answered none after {seq}"
            )
        return found

    async def settle(self, timeout: float = SETTLE_WAIT_S) -> None:
        """Return once this instance's heads and listener know every event JetStream had
        acknowledged when called, or raise :class:`~datacore_msg.errors.StorageError`."""
        await asyncio.wrap_future(self._submit(self._log.settle(timeout)))

    def read(self, origin: str, seq: int, limit: int) -> list[Event]:
        """:meth:`events_after`, raising what keeps it from JetStream instead of reading nothing."""
        return self._call(self._log.events_after(origin, seq, limit))

    async def ingest(self, items: list[tuple[int, Event | IntegrityError]], now_ms: int) -> IngestReport:
        return await asyncio.wrap_future(self._submit(self._log.ingest(items, now_ms)))

    def listen(self, on_stored: OnStored) -> None:
        loop = asyncio.get_running_loop()

        def forward(events: list[Event]) -> None:
            loop.call_soon_threadsafe(on_stored, events)

        self._loop.call_soon_threadsafe(self._log.listen, forward)

    def health(self) -> StoreHealth:
        return self._log.health()

    def count(self) -> int:
        return sum(self._log.seqs.values())

    @property
    def notes(self) -> list[str]:
        return list(self._log.notes)

    def describe(self) -> str:
        return f"{self.count()} events in JetStream stream {self.stream} at {shown(', '.join(self.servers))}"

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(self._log.close(), 10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
