"""Push-on-append: after a command appended events, send them to the relay before it returns.

One call, :func:`push_after_append`, made by every command that appends (``send``, ``reply``,
``mark``, task moves …). With no relay configured it returns at once and imports nothing (no
WebSockets, no event loop): the commands of an installation without a relay pay nothing. When a
watcher runs for the space (:mod:`.watch_lock`), the watcher pushes within a second and this does
nothing. Otherwise it connects, sends everything the relay lacks (what this command appended, and
anything an earlier command could not push), waits for the relay's acknowledgement and closes, all
within :data:`PUSH_TIMEOUT_S`. A relay that cannot be reached, or refuses, is not an error of the
command: the events are stored, the outcome carries one line saying so, and they go out with the
next ``sync``, watcher or push. With several relay URLs they are tried in order within that time
(:mod:`datacore_msg.transport.failover`); the first that takes the events is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from datacore_msg.app.space import Space
from datacore_msg.errors import DatacoreError
from datacore_msg.projections.drivers.writer import WriteReport

if TYPE_CHECKING:
    from datacore_msg.transport.protocol import Stats

#: The most seconds a command waits for the relay after appending (all its URLs together).
PUSH_TIMEOUT_S = 2.0
#: A relay URL is not tried with less time than this left.
MIN_ATTEMPT_S = 0.1


@attrs.frozen
class PushOutcome:
    #: Whether a connection was tried.
    attempted: bool
    sent: int = 0
    received: int = 0
    #: Why nothing was tried: ``no relay``, ``watcher``.
    skipped: str | None = None
    #: One line when the push failed (the events are stored all the same).
    problem: str | None = None
    views: WriteReport | None = None


def push_after_append(space: Space, timeout_s: float = PUSH_TIMEOUT_S) -> PushOutcome:
    """Send the relay what it lacks, unless no relay is configured or a watcher runs."""
    relay = space.settings.relay
    if relay.url is None:
        return PushOutcome(False, skipped="no relay")
    from datacore_msg.app.watch_lock import watcher_running

    if watcher_running(space.paths.space_state_dir):
        return PushOutcome(False, skipped="watcher")
    later = "it is stored and goes out with the next sync or watcher"
    if relay.secret is None:
        return PushOutcome(False, problem=f"not pushed to the relay: no relay secret is set; {later}")
    import time

    from datacore_msg.app.sync import _Receiver
    from datacore_msg.errors import Unreachable
    from datacore_msg.transport.failover import try_in_order
    from datacore_msg.transport.peer_client import push_once

    receiver = _Receiver(space)
    secret = relay.secret
    deadline = time.monotonic() + timeout_s

    def attempt(url: str) -> Stats:
        left = deadline - time.monotonic()
        if left < MIN_ATTEMPT_S:
            raise Unreachable(f"relay {url}: not tried, the {timeout_s:g} s for pushing had passed")
        return push_once(url, secret, space.signing_key(), space.store, receiver, left)

    try:
        _, stats, _ = try_in_order(relay.urls, attempt)
    except DatacoreError as exc:
        return PushOutcome(True, problem=f"not pushed to the relay ({exc}); {later}")
    views = None
    if stats.received:
        from datacore_msg.app.views import refresh_after_commit

        views = refresh_after_commit(space, "what was received")
    return PushOutcome(True, stats.sent, stats.received, views=views)
