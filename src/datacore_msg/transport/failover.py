"""Which relay a peer uses when ``messaging.relay.url`` lists several instances of one relay.

Theory of operation
-------------------
The instances serve one team (the same events, behind one secret), so any of them will do; the
order written in the settings is the order of preference. Nothing is remembered between commands:
every command starts with the first URL, so the settings alone say where a peer goes.

*One-shot commands* (``sync``, push-on-append, ``online``) try the URLs in order, each once, and use
the first that works (:func:`try_in_order`). A URL that cannot be reached, drops the connection,
breaks the protocol or refuses the secret is passed over, its error kept (``sync`` reports it); when
every one failed, one error names each (:func:`all_failed`). A refused secret is passed over too: a
wrong secret is refused by every instance and so ends up in that error anyway (with the exit status
of a refused secret, which wins over the others), while during a secret rotation, or with one
instance that cannot prove the secret (an impostor), the next instance is the right one to try.

A one-shot command's timeout is for the whole command, not for each URL: the URLs share one deadline,
each is given what is left of it (:func:`allowance`), and one that would get less than
:data:`MIN_ATTEMPT_S` is not tried. Connecting (TCP, TLS and the WebSocket upgrade) to a URL that
has another after it is capped at :data:`CONNECT_CAP_S`, so a black-holed first instance (one that
takes the connection but never answers) leaves time for the next; the last URL may use all that is
left.

*The watcher* (``sync --watch``) keeps a :class:`Failover` state: on losing a connection, or failing
to make one, it moves to the next URL (after the last, the first) at once; only when a full round of
the URLs failed does it wait, with the exponential backoff of :mod:`.backoff` counting full rounds.
A connection that stayed live :data:`~.backoff.STABLE_S` or longer starts a new round (its loss is
the round's first failure, so the next instance is tried at once); a shorter one counts as a failed
attempt of the round (a relay that admits and drops every connection is not hammered). Being
replaced by another connection of the same key (a one-shot ``sync`` of this installation) is not a
fault of the relay: the watcher stays on that URL and waits as the backoff says for that case. With
one URL every failure is a full round: the behaviour of a single relay is unchanged.

Nothing is lost or sent twice when moving between instances: each connection starts with both sides'
version vectors (heads), and only what the other side lacks moves.

Pure: time and jitter are passed in; :func:`try_in_order` calls what it is given and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from datacore_msg.errors import AuthRefused, DatacoreError, ProtocolError, Unreachable
from datacore_msg.transport.backoff import STABLE_S, next_retry

T = TypeVar("T")

#: The errors that make a peer try the next relay (anything else, a local store's error, stops).
FAIL_OVER_ON: tuple[type[DatacoreError], ...] = (Unreachable, AuthRefused, ProtocolError)
#: Seconds a one-shot command waits for a connection to a URL that has another after it.
CONNECT_CAP_S = 5.0
#: Less than this left of a one-shot command's time: the next URL is not tried.
MIN_ATTEMPT_S = 0.05


@attrs.frozen
class Allowance:
    """The time one URL of a one-shot command is given (seconds)."""

    #: For all of it: connecting and the exchange (what is left of the command's time).
    total_s: float
    #: For connecting (TCP, TLS and the WebSocket upgrade).
    connect_s: float


def allowance(deadline_s: float, now_s: float, more_after: bool) -> Allowance | None:
    """What the next URL of a one-shot command is given when its time ends at ``deadline_s`` (on
    the clock of ``now_s``): what is left, with connecting capped at :data:`CONNECT_CAP_S` when
    ``more_after`` (another URL follows it); None when less than :data:`MIN_ATTEMPT_S` is left."""
    left = deadline_s - now_s
    if left < MIN_ATTEMPT_S:
        return None
    return Allowance(left, min(left, CONNECT_CAP_S) if more_after else left)


@attrs.frozen
class Failover:
    urls: tuple[str, ...]
    #: The URL to connect to next (an index into ``urls``).
    index: int = 0
    #: Attempts that failed in the current round (since the last stable connection or full round).
    failed: int = 0
    #: Consecutive full rounds that failed (what the backoff counts).
    rounds: int = 0

    @property
    def url(self) -> str:
        return self.urls[self.index]


@attrs.frozen
class Step:
    state: Failover
    #: Seconds to wait before connecting to ``state.url``.
    delay_s: float
    #: Whether every URL of the round failed (the watcher then says it backs off).
    round_failed: bool


def start(urls: Sequence[str]) -> Failover:
    if not urls:
        raise ValueError("no relay URL to fail over between")
    return Failover(tuple(urls))


def after_failure(
    state: Failover, now_s: float, live_since_s: float | None, jitter: float, replaced: bool = False
) -> Step:
    """The next URL and the wait after a connection to ``state.url`` ended or could not be made:
    ``now_s`` and ``live_since_s`` (when it went live; None: it never did) on one clock, ``jitter``
    in [0, 1), ``replaced``: another connection of the same key took its place."""
    stable = live_since_s is not None and now_s - live_since_s >= STABLE_S
    failed, rounds = (0, 0) if stable else (state.failed, state.rounds)
    if replaced:
        retry = next_retry(rounds, now_s, live_since_s, jitter, replaced=True)
        return Step(attrs.evolve(state, failed=0, rounds=retry.failures), retry.delay_s, False)
    failed += 1
    index = (state.index + 1) % len(state.urls)
    if failed < len(state.urls):
        return Step(attrs.evolve(state, index=index, failed=failed, rounds=rounds), 0.0, False)
    retry = next_retry(rounds, now_s, live_since_s, jitter)
    return Step(attrs.evolve(state, index=index, failed=0, rounds=retry.failures), retry.delay_s, True)


def try_in_order(urls: Sequence[str], attempt: Callable[[str], T]) -> tuple[str, T, list[DatacoreError]]:
    """``attempt(url)`` for each URL in turn until one returns: that URL, its result, and the errors
    of those passed over. An error outside :data:`FAIL_OVER_ON` is raised at once; when every URL
    failed, :func:`all_failed` is raised."""
    failures: list[DatacoreError] = []
    for url in urls:
        try:
            return url, attempt(url), failures
        except FAIL_OVER_ON as exc:
            failures.append(exc)
    raise all_failed(failures)


def try_within(
    urls: Sequence[str],
    deadline_s: float,
    clock: Callable[[], float],
    attempt: Callable[[str, Allowance], T],
    timeout_s: float,
) -> tuple[str, T, list[DatacoreError]]:
    """:func:`try_in_order` within one deadline (on ``clock``): ``attempt(url, allowance)``; a URL
    reached with too little left is passed over, :class:`Unreachable` saying the command's
    ``timeout_s`` had passed."""
    order = list(urls)

    def bounded(url: str) -> T:
        given = allowance(deadline_s, clock(), order.index(url) < len(order) - 1)
        if given is None:
            raise Unreachable(f"relay {url}: not tried, the {timeout_s:g} s of the command had passed")
        return attempt(url, given)

    return try_in_order(order, bounded)


def all_failed(failures: Sequence[DatacoreError]) -> DatacoreError:
    """One error for a round in which every relay failed: the only one as it is; else one line
    naming each (every message names its relay), of the class of a refused secret if any relay
    refused it, else of an unreachable relay if any was, else of the last error."""
    if not failures:
        return Unreachable("no relay URL to try")
    if len(failures) == 1:
        return failures[0]
    message = f"none of the {len(failures)} relays could be used: " + "; ".join(map(str, failures))
    for kind in (AuthRefused, Unreachable):
        if any(isinstance(exc, kind) for exc in failures):
            return kind(message)
    last = failures[-1]
    if isinstance(last, ProtocolError):
        return ProtocolError(message, last.reason)
    return type(last)(message)
