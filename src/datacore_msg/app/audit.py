"""The audit trail (``log``), integrity checks (``verify``) and the views' rebuild."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs

from datacore_msg.app.space import Space
from datacore_msg.errors import InvalidInput
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.hlc import COUNTER_BITS
from datacore_msg.eventlog.store import Problem
from datacore_msg.projections.drivers import catchup
from datacore_msg.projections.drivers.writer import WriteReport

_MAX_CLOCK_MS = 1 << (63 - COUNTER_BITS)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now_ms: int) -> int:
    """``30m``, ``2h``, ``7d``, ``1w`` (ago), or an ISO date/time (UTC unless it has an offset)."""
    text = value.strip()
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in _UNITS:
        return max(0, now_ms - int(text[:-1]) * _UNITS[text[-1]] * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {value!r}: use a duration like 30m, 2h, 7d or an ISO date like 2026-11-24"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ms = int(moment.timestamp() * 1000)
    if not 0 <= ms < _MAX_CLOCK_MS:
        raise InvalidInput(f"--since {value!r}: outside the range of event times (1970 to 6429)")
    return ms


def log(
    space: Space,
    *,
    actor: str | None = None,
    type_name: str | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[Event]:
    if limit is not None and limit < 1:
        raise InvalidInput("--limit must be at least 1")
    since_hlc = None
    if since is not None:
        since_hlc = parse_since(since, space.clock()) << COUNTER_BITS
    return space.store.query(actor=actor, type_name=type_name, since_hlc=since_hlc, limit=limit)


CLASH_REASON = "a second message with this id (a clash); the first one here is the message"


def superseded(space: Space, events: list[Event]) -> dict[str, str]:
    """For the listed events that are kept but do not count (a transition that lost a race or was
    not allowed, a mark after an archive or by a non-participant), why, by event id."""
    from datacore_msg.app.lifecycle import load_task
    from datacore_msg.app.messages import load_message

    task_subjects = {e.subject for e in events if e.type.startswith("task.") and e.subject}
    mark_subjects = {e.subject for e in events if e.type.startswith("message.") and e.subject}
    out: dict[str, str] = {}
    for subject in sorted(task_subjects):
        task = load_task(space, subject)
        if task is not None:
            out.update((c.event_id, c.superseded) for c in task.changes if c.superseded is not None)
    for subject in sorted(mark_subjects):
        message = load_message(space, subject)
        if message is not None:
            out.update((event_id, "mark not applied") for event_id in message.superseded)
            out.update((event_id, CLASH_REASON) for event_id in message.clashes)
    wanted = {e.id for e in events}
    return {event_id: why for event_id, why in out.items() if event_id in wanted}


@attrs.frozen
class Verified:
    events: int
    #: Damage: a bad id, signature, chain link or payload.
    problems: list[Problem]
    #: Ids reused by a second message or request: reported, not damage (see EventStore.clashes).
    clashes: list[Problem]


def verify(space: Space) -> Verified:
    return Verified(space.store.count(), space.store.verify(), space.store.clashes())


@attrs.frozen
class RebuildResult:
    checked: bool
    differing: list[str]
    report: WriteReport | None


def rebuild(space: Space, check_only: bool = False) -> RebuildResult:
    ctx = space.views()
    if check_only:
        return RebuildResult(True, catchup.check(ctx), None)
    return RebuildResult(False, [], catchup.rebuild(ctx))
