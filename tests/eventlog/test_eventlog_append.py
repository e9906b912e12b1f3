"""EventStore.append: the local write path (one transaction: check, seal, chain, insert)."""

from __future__ import annotations

import hashlib
import sqlite3
from itertools import pairwise
from pathlib import Path

import pytest

from datacore_msg.errors import InvalidInput
from datacore_msg.eventlog.canonical import canonical_bytes
from datacore_msg.eventlog.envelope import Event, check_seal, seal
from datacore_msg.eventlog.hlc import physical_ms
from datacore_msg.eventlog.payloads import MessageMarked, MessageSent
from datacore_msg.eventlog.signing import SigningKey, signature_ok
from datacore_msg.eventlog.store import EventStore
from datacore_msg.migrations.runner import open_store

NOW = 1_750_000_000_000  # 2025-06-15, a fixed wall clock in milliseconds


def msg_id(n: int) -> str:
    return f"msg-20250615-120000-{n:08x}"


def sent(n: int, sender: str = "gregor", to: str = "tex", text: str = "hello") -> MessageSent:
    return MessageSent(id=msg_id(n), sender=sender, to=to, text=f"{text} {n}")


@pytest.fixture
def store(tmp_path: Path):
    st = open_store(tmp_path / "events.sqlite3")
    yield st
    st.close()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def append_n(store: EventStore, key: SigningKey, count: int, wall: int = NOW) -> list[Event]:
    return [store.append(key, "gregor", sent(i), wall + i) for i in range(1, count + 1)]


def test_seq_counts_1_2_3_without_gaps_per_origin(store: EventStore, key: SigningKey) -> None:
    other = SigningKey.generate()
    seqs_key, seqs_other = [], []
    for i in range(1, 7):
        if i % 3 == 0:
            seqs_other.append(store.append(other, "tex", sent(i, "tex", "gregor"), NOW + i).seq)
        else:
            seqs_key.append(store.append(key, "gregor", sent(i), NOW + i).seq)
    assert seqs_key == [1, 2, 3, 4]
    assert seqs_other == [1, 2]
    stored = [(e.origin, e.seq) for e in store.read_since(0)]
    assert sorted(s for o, s in stored if o == key.public_hex) == [1, 2, 3, 4]
    assert sorted(s for o, s in stored if o == other.public_hex) == [1, 2]


def test_first_event_has_no_prev_and_each_next_chains_to_the_previous_id(
    store: EventStore, key: SigningKey
) -> None:
    events = append_n(store, key, 4)
    assert events[0].prev is None
    for before, after in pairwise(events):
        assert after.prev == before.id
    # The stored rows carry the same chain.
    stored = store.read_since(0)
    assert [e.prev for e in stored] == [None, *[e.id for e in events[:-1]]]


