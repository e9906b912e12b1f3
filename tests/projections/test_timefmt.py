"""Org timestamps: the per-hour shortcut gives the bytes of a zone lookup per minute."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from datacore_msg.projections.timefmt import _minute_stamp

ZONES = [
    timezone.utc,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("Australia/Lord_Howe"),  # a 30-minute daylight-saving shift
    ZoneInfo("Europe/Amsterdam"),  # +00:19:32 before 1937: an offset in seconds
]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _lookup(minute: int, tz: tzinfo) -> str:
    moment = datetime.fromtimestamp(minute * 60, tz=tz)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {_DAYS[moment.weekday()]} "
        f"{moment.hour:02d}:{moment.minute:02d}"
    )


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=-2_000_000, max_value=60_000_000), st.sampled_from(ZONES))
@example(29_554_560 + 59, ZoneInfo("Europe/Berlin"))  # 2026-03-29 00:59 UTC, just before the shift
@example(29_554_560 + 60, ZoneInfo("Europe/Berlin"))
def test_minute_stamp_equals_a_zone_lookup(minute: int, tz: tzinfo) -> None:
    assert _minute_stamp(minute, tz) == _lookup(minute, tz)


def test_every_minute_around_daylight_saving_shifts() -> None:
    for tz in ZONES:
        for year in (1920, 2026):
            for month in (3, 4, 9, 10, 11):
                start = int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp()) // 60
                for minute in range(start, start + 31 * 24 * 60, 7):
                    assert _minute_stamp(minute, tz) == _lookup(minute, tz), (tz, minute)
