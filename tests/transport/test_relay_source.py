"""What the relay's endpoints read: recent events from memory (within a byte budget), the rest from
the log; a fanned-out frame's text is exactly ``frames.encode``'s."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacore_msg.eventlog.envelope import from_json
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.relay_source import RecentEvents, RelaySource, encode_frame, event_text
from datacore_msg.transport.relay_store import open_relay_store
from relayclient import NOW_MS, chain

UNICODE = {"text": "ünïcode \u202e"}


@pytest.mark.parametrize(
    ("seq", "limit", "expected"),
    [
        (10, 5, [11, 12, 13, 14, 15]),  # the run starts at seq 11
        (12, 100, list(range(13, 31))),
        (30, 10, []),  # nothing after the last
        (9, 5, None),  # seq 10 is not in memory: read the log
        (0, 5, None),
    ],
)
def test_recent_events_answer_only_ranges_they_cover(
    seq: int, limit: int, expected: list[int] | None
) -> None:
    recent = RecentEvents()
    events = chain(SigningKey.generate(), 30, extra=UNICODE)
    for event in events[10:]:
        recent.add(event)
    found = recent.after(events[0].origin, seq, limit)
    assert (None if found is None else [e.seq for e in found]) == expected


def test_recent_events_keep_within_their_budget_dropping_the_oldest() -> None:
    keys = [SigningKey.generate() for _ in range(3)]
    runs = [chain(key, 200, pad="x" * 1000, extra=UNICODE) for key in keys]
    recent = RecentEvents(max_bytes=150_000, per_origin=120)
    for run in runs:
        for event in run:
            recent.add(event)
            assert recent.bytes <= 150_000
    assert recent.bytes == sum(len(t) for t in map(recent.text, [e for r in runs for e in r]) if t)
    newest = recent.after(runs[2][0].origin, 199, 10)
    assert newest is not None and [e.seq for e in newest] == [200]
    assert recent.after(runs[0][0].origin, 0, 10) is None
    assert len(recent) <= 120 * 3


def test_a_gap_starts_a_new_run() -> None:
    recent = RecentEvents()
    events = chain(SigningKey.generate(), 10, extra=UNICODE)
    for event in events[:3] + events[6:]:
        recent.add(event)
    assert recent.after(events[0].origin, 2, 10) is None
    found = recent.after(events[0].origin, 6, 10)
    assert found is not None and [e.seq for e in found] == [7, 8, 9, 10]
    assert recent.after(events[0].origin, 5, 10) is None


def test_the_source_reads_the_log_only_for_what_is_not_in_memory(tmp_path: Path) -> None:
    store = open_relay_store(tmp_path / "relay")
    try:
        key = SigningKey.generate()
        events = chain(key, 50, extra=UNICODE)
        report = store.ingest(list(enumerate(events[:40])), NOW_MS)
        assert len(report.accepted) == 40
        source = RelaySource(store)
        assert source.heads() == {key.public_hex: 40}
        report = store.ingest(list(enumerate(events[40:])), NOW_MS)
        source.stored(report.accepted)
        assert source.heads() == {key.public_hex: 50}
        assert [e.seq for e in source.events_after(key.public_hex, 45, 10)] == [46, 47, 48, 49, 50]
        assert source.reads == 0
        assert [e.seq for e in source.events_after(key.public_hex, 5, 3)] == [6, 7, 8]
        assert source.reads == 1
        assert source.events_after(key.public_hex, 50, 10) == []
        assert source.reads == 1
    finally:
        store.close()


def test_a_fanned_out_frame_is_exactly_what_frames_encode_writes() -> None:
    events = chain(SigningKey.generate(), 5, pad="\u2028 \x7f", extra=UNICODE)
    recent = RecentEvents()
    for event in events[:3]:
        recent.add(event)  # two of the five are not in memory
    frame = frames.Events(7, [*events])
    assert encode_frame(frame, recent) == frames.encode(frame).encode("utf-8")
    assert frames.decode(encode_frame(frame, recent).decode("utf-8")) == frame
    again = frames.Events(8, [*events])  # the same events to the next connection: the body is reused
    assert encode_frame(again, recent) == frames.encode(again).encode("utf-8")
    other = frames.Events(8, [*events[:2]])
    assert encode_frame(other, recent) == frames.encode(other).encode("utf-8")
    ack = frames.Ack(7, {events[0].origin: 5}, [(1, "no")])
    assert encode_frame(ack, recent) == frames.encode(ack).encode("utf-8")
    assert event_text(events[0]) in frames.encode(frame)


def test_event_size_is_measured_once_per_object_and_right_for_equal_copies() -> None:
    event = chain(SigningKey.generate(), 1, pad="y" * 100, extra=UNICODE)[0]
    size = frames.event_size(event)
    assert size == len(event_text(event).encode()) + 1
    copy = from_json(event.to_json())
    assert copy is not event
    assert frames.event_size(copy) == size
    assert frames.event_size(event) == size


def test_the_size_memo_forgets_its_oldest_entries_one_at_a_time() -> None:
    events = chain(SigningKey.generate(), 6, pad="z" * 50)
    sizes = [frames.event_size(event) for event in events]
    memo = frames._SizeMemo(entries=3, total=10 * max(sizes))
    for event, size in zip(events[:4], sizes, strict=False):
        assert memo.size(event) == size
    assert [e for e, _ in memo._known.values()] == events[1:4]  # over 3 entries: only the oldest went
    assert memo._total == sum(sizes[1:4])
    small = frames._SizeMemo(entries=100, total=sizes[2] + sizes[3])
    for event in events[:4]:
        small.size(event)
    assert [e for e, _ in small._known.values()] == events[2:4]  # over the bytes: the oldest went
    assert small._total == sizes[2] + sizes[3]
