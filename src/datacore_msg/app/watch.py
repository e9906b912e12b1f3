"""``sync --watch`` through the relay: stay connected, land teammates' events, push local appends.

Theory of operation
-------------------
One :class:`RelayWatcher` runs one asyncio loop over one
:class:`~datacore_msg.transport.peer_client.PeerSession` at a time. While connected, the
session's reader task receives frames (batches from the relay are ingested as ``import`` does,
through :class:`~datacore_msg.app.sync._Receiver`) and the watcher's own loop wakes at once when
a batch arrived, else every :data:`POLL_S`, and:

* catches the views up after anything arrived (governor step included), and reports the batch with
  the time from its newest event's stamp to now (the delivery latency);
* asks SQLite whether another connection committed (``PRAGMA data_version``: one cheap query; a
  ``send`` in another process, a hook's claim, an ``import``), and when it did, or when this
  process appended (the governor), offers every event past the last position seen to the session,
  which sends what the relay lacks;
* re-announces the status when ``datacore-msg status`` changed it, and keeps the relay's roster in
  ``online.json`` (:mod:`.presence`);
* beats the protocol's heartbeat about once a second (:data:`TICK_S`).

The log's WAL is checkpointed beside the watcher's commits, not in them
(:mod:`~datacore_msg.eventlog.checkpointer`), so no landing batch waits for one.

Idle, that is one ``PRAGMA`` and one ``stat`` every 200 ms, and the checkpointer's ``PRAGMA``
every 100 ms. When the connection ends (the relay restarts or goes away, the network drops,
another connection of this key replaces this one) the watcher connects again where
:func:`~datacore_msg.transport.failover.after_failure` says: with several relay URLs, the next
one at once, and only after a full round of them failed, after the wait
:func:`~datacore_msg.transport.backoff.next_retry` says (exponential, with jitter); with one, that
wait each time. The catch-up of the new connection (both sides' heads) moves what was missed,
whichever instance it is. It reports one line per change of state (connected, naming the relay;
disconnected), not one per retry. The ``stop`` event (set by the command's SIGINT/SIGTERM
handler) ends it within :data:`POLL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from datacore_msg.app.presence import current_status, status_path, write_roster
from datacore_msg.app.space import Space
from datacore_msg.app.sync import _Receiver, relay_target
from datacore_msg.errors import AuthRefused, DatacoreError, IntegrityError, ProtocolError, Unreachable
from datacore_msg.eventlog.checkpointer import checkpointed
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import IngestReport
from datacore_msg.transport.failover import after_failure, start
from datacore_msg.transport.peer_client import PeerSession
from datacore_msg.transport.protocol import State

POLL_S = 0.2
TICK_S = 1.0
#: Seconds to connect and be admitted.
CONNECT_TIMEOUT_S = 10.0
#: Events offered to the session at a time after a local append (the protocol batches them).
PUSH_CHUNK = 2000

Notify = Callable[[str], None]
T = TypeVar("T")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class _Stopped(Exception):
    pass


class RelayWatcher:
    def __init__(
        self,
        space: Space,
        stop: threading.Event,
        notify: Notify,
        poll_s: float = POLL_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        jitter: Callable[[], float] = random.random,
        on_state: Notify | None = None,
    ) -> None:
        self.space = space
        self.stop = stop
        self.notify = notify
        self.poll_s = poll_s
        self.connect_timeout_s = connect_timeout_s
        self.jitter = jitter
        self.urls, self.secret = relay_target(space)
        self.failover = start(self.urls)
        #: Told each change of the connection's state: ``live``, ``down`` or ``refused`` (the
        #: relay refused this installation's secret or key), for the chat window's header.
        self.on_state = on_state
        self._refused = False
        self._receiver = _Receiver(space)
        self._state = ""
        self._arrived = 0
        self._newest_hlc = 0
        self._wake: asyncio.Event | None = None
        #: This origin's head already offered to the session.
        self._own_head = 0

    @property
    def url(self) -> str:
        """The relay connected to, or connected to next."""
        return self.failover.url

    def run(self) -> None:
        """Watch until ``stop`` is set."""
        try:
            write_roster(self.space.paths, False, {}, wall_ms())  # a killed watcher's copy is stale
            with checkpointed(self.space.store.conn, self.space.store.path):
                asyncio.run(self._main())
        finally:
            with contextlib.suppress(DatacoreError, OSError):
                write_roster(self.space.paths, False, {}, wall_ms())

    # -- the connection loop -----------------------------------------------------------------------

    def _say(self, state: str, line: str) -> None:
        if self.on_state is not None:
            self.on_state("refused" if state == "down" and self._refused else state)
        if state != self._state:
            self._state = state
            self.notify(line)

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        while not self.stop.is_set():
            live_since: list[float] = []
            replaced = self._refused = False
            try:
                await self._connection(live_since)
                reason = "the relay closed the connection"
            except _Stopped:
                break
            except ProtocolError as exc:
                reason, replaced = str(exc), exc.reason == "replaced"
            except (Unreachable, AuthRefused) as exc:
                reason, self._refused = str(exc), isinstance(exc, AuthRefused)
            if self.stop.is_set():
                break
            with contextlib.suppress(DatacoreError, OSError):
                write_roster(self.space.paths, False, {}, wall_ms())
            step = after_failure(
                self.failover,
                time.monotonic(),
                live_since[0] if live_since else None,
                self.jitter(),
                replaced,
            )
            self.failover = step.state
            if step.delay_s > 0 or len(self.urls) == 1:
                self._say("down", f"not connected: {reason}; connecting again with backoff")
            else:
                self._say("down", f"not connected: {reason}; trying the next relay, {self.url}")
            await self._pause(step.delay_s)

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(self.poll_s, max(deadline - time.monotonic(), 0)))

    async def _unless_stopped(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        while not task.done():
            await asyncio.wait({task}, timeout=self.poll_s)
            if self.stop.is_set() and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, DatacoreError):
                    await task
                raise _Stopped
        return task.result()

    def _receive(self, items: list[tuple[int, Event | IntegrityError]]) -> IngestReport:
        report = self._receiver(items)
        if report.accepted:
            self._arrived += len(report.accepted)
            self._newest_hlc = max(self._newest_hlc, *(event.hlc for event in report.accepted))
            if self._wake is not None:
                self._wake.set()
        return report

    async def _connection(self, live_since: list[float]) -> None:
        store = self.space.store
        last_position = store.max_position()
        last_version = store.data_version()
        self._own_head = store.heads().get(self.space.signing_key().public_hex, 0)
        session = PeerSession(
            self.url, self.secret, self.space.signing_key(), store, self._receive, self.connect_timeout_s
        )
        await self._unless_stopped(session.open())
        reader: asyncio.Task[object] | None = None
        try:
            status_file = status_path(self.space.paths)
            status_seen = _stat(status_file)
            await session.announce(current_status(self.space.paths))
            await session.ask_who()
            reader = asyncio.ensure_future(session.run(until_settled=False))
            roster: dict[str, str] | None = None
            next_tick = 0.0
            assert self._wake is not None
            while True:
                if reader.done():
                    reader.result()  # the relay closed cleanly, or the error that ended it
                    return
                if self.stop.is_set():
                    raise _Stopped
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                self._wake.clear()
                if not live_since and session.endpoint.state is State.LIVE:
                    live_since.append(time.monotonic())
                    self._say("live", f"connected to {self.url}: live")
                if self._land():
                    last_position = await self._after_landing(session, last_position, last_version)
                version = store.data_version()
                if version != last_version:
                    last_version = version
                    last_position = await self._push_since(session, last_position)
                status_seen, roster = await self._presence(session, status_file, status_seen, roster)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK_S
                    await session.tick(wall_ms())
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            with contextlib.suppress(DatacoreError, OSError):
                await session.close()

    async def _presence(
        self,
        session: PeerSession,
        status_file: Path,
        status_seen: tuple[int, int] | None,
        roster: dict[str, str] | None,
    ) -> tuple[tuple[int, int] | None, dict[str, str] | None]:
        """Announce the status again if ``status`` changed it; keep ``online.json`` current."""
        seen = _stat(status_file)
        if seen != status_seen:
            await session.announce(current_status(self.space.paths))
        if session.endpoint.roster_received and session.endpoint.presence != roster:
            roster = dict(session.endpoint.presence)
            write_roster(self.space.paths, True, roster, wall_ms(), self.url)
        return seen, roster

    def _land(self) -> bool:
        """Catch the views up after batches arrived and report them; whether anything was (the
        governor may have appended its decisions)."""
        if not self._arrived:
            return False
        from datacore_msg.app.views import refresh_after_commit

        arrived, newest, self._arrived, self._newest_hlc = self._arrived, self._newest_hlc, 0, 0
        views = refresh_after_commit(self.space, "what was received")
        latency_ms = max(wall_ms() - (newest >> 16), 0)
        self.notify(
            f"received {arrived} event(s); views updated {latency_ms} ms after the newest was written"
        )
        for warning in views.warnings:
            self.notify(f"warning: {warning}")
        for clash in self._receiver.clashes:
            self.notify("warning: clash: " + clash.describe())
        self._receiver.clashes.clear()
        return True

    async def _after_landing(self, session: PeerSession, position: int, version: int) -> int:
        """After a batch landed: push what this process appended meanwhile (the governor's
        decisions), without reading back what arrived. When no other connection committed since
        ``version`` (read after the position, so a commit in between is seen), everything past
        ``position`` was written here: what arrived (the relay has it) and this origin's events."""
        store = self.space.store
        latest = store.max_position()
        if store.data_version() != version:
            return position  # another process committed too: the caller reads everything past it
        own = self.space.signing_key().public_hex
        head = self._own_head
        while True:
            events = store.events_after(own, head, PUSH_CHUNK)
            if not events:
                break
            await session.push(events)
            head = events[-1].seq
        self._own_head = head
        return latest

    async def _push_since(self, session: PeerSession, position: int) -> int:
        """Offer every event past ``position`` to the session (it sends what the relay lacks)."""
        store = self.space.store
        while True:
            events = store.read_since(position, PUSH_CHUNK)
            if not events:
                return position
            await session.push(events)
            last = events[-1].position
            assert last is not None
            position = last


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)


def watch_relay(space: Space, stop: threading.Event, notify: Notify) -> None:
    """Stay connected to the space's relay until ``stop`` is set (see the module docstring)."""
    space.preflight()
    RelayWatcher(space, stop, notify).run()