def test_chain_continues_across_store_reopen(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "events.sqlite3"
    first = open_store(path)
    a = first.append(key, "gregor", sent(1), NOW)
    first.close()
    second = open_store(path)
    b = second.append(key, "gregor", sent(2), NOW + 1)
    second.close()
    assert (b.seq, b.prev) == (2, a.id)


def test_hlc_strictly_increases_even_when_the_wall_clock_goes_backwards(
    store: EventStore, key: SigningKey
) -> None:
    walls = [NOW, NOW - 60_000, NOW - 3_600_000, NOW, NOW, NOW - 1]
    stamps = [store.append(key, "gregor", sent(i), w).hlc for i, w in enumerate(walls, 1)]
    assert all(a < b for a, b in pairwise(stamps)), stamps
    # Never earlier than the wall clock of the writer either.
    assert all(physical_ms(s) >= w for s, w in zip(stamps, walls, strict=True))


def test_hlc_sorts_after_events_of_other_origins_already_stored(store: EventStore, key: SigningKey) -> None:
    other = SigningKey.generate()
    ahead = store.append(other, "tex", sent(1, "tex", "gregor"), NOW + 3_600_000)
    mine = store.append(key, "gregor", sent(2), NOW)
    assert mine.hlc > ahead.hlc
    assert mine.order_key() > ahead.order_key()


def test_id_is_sha256_of_the_canonical_body(store: EventStore, key: SigningKey) -> None:
    event = store.append(key, "gregor", sent(1), NOW)
    body = {
        "origin": key.public_hex,
        "seq": 1,
        "prev": None,
        "hlc": event.hlc,
        "actor": "gregor",
        "type": "message.sent",
        "v": 2,
        "data": {
            "id": msg_id(1),
            "from": "gregor",
            "to": "tex",
            "text": "hello 1",
            "reply_to": None,
            "thread": None,
            "priority": None,
        },
    }
    assert event.body() == body
    assert event.id == hashlib.sha256(canonical_bytes(body)).hexdigest()
    stored = store.read_since(0)[0]
    assert stored.id == event.id
    assert hashlib.sha256(canonical_bytes(stored.body())).hexdigest() == stored.id


def test_signature_verifies_with_the_origin_key_and_only_over_the_body(
    store: EventStore, key: SigningKey
) -> None:
    event = store.append(key, "gregor", MessageMarked(message=msg_id(1), mark="read"), NOW)
    raw = canonical_bytes(event.body())
    assert signature_ok(event.origin, raw, event.sig)
    check_seal(store.read_since(0)[0])  # raises if id or signature were wrong
    assert not signature_ok(event.origin, raw + b" ", event.sig)
    assert not signature_ok(SigningKey.generate().public_hex, raw, event.sig)


def test_appended_event_reports_its_stored_position(store: EventStore, key: SigningKey) -> None:
    events = append_n(store, key, 3)
    assert [e.position for e in events] == [e.position for e in store.read_since(0)]
    assert store.max_position() == events[-1].position
    assert store.count() == 3


def test_check_runs_inside_the_write_transaction(store: EventStore, key: SigningKey, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def check(st: EventStore) -> None:
        seen["in_transaction"] = st.conn.in_transaction
        seen["count"] = st.count()
        # Another connection cannot take the write lock while the check runs.
        other = sqlite3.connect(st.path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()

    store.append(key, "gregor", sent(1), NOW)
    event = store.append(key, "gregor", sent(2), NOW + 1, check)
    assert seen == {"in_transaction": True, "count": 1}
    assert event.seq == 2
    assert not store.conn.in_transaction


def test_check_that_raises_prevents_the_append_and_leaves_no_gap(store: EventStore, key: SigningKey) -> None:
    store.append(key, "gregor", sent(1), NOW)
    refused = InvalidInput("task is no longer QUEUED")

    def check(_: EventStore) -> None:
        raise refused

    with pytest.raises(InvalidInput) as info:
        store.append(key, "gregor", sent(2), NOW + 1, check)
    assert info.value is refused
    assert store.count() == 1
    assert not store.conn.in_transaction
    # The next append takes seq 2: nothing of the refused one was kept.
    nxt = store.append(key, "gregor", sent(3), NOW + 2)
    assert nxt.seq == 2
    assert store.verify() == []


def test_check_sees_rows_written_by_another_connection(
    store: EventStore, key: SigningKey, tmp_path: Path
) -> None:
    """The check reads the current file, not a stale snapshot (so a decision cannot be overtaken)."""
    other_store = open_store(store.path)
    try:
        other_store.append(SigningKey.generate(), "tex", sent(1, "tex", "gregor"), NOW)
        seen = []
        store.append(key, "gregor", sent(2), NOW + 1, lambda st: seen.append(st.count()))
        assert seen == [1]
    finally:
        other_store.close()


def test_appended_events_verify_clean(store: EventStore, key: SigningKey) -> None:
    append_n(store, key, 5)
    store.append(key, "gregor", MessageMarked(message=msg_id(1), mark="done"), NOW + 10)
    assert store.verify() == []


def test_seal_with_same_fields_is_deterministic_in_id(key: SigningKey) -> None:
    kwargs = dict(seq=1, prev=None, hlc=NOW << 16, actor="gregor", type_name="x.y", version=1)
    a = seal(key, data={"b": 1, "a": "ž"}, **kwargs)  # type: ignore[arg-type]
    b = seal(key, data={"a": "ž", "b": 1}, **kwargs)  # type: ignore[arg-type]
    assert a.id == b.id
    check_seal(a)
    check_seal(b)
