"""The relay store's contract, the same tests against each store: the SQLite log and NATS JetStream
(a real ``nats-server -js``; skipped saying why where it is not installed, failed under CI).

What a batch stores and what the relay may acknowledge, de-duplication by event id, heads,
``events_after`` in pages, forks and gaps refused, events an attacker wrote refused with the same
reasons as the SQLite log's own ``ingest`` (its report is the reference), and what was stored still
there after the store is closed and opened again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import IngestReport
from datacore_msg.transport.relay_jetstream import JetStreamStore
from datacore_msg.transport.relay_store import RelayStore, SqliteRelayStore, open_relay_store
from relayclient import NOW_MS, chain
from syncnet import nonce

Opener = Callable[[], RelayStore]


class _SqliteStore(SqliteRelayStore):
    """The SQLite relay store closing its log too (the CLI closes it separately)."""

    def close(self) -> None:
        if not self._closed:
            super().close()
            self.store.close()


@pytest.fixture(params=["sqlite", "nats"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[RelayStore] = []
    if request.param == "sqlite":

        def open_store() -> RelayStore:
            store: RelayStore = _SqliteStore(open_relay_store(tmp_path / "relay"))
            opened.append(store)
            return store
    else:
        server = request.getfixturevalue("nats_server")
        stream = f"T{nonce()[:12]}"

        def open_store() -> RelayStore:
            store: RelayStore = JetStreamStore([server.url], stream)
            opened.append(store)
            return store

    yield open_store
    for store in opened:
        store.close()


def ingest(store: RelayStore, events: list[Event | IntegrityError], now_ms: int = NOW_MS) -> IngestReport:
    return asyncio.run(store.ingest(list(enumerate(events)), now_ms))


def reference(tmp_path: Path, batches: list[list[Event | IntegrityError]]) -> list[IngestReport]:
    """What the SQLite log's own ``ingest`` reports for the same batches, in a fresh log."""
    log = open_relay_store(tmp_path / f"reference-{nonce()[:8]}")
    try:
        return [log.ingest(list(enumerate(batch)), NOW_MS) for batch in batches]
    finally:
        log.close()


def ids(events: list[Event]) -> list[str]:
    return [event.id for event in events]


def read_all(store: RelayStore, origin: str, page: int) -> list[Event]:
    out: list[Event] = []
    while True:
        found = store.events_after(origin, out[-1].seq if out else 0, page)
        if not found:
            return out
        assert len(found) <= page
        out += found


def test_a_batch_is_stored_and_read_back_by_origin_in_pages(opener: Opener) -> None:
    store = opener()
    keys = [SigningKey.generate() for _ in range(3)]
    runs = [chain(key, 23, extra={"k": n}) for n, key in enumerate(keys)]
    mixed: list[Event | IntegrityError] = [event for trio in zip(*runs, strict=True) for event in trio]
    report = ingest(store, mixed)
    assert report.rejected == [] and report.duplicates == 0
    assert sorted(ids(report.accepted)) == sorted(e.id for run in runs for e in run)
    assert store.heads() == {key.public_hex: 23 for key in keys}
    for key, run in zip(keys, runs, strict=True):
        assert ids(read_all(store, key.public_hex, 7)) == ids(run)
        assert ids(store.events_after(key.public_hex, 10, 5)) == ids(run[10:15])
        assert store.events_after(key.public_hex, 23, 5) == []
    assert store.events_after(SigningKey.generate().public_hex, 0, 5) == []


def test_a_batch_sent_again_is_all_duplicates_and_stores_nothing(opener: Opener) -> None:
    store = opener()
    key = SigningKey.generate()
    events = chain(key, 12)
    assert len(ingest(store, list(events[:8])).accepted) == 8
    report = ingest(store, list(events))
    assert ids(report.accepted) == ids(events[8:])
    assert report.duplicates == 8 and report.rejected == []
    again = ingest(store, list(events))
    assert again.accepted == [] and again.duplicates == 12
    assert store.heads() == {key.public_hex: 12}
    assert ids(read_all(store, key.public_hex, 5)) == ids(events)


def test_a_fork_is_refused_and_the_stored_chain_kept(opener: Opener) -> None:
    store = opener()
    key = SigningKey.generate()
    events = chain(key, 5)
    fork = chain(key, 3, first=4, prev=events[2].id, pad="other")
    ingest(store, list(events))
    report = ingest(store, list(fork))
    assert report.accepted == []
    assert "fork: origin" in report.rejected[0][1] and "already stored" in report.rejected[0][1]
    assert len(report.rejected) == 3
    assert store.heads() == {key.public_hex: 5}
    assert ids(read_all(store, key.public_hex, 10)) == ids(events)


