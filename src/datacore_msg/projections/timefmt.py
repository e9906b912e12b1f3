"""Org timestamps in the user's configured time zone (never the machine's implicit one)."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from functools import lru_cache

from datacore_msg.eventlog.hlc import physical_ms

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@lru_cache(maxsize=256)
def _minute_stamp(minute: int, tz: tzinfo) -> str:
    moment = datetime.fromtimestamp(minute * 60, tz=tz)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {_DAYS[moment.weekday()]} "
        f"{moment.hour:02d}:{moment.minute:02d}"
    )


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
