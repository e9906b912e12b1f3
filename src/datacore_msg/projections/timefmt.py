"""Org timestamps in the user's configured time zone (never the machine's implicit one)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from datacore_msg.eventlog.hlc import physical_ms

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _stamp(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {_DAYS[moment.weekday()]} "
        f"{moment.hour:02d}:{moment.minute:02d}"
    )


@lru_cache(maxsize=1024)
def _hour(hour: int, tz: tzinfo) -> tuple[int, str, str] | None:
    """For a UTC hour in which the zone's offset stays one whole number of minutes: the local
    minute of its start, and the stamps without the minutes of the local hour it starts in and of
    the next (``2026-03-11 Wed 14:``). None for an hour with a shift or an offset in seconds."""
    start = datetime.fromtimestamp(hour * 3600, tz=tz)
    offset = start.utcoffset()
    if offset is None or offset != datetime.fromtimestamp(hour * 3600 + 3599, tz=tz).utcoffset():
        return None
    if offset.total_seconds() % 60:
        return None
    local = start.replace(tzinfo=None)
    later = local + timedelta(hours=1)
    return local.minute, _stamp(local)[:-2], _stamp(later)[:-2]


def _minute_stamp(minute: int, tz: tzinfo) -> str:
    """``2026-03-11 Wed 14:30``: the local time of a minute since the epoch. The minutes of one UTC
    hour share its zone lookup (a fold renders many minutes of each hour, and a lookup per minute
    was most of an entry's rendering)."""
    hour = _hour(minute // 60, tz)
    if hour is None:
        return _stamp(datetime.fromtimestamp(minute * 60, tz=tz))
    at = hour[0] + minute % 60
    return f"{hour[1]}{at:02d}" if at < 60 else f"{hour[2]}{at - 60:02d}"


def org_inactive(hlc: int, tz: tzinfo) -> str:
    """``[2026-03-11 Wed 14:30]`` for the physical time of a clock stamp."""
    return f"[{_minute_stamp(physical_ms(hlc) // 60000, tz)}]"


def org_inactive_ms(ms: int, tz: tzinfo, *, round_up: bool = False) -> str:
    """``[2026-03-11 Wed 14:30]`` for a wall-clock time in ms (``round_up``: the next whole minute,
    for a time before which something cannot happen)."""
    minute = -(-ms // 60000) if round_up else ms // 60000
    return f"[{_minute_stamp(minute, tz)}]"


def month_of(hlc: int, tz: tzinfo) -> str:
    """``2026-03``: the month (in the user's zone) that an archived entry is filed under."""
    return _minute_stamp(physical_ms(hlc) // 60000, tz)[:7]


def iso_local(hlc: int, tz: tzinfo) -> str:
    moment = datetime.fromtimestamp(physical_ms(hlc) / 1000, tz=timezone.utc).astimezone(tz)
    return moment.isoformat(timespec="seconds")
