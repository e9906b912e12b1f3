"""EventStore.heads and events_after: what two stores compare and send to catch each other up.

Events are appended with throwaway keys (one key = one origin) and moved between stores the way
``import`` moves them: each event's JSON line through ``parse_lines`` into ``ingest``.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.app.exchange import parse_lines
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import EventStore
from datacore_msg.migrations.runner import open_store

NOW = 1_750_000_000_000  # 2025-06-15, a fixed wall clock in milliseconds
#: Keys are slow-ish to make; a few shared ones are enough origins for every test.
KEYS = [SigningKey.generate() for _ in range(3)]


def msg_id(n: int) -> str:
    return f"msg-20250615-120000-{n:08x}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    st = open_store(tmp_path / "events.sqlite3")
    yield st
    st.close()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[EventStore]:
    st = open_store(tmp_path / "other.sqlite3")
    yield st
    st.close()


_counter = iter(range(1, 1 << 30))


def append(store: EventStore, key: SigningKey, count: int = 1) -> list[Event]:
    events = []
    for _ in range(count):
        n = next(_counter)
        payload = MessageSent(id=msg_id(n), sender="gregor", to="tex", text=f"hello {n}")
        events.append(store.append(key, "gregor", payload, NOW + n))
    return events


def import_into(store: EventStore, events: list[Event]) -> None:
    lines = [(canonical_text(e.to_json()) + "\n").encode("utf-8") for e in events]
    report = store.ingest(parse_lines(lines), NOW + (1 << 31))
    assert report.rejected == []


def test_an_empty_store_has_no_heads_and_nothing_after(store: EventStore) -> None:
    assert store.heads() == {}
    assert store.events_after(KEYS[0].public_hex, 0, 10) == []


def test_heads_are_the_last_seq_of_each_origin(store: EventStore) -> None:
    append(store, KEYS[0], 3)
    append(store, KEYS[1], 1)
    append(store, KEYS[0], 2)
    assert store.heads() == {KEYS[0].public_hex: 5, KEYS[1].public_hex: 1}
    assert KEYS[2].public_hex not in store.heads()


def test_heads_include_another_installations_imported_events(store: EventStore, other: EventStore) -> None:
    mine = append(store, KEYS[0], 2)
    theirs = append(other, KEYS[1], 4)
    import_into(store, theirs[:3])
    assert store.heads() == {KEYS[0].public_hex: 2, KEYS[1].public_hex: 3}
    assert store.events_after(KEYS[1].public_hex, 0, 10) == [
        e for e in store.read_since(0) if e.origin == KEYS[1].public_hex
    ]
    assert [e.id for e in store.events_after(KEYS[1].public_hex, 0, 10)] == [e.id for e in theirs[:3]]
    # what the other store lacks, by comparing heads: exactly our events, and its own 4th is not ours
    wanted = {
        origin: store.events_after(origin, other.heads().get(origin, 0), 100)
        for origin, head in store.heads().items()
        if head > other.heads().get(origin, 0)
    }
    assert {origin: [e.id for e in events] for origin, events in wanted.items()} == {
        KEYS[0].public_hex: [e.id for e in mine]
    }
    import_into(other, wanted[KEYS[0].public_hex])
    assert other.heads() == {KEYS[0].public_hex: 2, KEYS[1].public_hex: 4}


def test_events_after_is_in_seq_order_and_stops_at_the_limit(store: EventStore, other: EventStore) -> None:
    events = append(other, KEYS[0], 7)
    append(store, KEYS[1], 2)
    import_into(store, events)  # arrival order differs from the (hlc) order of the other origin
    origin = KEYS[0].public_hex
    got = store.events_after(origin, 2, 3)
    assert [e.seq for e in got] == [3, 4, 5]
    assert [e.id for e in got] == [e.id for e in events[2:5]]
    assert all(e.position is not None for e in got)
    assert got == [e for e in store.read_since(0) if e.id in {x.id for x in got}]  # the readers' type
    assert [e.seq for e in store.events_after(origin, 5, 100)] == [6, 7]
    assert store.events_after(origin, 7, 100) == []
    assert store.events_after(origin, 100, 100) == []
    assert store.events_after(origin, 0, 0) == []
    assert store.events_after("no-such-origin", 0, 10) == []


def test_events_after_reads_the_origin_seq_index(store: EventStore) -> None:
    append(store, KEYS[0], 3)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        store.events_after(KEYS[0].public_hex, 1, 10)
        store.heads()
    finally:
        store.conn.set_trace_callback(None)
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 2
    for sql in queries:
        plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]
        on_events = [step for step in plan if " events" in step or step.startswith("SEARCH e ")]
        assert on_events, (sql, plan)
        assert all(step.startswith("SEARCH") and "INDEX" in step for step in on_events), (sql, plan)
        assert not any("TEMP B-TREE" in step for step in plan), (sql, plan)


def test_a_gap_made_behind_the_triggers_back_is_for_verify_to_report(store: EventStore) -> None:
    """heads() relies on the store holding no gaps; only a file edited by hand can have one."""
    append(store, KEYS[0], 5)
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER events_no_delete")
        conn.execute("DELETE FROM events WHERE origin = ? AND seq = 3", (KEYS[0].public_hex,))
    finally:
        conn.close()
    assert any("gap" in problem.reason for problem in store.verify())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    appends=st.lists(st.tuples(st.sampled_from([0, 1, 2]), st.integers(1, 4)), min_size=0, max_size=8),
    imported=st.integers(0, 6),
    limit=st.integers(1, 5),
)
def test_events_after_chained_from_zero_gives_every_event_of_an_origin(
    appends: list[tuple[int, int]], imported: int, limit: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "events.sqlite3")
        source = open_store(Path(tmp) / "source.sqlite3")
        try:
            for who, count in appends:
                append(store, KEYS[who], count)
            import_into(store, append(source, SigningKey.generate(), imported) if imported else [])
            origins = {e.origin for e in store.read_since(0, 100_000)}
            heads = store.heads()
            assert set(heads) == origins
            for origin in origins:
                chained: list[Event] = []
                seq = 0
                while batch := store.events_after(origin, seq, limit):
                    assert len(batch) <= limit
                    chained += batch
                    seq = batch[-1].seq
                expected = sorted(
                    (e for e in store.read_since(0, 100_000) if e.origin == origin), key=lambda e: e.seq
                )
                assert chained == expected
                assert [e.seq for e in chained] == list(range(1, heads[origin] + 1))
        finally:
            store.close()
            source.close()
