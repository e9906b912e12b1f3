"""Sync with the team's relay: what a received batch does to the space, and the one-shot exchange.

A batch from the relay goes through :func:`~datacore_msg.app.exchange.ingest_batch` — the same
verification, one transaction per batch and clash detection as ``import`` — and the views are caught
up once the exchange ends (also when it fails half-way: every batch stored before the failure is
committed, and the views then show it). When catching up appended events of this installation (the
governor deciding requests that arrived), one more exchange sends them before ``sync`` returns.
What is sent is read straight from the log by the protocol
(``EventStore.heads`` and ``events_after``).

With several relay URLs (instances of one relay), the first that works is used, in the order written
(:func:`~datacore_msg.transport.failover.try_in_order`); the result names it and the errors of those
passed over. An exchange that breaks off half-way moves on to the next URL and resumes from what is
stored (the heads), so nothing is received or sent twice. The URLs share one deadline for finding a
relay (:func:`~datacore_msg.transport.failover.try_within`), connecting to one that has another after
it is capped, so a black-holed relay first in the list leaves time for the next; once an exchange is
under way it runs to the end as long as no wait for a frame passes the time that was left (a large
first sync is not cut off half-way by the clock).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs

from datacore_msg.app.clashes import Clash
from datacore_msg.app.exchange import ingest_batch
from datacore_msg.app.space import Space
from datacore_msg.errors import ConfigError, IntegrityError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.store import IngestReport
from datacore_msg.projections.drivers.writer import WriteReport

if TYPE_CHECKING:
    from datacore_msg.transport.failover import Allowance
    from datacore_msg.transport.protocol import Stats

#: Seconds a one-shot sync may spend finding a relay over every URL it tries (each is given what is
#: left), and the longest wait for one frame of an exchange under way.
SYNC_TIMEOUT_S = 30.0


@attrs.frozen
class SyncResult:
    #: The relay used (the last one, when the second exchange went elsewhere).
    url: str
    sent: int
    received: int
    #: Events from the relay this installation refused (reason each).
    rejected_here: list[str]
    #: Events of this installation the relay refused (reason each).
    rejected_there: list[str]
    views: WriteReport | None
    clashes: list[Clash] = attrs.field(factory=list)
    #: Why each relay passed over could not be used (one line each, naming the relay).
    passed_over: list[str] = attrs.field(factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejected_here) + len(self.rejected_there)


def relay_target(space: Space) -> tuple[tuple[str, ...], str]:
    """The relay's URLs (one or more, in order) and the team secret from the settings (else a
    ConfigError saying how)."""
    relay = space.settings.relay
    if relay.url is None:
        raise ConfigError(
            f"{space.paths.settings_file}: no relay configured; set messaging.relay.url "
            "(ws://HOST:8080/ws) and messaging.relay.secret (or RELAY_SECRET)"
        )
    if relay.secret is None:
        raise ConfigError(
            f"{space.paths.settings_file}: messaging.relay.url is set but there is no secret; set "
            "messaging.relay.secret or the environment's RELAY_SECRET"
        )
    return relay.urls, relay.secret


class _Receiver:
    """The ingest callback of a sync: stores each batch, keeps the clashes it found."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.clashes: list[Clash] = []

    def __call__(self, items: list[tuple[int, Event | IntegrityError]]) -> IngestReport:
        report, found = ingest_batch(self.space, items)
        self.clashes.extend(found)
        return report


def sync_with_relay(space: Space, timeout_s: float = SYNC_TIMEOUT_S) -> SyncResult:
    """Connect to the relay, exchange until both sides hold the same events, catch the views up."""
    from datacore_msg.app.views import refresh_after_commit
    from datacore_msg.transport.failover import try_within
    from datacore_msg.transport.peer_client import sync_once

    urls, secret = relay_target(space)
    space.preflight()
    receiver = _Receiver(space)
    me = space.signing_key().public_hex
    sent = received = 0
    rejected_here: list[str] = []
    rejected_there: list[str] = []
    passed_over: list[str] = []
    order = list(urls)
    deadline = time.monotonic() + timeout_s

    def attempt(url: str, given: Allowance) -> Stats:
        key = space.signing_key()
        left = given.total_s
        # the deadline bounds finding a relay; an exchange under way runs while frames keep coming
        return sync_once(url, secret, key, space.store, receiver, left, given.connect_s)

    for _ in range(2):
        try:
            url, stats, failures = try_within(order, deadline, time.monotonic, attempt, timeout_s)
        finally:
            held = space.store.heads().get(me, 0)
            views = refresh_after_commit(space, "what was received")
        passed_over += [str(exc) for exc in failures]
        sent, received = sent + stats.sent, received + stats.received
        rejected_here += stats.rejected_here
        rejected_there += stats.rejected_there
        # What arrived may have made this installation append (its governor's decisions): one more
        # exchange sends them now rather than with the next sync, starting with the relay just used.
        if space.store.heads().get(me, 0) == held:
            break
        order = [url, *(other for other in urls if other != url)]
    return SyncResult(
        url, sent, received, rejected_here, rejected_there, views, receiver.clashes, passed_over
    )
