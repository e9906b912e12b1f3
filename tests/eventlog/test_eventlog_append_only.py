"""The events table is append-only, and verify() catches what was changed behind the triggers' back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.connection import write_transaction
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import EventStore
from datacore_msg.migrations.runner import open_store

NOW = 1_750_000_000_000


def msg_id(n: int) -> str:
    return f"msg-20250615-120000-{n:08x}"


@pytest.fixture
def store(tmp_path: Path):
    st = open_store(tmp_path / "events.sqlite3")
    yield st
    st.close()


def fill(store: EventStore, count: int = 3) -> list[Event]:
    key = SigningKey.generate()
    return [
        store.append(
            key,
            "gregor",
            MessageSent(id=msg_id(n), sender="gregor", to="tex", text=f"hello {n}"),
            NOW + n,
        )
        for n in range(1, count + 1)
    ]


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_raw_update_of_an_event_is_refused_by_a_trigger(store: EventStore) -> None:
    events = fill(store)
    conn = raw(store.path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
            conn.execute("UPDATE events SET data = '{}' WHERE position = ?", (events[1].position,))
        with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
            conn.execute("UPDATE events SET subject = NULL")
    finally:
        conn.close()
    assert store.read_since(0) == events
    assert store.verify() == []


def test_raw_delete_of_an_event_is_refused_by_a_trigger(store: EventStore) -> None:
    fill(store)
    conn = raw(store.path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM events WHERE seq = 2")
        with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
    assert store.count() == 3


def test_refused_update_through_the_store_connection_is_an_integrity_error(
    store: EventStore,
) -> None:
    fill(store, 1)
    with pytest.raises(IntegrityError, match="append-only"), write_transaction(store.conn, store.path):
        store.conn.execute("UPDATE events SET actor = 'mallory'")
    assert store.read_since(0)[0].actor == "gregor"


def test_data_edited_behind_the_triggers_back_is_caught_by_verify_at_its_position(
    store: EventStore,
) -> None:
    events = fill(store)
    target = events[1]
    conn = raw(store.path)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        stored = conn.execute("SELECT data FROM events WHERE position = ?", (target.position,)).fetchone()[0]
        conn.execute(
            "UPDATE events SET data = ? WHERE position = ?",
            (stored.replace("hello 2", "goodbye"), target.position),
        )
    finally:
        conn.close()
    problems = store.verify()
    assert problems, "an edited event must be reported"
    assert {p.position for p in problems} == {target.position}
    assert {p.event_id for p in problems} == {target.id}
    assert any("id does not match" in p.reason for p in problems)


def test_actor_edited_behind_the_triggers_back_is_caught_by_verify(store: EventStore) -> None:
    events = fill(store)
    conn = raw(store.path)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET actor = 'mallory' WHERE position = ?", (events[0].position,))
    finally:
        conn.close()
    problems = store.verify()
    assert {p.position for p in problems} == {events[0].position}


def test_a_deleted_middle_event_is_reported_as_a_gap_and_broken_chain(store: EventStore) -> None:
    events = fill(store, 4)
    conn = raw(store.path)
    try:
        conn.execute("DROP TRIGGER events_no_delete")
        conn.execute("DELETE FROM events WHERE position = ?", (events[1].position,))
    finally:
        conn.close()
    problems = store.verify()
    follower = events[2]
    assert problems, "a dropped event must be detected"
    assert {p.position for p in problems} == {follower.position}
    text = " ".join(p.reason for p in problems)
    assert "gap" in text
    assert "broken chain" in text


def test_a_deleted_first_event_is_reported(store: EventStore) -> None:
    events = fill(store, 2)
    conn = raw(store.path)
    try:
        conn.execute("DROP TRIGGER events_no_delete")
        conn.execute("DELETE FROM events WHERE position = ?", (events[0].position,))
    finally:
        conn.close()
    problems = store.verify()
    assert {p.position for p in problems} == {events[1].position}
    assert any("gap" in p.reason for p in problems)


def test_a_swapped_subject_index_is_reported(store: EventStore) -> None:
    events = fill(store, 2)
    conn = raw(store.path)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET subject = ? WHERE position = ?", (msg_id(99), events[0].position))
    finally:
        conn.close()
    problems = store.verify()
    assert [(p.position, p.reason) for p in problems] == [
        (events[0].position, "subject index does not match the payload")
    ]


def test_verify_is_clean_for_an_untouched_log(store: EventStore) -> None:
    fill(store, 5)
    assert store.verify() == []
