"""Ingest and verify check large batches with the ids held looked up in bulk and the signatures
checked on every core: the outcome must be exactly the one-event-at-a-time outcome."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.app.exchange import parse_lines
from datacore_msg.eventlog import sigbatch
from datacore_msg.eventlog.canonical import canonical_bytes, canonical_text
from datacore_msg.eventlog.envelope import Event, body_encoding, seal
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import EventStore, IngestReport
from datacore_msg.migrations.runner import open_store
from eventlines import NOW, chain, forged, line


def outcome(report: IngestReport) -> tuple[list[tuple[str, int | None]], int, list[tuple[int, str]]]:
    return [(e.id, e.position) for e in report.accepted], report.duplicates, report.rejected


def ingest_into(path: Path, lines: list[bytes], parallel_min: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(sigbatch, "PARALLEL_MIN", parallel_min)
    store = open_store(path)
    try:
        first = outcome(store.ingest(parse_lines(lines[: len(lines) // 2]), NOW + 60_000))
        second = outcome(store.ingest(parse_lines(lines), NOW + 60_000))
        return first, second, store.verify()
    finally:
        store.close()


def test_a_large_batch_with_forgeries_gives_the_one_at_a_time_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gregor = chain(SigningKey.generate(), "gregor", 400)
    otto = chain(SigningKey.generate(), "otto", 300, first_n=1000)
    lines: list[bytes] = []
    for n in range(400):
        lines.append(forged(gregor[n]) if n == 350 else line(gregor[n]))
        if n < 300:
            lines.append(forged(otto[n]) if n == 280 else line(otto[n]))
    lines.insert(100, line(gregor[10]))  # a duplicate inside the batch
    lines.insert(200, b"not json\n")
    seen = set()
    for parallel_min in (10**9, 1):  # one at a time in this thread, then chunks on every core
        result = ingest_into(tmp_path / f"p{parallel_min}.sqlite3", lines, parallel_min, monkeypatch)
        seen.add(repr(result))
        (_, _, first_rejected), (accepted, duplicates, rejected), problems = result
        assert problems == []
        assert duplicates > 0
        reasons = dict(first_rejected + rejected)
        assert "bad signature" in reasons[lines.index(forged(otto[280])) + 1]
        assert "bad signature" in reasons[lines.index(forged(gregor[350])) + 1]
        assert "earlier event of this origin" in reasons[lines.index(line(otto[281])) + 1]
        assert "JSON" in reasons[201]
        stored_ids = {event_id for event_id, _ in accepted}
        assert gregor[349].id in stored_ids and gregor[351].id not in stored_ids
    assert len(seen) == 1, "parallel and serial checking must agree exactly"


def test_a_fork_and_a_missing_predecessor_found_by_the_bulk_lookup(tmp_path: Path) -> None:
    key = SigningKey.generate()
    events = chain(key, "gregor", 600)
    other = seal(
        key, seq=500, prev=events[498].id, hlc=NOW << 16, actor="gregor", type_name="x.y", version=1, data={}
    )
    store = open_store(tmp_path / "e.sqlite3")
    try:
        store.ingest(parse_lines([line(e) for e in events[:550]]), NOW + 60_000)
        fork = store.ingest(parse_lines([line(other)]), NOW + 60_000)
        assert fork.accepted == [] and "fork" in fork.rejected[0][1]
        report = store.ingest(parse_lines([line(e) for e in events[560:]]), NOW + 60_000)
        assert report.accepted == []
        assert "predecessor seq 560 is missing" in report.rejected[0][1]
        assert "earlier event of this origin" in report.rejected[1][1]
        assert store.count() == 550
    finally:
        store.close()


def _tamper(path: Path, sql: str, *params: Any) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        conn.execute(sql, params)
    finally:
        conn.close()


def test_verify_in_small_batches_across_origins_finds_each_damage_once(tmp_path: Path) -> None:
    store: EventStore = open_store(tmp_path / "e.sqlite3")
    try:
        a = chain(SigningKey.generate(), "gregor", 150)
        b = chain(SigningKey.generate(), "otto", 130, first_n=1000)
        store.ingest(parse_lines([line(e) for e in a + b]), NOW + 60_000)
        assert store.verify(batch=7) == []
        positions = {e.id: e.position for e in store.read_since(0, 1000)}
        bad_sig = b[64].sig[:-1] + ("0" if b[64].sig[-1] != "0" else "1")
        _tamper(store.path, "UPDATE events SET sig = ? WHERE id = ?", bad_sig, b[64].id)
        _tamper(store.path, "UPDATE events SET subject = 'x' WHERE id = ?", a[3].id)
        _tamper(store.path, "DELETE FROM events WHERE id = ?", a[100].id)
        found = {(p.position, p.reason.split(":")[-1].strip()) for p in store.verify(batch=7)}
        assert found == {
            (positions[b[64].id], f"bad signature for origin {b[64].origin[:12]}"),
            (positions[a[3].id], "subject index does not match the payload"),
            (positions[a[101].id], "seq 102 where 101 was expected (gap)"),
            (positions[a[101].id], "prev does not match the previous event (broken chain)"),
        }
        assert store.verify(batch=7) == store.verify(batch=5000)
    finally:
        store.close()


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    actor=st.text(max_size=8),
    type_name=st.text(max_size=8),
    prev=st.none() | st.text(max_size=8),
    seq=st.integers(0, 2**63 - 1),
)
def test_the_body_encoding_is_the_canonical_encoding(
    data: dict[str, Any], actor: str, type_name: str, prev: str | None, seq: int
) -> None:
    event = Event("i" * 64, "o" * 64, seq, prev, seq // 2, actor, type_name, 3, data, "s")
    raw, text = body_encoding(event)
    assert raw == canonical_bytes(event.body())
    assert text == canonical_text(data)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_checks_a_large_batch_on_threads_of_its_own() -> None:
    """The pool's threads do not survive a fork: a child must start its own, not wait forever."""
    events = chain(SigningKey.generate(), "gregor", 300)
    items = [(e.origin, body_encoding(e)[0], e.sig) for e in events]
    assert all(sigbatch.Signatures(items, parallel_min=1).ok(n) for n in range(len(items)))
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only when every verdict came back
        try:
            checks = sigbatch.Signatures(items, parallel_min=1)
            os._exit(0 if all(checks.ok(n) for n in range(len(items))) else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child never got its signatures checked")


_any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


def _outcome(encode: Any, value: Any) -> tuple[str, str]:
    try:
        return "ok", encode(value)
    except Exception as exc:
        return type(exc).__name__, str(exc)


#: What canonical JSON is defined as: the standard library's encoder with these settings.
_STANDARD = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(value=_any_json)
def test_the_kept_encoder_encodes_and_refuses_as_the_standard_one(value: Any) -> None:
    assert _outcome(canonical_text, value) == _outcome(_STANDARD.encode, value)


def test_the_kept_encoder_refuses_a_cycle_and_a_foreign_object_as_the_standard_one() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    for value in (cycle, {"a": object()}, {1: 2, "b": 3}, {"a": float("inf")}):
        assert _outcome(canonical_text, value) == _outcome(_STANDARD.encode, value)
    assert _outcome(canonical_text, cycle) == ("ValueError", "Circular reference detected")
