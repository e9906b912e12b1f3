"""``check_batch``: ingest's checks without storage, as a relay's own store calls them. Large batches
are hashed and handed to the signature threads a group at a time; the outcome must not depend on
where the groups split, nor on whether signatures are checked on threads or one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacore_msg.app.exchange import parse_lines
from datacore_msg.eventlog import codec, sigbatch, store
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.payloads import Payload
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.migrations.runner import open_store
from eventlines import NOW, chain, forged, line


def decode(event: Event) -> Payload | None:
    return codec.decode_payload(event.type, event.data) if codec.known_type(event.type) else None


def batch_lines() -> tuple[list[bytes], list[Event], list[Event]]:
    """1,300 lines of two origins (groups of 512 and 790), forgeries on both sides of the boundary."""
    gregor = chain(SigningKey.generate(), "gregor", 700)
    otto = chain(SigningKey.generate(), "otto", 598, first_n=1000)
    lines = [line(e) for pair in zip(gregor[:598], otto, strict=True) for e in pair] + [
        line(e) for e in gregor[598:]
    ]
    for n in (511, 512):
        event = gregor[n // 2] if n % 2 == 0 else otto[n // 2]
        assert lines[n] == line(event)
        lines[n] = forged(event)
    lines.insert(700, line(gregor[3]))  # a duplicate inside the batch
    lines.insert(900, b"not json\n")
    return lines, gregor, otto


def outcome(lines: list[bytes], held: dict[tuple[str, int], str]) -> store.CheckedBatch:
    return store.check_batch(list(parse_lines(lines)), held, NOW + 60_000, decode)


def test_groups_threads_and_one_at_a_time_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, gregor, otto = batch_lines()
    grouped = outcome(lines, {})
    monkeypatch.setattr(sigbatch, "PARALLEL_MIN", 10**9)
    monkeypatch.setattr(store, "SIGNATURE_GROUP", 10**9)
    single = outcome(lines, {})
    assert grouped == single
    reasons = dict(grouped.rejected)
    assert "bad signature" in reasons[512] and "bad signature" in reasons[513]
    assert "earlier event of this origin" in reasons[514]
    assert "JSON" in reasons[901]
    assert grouped.duplicates == 1
    accepted = {event.id for event, _ in grouped.accepted}
    assert gregor[255].id in accepted and gregor[256].id not in accepted
    assert otto[254].id in accepted and otto[255].id not in accepted


def test_the_held_ids_a_store_supplies_decide_duplicates_and_forks() -> None:
    key = SigningKey.generate()
    events = chain(key, "gregor", 40)
    other = seal(
        key, seq=30, prev=events[28].id, hlc=NOW << 16, actor="gregor", type_name="x.y", version=1, data={}
    )
    held = {(e.origin, e.seq): e.id for e in events[:30]}
    checked = outcome([line(e) for e in events[20:]] + [line(other)], held)
    assert checked.duplicates == 10
    assert [event.seq for event, _ in checked.accepted] == list(range(31, 41))
    assert held[(key.public_hex, 40)] == events[39].id  # accepted events are added as it goes
    assert len(checked.rejected) == 1 and "fork" in checked.rejected[0][1]


def test_it_gives_ingest_exactly_what_ingest_stores(tmp_path: Path) -> None:
    lines, _, _ = batch_lines()
    checked = outcome(lines, {})
    log = open_store(tmp_path / "e.sqlite3")
    try:
        report = log.ingest(parse_lines(lines), NOW + 60_000)
        assert [e.id for e in report.accepted] == [event.id for event, _ in checked.accepted]
        assert report.rejected == checked.rejected and report.duplicates == checked.duplicates
        stored = log.conn.execute("SELECT data FROM events ORDER BY position").fetchall()
        assert [row[0] for row in stored] == [text for _, text in checked.accepted]
        assert log.verify() == []
    finally:
        log.close()


def test_keep_is_handed_every_accepted_event_once_in_order_as_the_walk_goes() -> None:
    lines, _, _ = batch_lines()
    handed: list[list[tuple[Event, str]]] = []
    checked = store.check_batch(list(parse_lines(lines)), {}, NOW + 60_000, decode, handed.append)
    assert checked == outcome(lines, {})
    assert [item for part in handed for item in part] == checked.accepted
    assert len(handed) >= len(checked.accepted) // store.KEEP_EVERY >= 3, "a few at a time, not at the end"
    assert all(len(part) <= store.KEEP_EVERY for part in handed)
