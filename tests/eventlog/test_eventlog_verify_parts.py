"""``verify`` cut into ``(origin, seq)`` ranges, each checked by a forked process, reports exactly
what the one-pass check reports: the same problems in the same order, damage at the first row, on
either side of a cut and at the last row included."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.app.exchange import parse_lines
from datacore_msg.eventlog import sigbatch, verifyparts
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import EventStore, Problem
from datacore_msg.migrations.runner import open_store
from eventlines import NOW, chain, line

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

KEYS = [SigningKey.from_private_hex(f"{n:02x}" * 32) for n in (7, 8, 9)]
#: Three origins' chains of 23, 17 and 31 events: 71 rows in (origin, seq) order.
CHAINS = [
    chain(key, actor, count, first_n=1000 * n)
    for n, (key, actor, count) in enumerate(zip(KEYS, ("gregor", "otto", "tex"), (23, 17, 31), strict=True))
]


@pytest.fixture(autouse=True)
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork even with a test runner's threads about (xdist's, the signature pool): the children
    here touch nothing those threads hold."""
    monkeypatch.setattr(verifyparts, "can_fork", lambda: True)


def _store(path: Path) -> EventStore:
    store = open_store(path)
    lines = [line(event) for events in CHAINS for event in events]
    report = store.ingest(parse_lines(lines), NOW + 60_000)
    assert len(report.accepted) == len(lines)
    return store


def _ordered(store: EventStore) -> list[tuple[int, str, str]]:
    """(position, id, origin) of every row in (origin, seq) order."""
    rows = store.conn.execute("SELECT position, id, origin FROM events ORDER BY origin, seq").fetchall()
    return [(int(position), event_id, origin) for position, event_id, origin in rows]


#: Values no writer of the log stores, written behind its back: ``verify`` reports each of them.
_HOSTILE = {
    "data not JSON": "data = '[['",
    "data nested deeply": "data = '" + "[" * 100_000 + "]" * 100_000 + "'",
    "data not an object": "data = 'NaN'",
    "seq not a number": "seq = 'zz'",
    "type not text": "type = CAST(type AS BLOB)",
}