def test_a_gap_is_refused_with_what_follows_it(opener: Opener) -> None:
    store = opener()
    key = SigningKey.generate()
    events = chain(key, 8)
    ingest(store, list(events[:3]))
    report = ingest(store, list(events[4:]))
    assert report.accepted == []
    assert "predecessor seq 4 is missing" in report.rejected[0][1]
    assert all("earlier event of this origin in this batch was rejected" in r for _, r in report.rejected[1:])
    assert store.heads() == {key.public_hex: 3}
    assert ingest(store, list(events[3:])).accepted != []
    assert store.heads() == {key.public_hex: 8}


def _attacks(victim: SigningKey, attacker: SigningKey) -> list[tuple[str, Event | IntegrityError]]:
    good = chain(victim, 3)
    forged = seal(
        attacker,
        seq=4,
        prev=good[2].id,
        hlc=(NOW_MS << 16) + 4,
        actor="tex",
        type_name="note",
        version=1,
        data={"n": 4},
    )
    far_ahead = seal(
        victim,
        seq=4,
        prev=good[2].id,
        hlc=(NOW_MS + 3 * 86_400_000) << 16,
        actor="tex",
        type_name="note",
        version=1,
        data={"n": 4},
    )
    return [
        ("bad signature", chain(victim, 4)[3].evolve(sig=good[0].sig)),
        ("id does not match its content", chain(victim, 4)[3].evolve(data={"n": 99})),
        ("another key's signature", forged.evolve(origin=victim.public_hex)),
        ("broken chain", chain(victim, 1, first=4, prev=good[0].id)[0]),
        ("clock stamp is more than a day ahead", far_ahead),
        ("unparsable", IntegrityError("line 1: not JSON")),
    ]


@pytest.mark.parametrize("attack", range(6))
def test_an_attacker_written_event_is_refused_as_the_sqlite_log_refuses_it(
    opener: Opener, tmp_path: Path, attack: int
) -> None:
    victim, attacker = SigningKey.generate(), SigningKey.generate()
    good = chain(victim, 3)
    _, bad = _attacks(victim, attacker)[attack]
    store = opener()
    batches: list[list[Event | IntegrityError]] = [list(good), [bad]]
    reports = [ingest(store, batch) for batch in batches]
    expected = reference(tmp_path, batches)
    assert [(ids(r.accepted), r.duplicates, r.rejected) for r in reports] == [
        (ids(r.accepted), r.duplicates, r.rejected) for r in expected
    ]
    assert len(reports[1].rejected) == 1 and reports[1].accepted == []
    assert store.heads() == {victim.public_hex: 3}


def test_a_mixed_batch_gets_the_sqlite_logs_report(opener: Opener, tmp_path: Path) -> None:
    victim, attacker, other = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    attacks = [bad for _, bad in _attacks(victim, attacker)]
    first: list[Event | IntegrityError] = [*chain(victim, 3), *chain(other, 2)]
    second: list[Event | IntegrityError] = [*attacks, *chain(other, 4), *chain(victim, 5)[3:]]
    store = opener()
    reports = [ingest(store, first), ingest(store, second)]
    expected = reference(tmp_path, [first, second])
    assert [(ids(r.accepted), r.duplicates, r.rejected) for r in reports] == [
        (ids(r.accepted), r.duplicates, r.rejected) for r in expected
    ]
    # the victim's seq 5 follows a refused seq 4 in the same batch: refused too, as the log does
    assert store.heads() == {victim.public_hex: 4, other.public_hex: 4}


def test_what_was_stored_is_there_after_a_restart(opener: Opener) -> None:
    store = opener()
    keys = [SigningKey.generate() for _ in range(2)]
    runs = [chain(key, 9) for key in keys]
    for run in runs:
        ingest(store, list(run))
    store.close()
    again = opener()
    assert again.heads() == {key.public_hex: 9 for key in keys}
    for key, run in zip(keys, runs, strict=True):
        assert ids(read_all(again, key.public_hex, 4)) == ids(run)
    more = chain(keys[0], 3, first=10, prev=runs[0][-1].id)
    assert ids(ingest(again, list(more)).accepted) == ids(more)
    assert again.heads()[keys[0].public_hex] == 12
    assert again.health().reachable