def _tamper(path: Path, how: str, event_id: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        if how == "sig":
            sig = conn.execute("SELECT sig FROM events WHERE id = ?", (event_id,)).fetchone()[0]
            conn.execute(
                "UPDATE events SET sig = ? WHERE id = ?",
                (("1" if sig[0] == "0" else "0") + sig[1:], event_id),
            )
        elif how == "data":
            conn.execute("UPDATE events SET data = replace(data, 'hi ', 'HI ') WHERE id = ?", (event_id,))
        elif how == "subject":
            conn.execute("UPDATE events SET subject = 'elsewhere' WHERE id = ?", (event_id,))
        elif how == "delete":
            conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
        elif how in _HOSTILE:
            conn.execute(f"UPDATE events SET {_HOSTILE[how]} WHERE id = ?", (event_id,))
        else:
            raise AssertionError(how)
    finally:
        conn.close()


def _both(store: EventStore, parts: int) -> tuple[list[Problem], list[Problem]]:
    """The one-pass report and the report of ``parts`` parts checked by three processes."""
    return store.verify(parts=1), store.verify(parts=parts, fork_min=0, batch=5, processes=3)


def _cut_rows(store: EventStore, parts: int) -> Iterator[int]:
    """Indexes (in (origin, seq) order) of the first row of every part but the first."""
    cut = verifyparts.split(store.conn, parts, 0)
    assert cut is not None and len(cut) == parts
    order = store.conn.execute("SELECT origin, seq FROM events ORDER BY origin, seq").fetchall()
    for part in cut[1:]:
        yield order.index(part.lower)


def test_an_intact_log_is_clean_in_every_split(tmp_path: Path) -> None:
    store = _store(tmp_path / "e.sqlite3")
    try:
        for parts, processes in ((2, 2), (3, 3), (5, 2), (70, 4), (71, 2)):
            assert store.verify(parts=parts, fork_min=0, processes=processes) == []
        assert store.verify(fork_min=0) == []
    finally:
        store.close()


def test_the_split_covers_every_row_once_in_order(tmp_path: Path) -> None:
    store = _store(tmp_path / "e.sqlite3")
    try:
        order = store.conn.execute("SELECT origin, seq, id FROM events ORDER BY origin, seq").fetchall()
        for parts in (2, 4, 7, 35):
            cut = verifyparts.split(store.conn, parts, 0)
            assert cut is not None
            seen: list[Any] = []
            for part in cut:
                where, params = part.where()
                rows = store.conn.execute(
                    f"SELECT origin, seq, id FROM events{where} ORDER BY origin, seq", params
                ).fetchall()
                assert rows, "no part is empty"
                if part.before is not None:
                    assert tuple(part.before) == tuple(seen[-1])
                seen.extend(rows)
            assert seen == order
        assert verifyparts.split(store.conn, 71, 0) is not None
        assert verifyparts.split(store.conn, 72, 0) is None, "no part is empty"
        assert verifyparts.split(store.conn, 2, fork_min=72) is None, "a small log is checked in one pass"
        assert verifyparts.split(store.conn, 1, 0) is None
    finally:
        store.close()


@pytest.mark.parametrize("how", ["sig", "data", "subject", "delete"])
@pytest.mark.parametrize("where", ["first", "last", "cut", "before cut", "after cut"])
def test_damage_anywhere_is_found_as_the_one_pass_finds_it(tmp_path: Path, how: str, where: str) -> None:
    store = _store(tmp_path / "e.sqlite3")
    try:
        parts = 3
        ordered = _ordered(store)
        cuts = list(_cut_rows(store, parts))
        index = {
            "first": 0,
            "last": len(ordered) - 1,
            "cut": cuts[0],
            "before cut": cuts[1] - 1,
            "after cut": cuts[1] + 1,
        }[where]
        position, event_id, origin = ordered[index]
        _tamper(store.path, how, event_id)
        single, split = _both(store, parts)
        assert split == single
        expected = {position}
        if how == "delete":  # found at the next event of its origin (a removed last one is not seen)
            following = ordered[index + 1 : index + 2]
            expected = {row[0] for row in following if row[2] == origin}
        assert {p.position for p in single} == expected
    finally:
        store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    damage=st.lists(
        st.tuples(st.sampled_from(["sig", "data", "subject", "delete"]), st.integers(0, 70)),
        max_size=4,
        unique_by=lambda item: item[1],
    ),
    parts=st.integers(2, 9),
    processes=st.integers(2, 4),
    batch=st.integers(1, 40),
)
def test_any_split_gives_the_one_pass_report(
    tmp_path_factory: pytest.TempPathFactory,
    damage: list[tuple[str, int]],
    parts: int,
    processes: int,
    batch: int,
) -> None:
    store = _store(tmp_path_factory.mktemp("split") / "e.sqlite3")
    try:
        ordered = _ordered(store)
        for how, index in damage:
            _tamper(store.path, how, ordered[index][1])
        split = store.verify(parts=parts, fork_min=0, batch=batch, processes=processes)
        assert split == store.verify(parts=1, batch=batch)
    finally:
        store.close()


def test_a_part_whose_child_fails_is_checked_again_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path / "e.sqlite3")
    try:
        ordered = _ordered(store)
        _tamper(store.path, "sig", ordered[-1][1])
        single = store.verify(parts=1)

        def fail(path: Path, busy_timeout_s: float = 60.0) -> sqlite3.Connection:
            os.kill(os.getpid(), 9)  # the child dies without a word
            raise AssertionError("unreachable")

        monkeypatch.setattr(verifyparts, "open_read_only", fail)
        taken_by_here: list[int] = []
        here = verifyparts._take

        def slow_here(taken: Any, total: int) -> int | None:
            """Every process (the children are forked with it) takes one part only, this one half a
            second late, so that the children surely take theirs before dying; the parts nobody
            took and those of the dead children are checked here at the end."""
            if taken_by_here:
                return None
            time.sleep(0.5)
            index = here(taken, total)
            taken_by_here.append(-1 if index is None else index)
            return index

        monkeypatch.setattr(verifyparts, "_take", slow_here)
        assert store.verify(parts=6, fork_min=0, processes=3) == single
        assert [p.position for p in single] == [ordered[-1][0]]
        assert "bad signature" in single[0].reason
    finally:
        store.close()


def test_with_other_threads_running_verify_checks_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real rule
    store = _store(tmp_path / "e.sqlite3")
    try:
        import threading

        release = threading.Event()
        thread = threading.Thread(target=release.wait)
        thread.start()
        try:
            assert not verifyparts.can_fork()
            assert verifyparts.split(store.conn, 2, 0) is None
        finally:
            release.set()
            thread.join()
    finally:
        store.close()


def test_the_signature_pool_is_stopped_before_a_fork_and_starts_again() -> None:
    import _thread

    from datacore_msg.eventlog.envelope import body_encoding

    items = [(e.origin, body_encoding(e)[0], e.sig) for e in CHAINS[0]]
    assert all(sigbatch.Signatures(items, parallel_min=1).ok(n) for n in range(len(items)))
    pool = sigbatch._shared_pool()
    others = _thread._count() - len(pool._threads)  # a test runner's own threads
    assert sigbatch.alone() is (others == 0)
    if others == 0:
        assert os.getpid() not in sigbatch._pools
        assert _thread._count() == 0
    else:
        assert sigbatch._pools[os.getpid()] is pool, "a pool another thread may use is kept"
    assert all(sigbatch.Signatures(items, parallel_min=1).ok(n) for n in range(len(items)))


def test_clashes_are_listed_by_type_then_subject_then_order(tmp_path: Path) -> None:
    """One scan finds the ids sent twice: the listing is the one of a query per type."""
    store = open_store(tmp_path / "e.sqlite3")
    try:
        lines = [line(e) for n, key in enumerate(KEYS) for e in chain(key, "gregor", 12 - 3 * n)]
        store.ingest(parse_lines(lines), NOW + 60_000)
        rows = store.conn.execute(
            "SELECT position, id, subject FROM events WHERE type = 'message.sent' AND subject IN "
            "(SELECT subject FROM events WHERE type = 'message.sent' GROUP BY subject "
            "HAVING COUNT(*) > 1) ORDER BY subject, hlc, origin, seq"
        ).fetchall()
        assert len(rows) == 12 + 9 + 6 - 3
        assert [(p.position, p.event_id, p.reason) for p in store.clashes()] == [
            (position, event_id, f"message id {subject} is sent by more than one event")
            for position, event_id, subject in rows
        ]
    finally:
        store.close()


def test_without_semaphores_every_part_is_checked_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing.context

    store = _store(tmp_path / "e.sqlite3")
    try:
        ordered = _ordered(store)
        _tamper(store.path, "data", ordered[40][1])
        single = store.verify(parts=1)

        def no_sem_open(*args: Any, **kwargs: Any) -> Any:
            raise ImportError("This platform lacks a functioning sem_open implementation")

        monkeypatch.setattr(multiprocessing.context.BaseContext, "Value", no_sem_open)
        assert store.verify(parts=4, fork_min=0) == single != []
    finally:
        store.close()


@pytest.mark.parametrize("how", list(_HOSTILE))
@pytest.mark.parametrize("where", ["first", "before cut", "last"])
def test_values_no_writer_stores_are_reported_not_raised(tmp_path: Path, how: str, where: str) -> None:
    store = _store(tmp_path / "e.sqlite3")
    try:
        ordered = _ordered(store)
        cuts = list(_cut_rows(store, 3))
        index = {"first": 0, "before cut": cuts[1] - 1, "last": len(ordered) - 1}[where]
        position, event_id, _ = ordered[index]
        _tamper(store.path, how, event_id)
        single, split = _both(store, 3)
        assert split == single
        assert position in {problem.position for problem in single}
        if how == "seq not a number":  # sorted after its origin's numbers, which lose their successor
            reasons = ("gap", "broken chain", "id does not match")
            assert all(any(word in problem.reason for word in reasons) for problem in single)
        else:
            assert {problem.position for problem in single} == {position}
    finally:
        store.close()
