"""EventStore.ingest: events written by another installation, verified one by one.

Events are appended in gregor's store, exported as JSON lines (the exact stored fields) and fed as
``(line number, Event | IntegrityError)`` pairs into tex's store, the same path ``import`` uses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from datacore_msg.app.exchange import parse_lines
from datacore_msg.app.space import Space
from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.canonical import canonical_bytes, canonical_text
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.payloads import MessageMarked, MessageSent
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.store import MAX_CLOCK_SKEW_MS, EventStore

NOW = 1_750_000_000_000  # 2025-06-15, a fixed wall clock in milliseconds
DAY_MS = 24 * 3600 * 1000


def msg_id(n: int) -> str:
    return f"msg-20250615-120000-{n:08x}"


def sent_data(n: int, sender: str = "gregor", to: str = "tex", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": msg_id(n),
        "from": sender,
        "to": to,
        "text": f"hello {n}",
        "reply_to": None,
        "thread": None,
        "priority": None,
    }
    data.update(extra)
    return data


@attrs.define
class Peers:
    g: Space
    t: Space

    def send(self, n: int, wall: int | None = None) -> Event:
        payload = MessageSent(id=msg_id(n), sender="gregor", to="tex", text=f"hello {n}")
        return self.g.store.append(self.g.signing_key(), "gregor", payload, wall or NOW + n)

    def tex_send(self, n: int) -> Event:
        payload = MessageSent(id=msg_id(n), sender="tex", to="gregor", text=f"hi {n}")
        return self.t.store.append(self.t.signing_key(), "tex", payload, NOW + n)

    @property
    def gkey(self) -> SigningKey:
        return self.g.signing_key()

    def seal_g(self, seq: int, prev: str | None, data: dict[str, Any], **kw: Any) -> Event:
        fields: dict[str, Any] = {
            "hlc": (NOW + seq) << 16,
            "actor": "gregor",
            "type_name": "message.sent",
            "version": 2,
        }
        fields.update(kw)
        return seal(self.gkey, seq=seq, prev=prev, data=data, **fields)


@pytest.fixture
def peers(gregor, tex) -> Iterator[Peers]:  # type: ignore[no-untyped-def]
    with gregor.space() as g, tex.space() as t:
        yield Peers(g, t)


def line(event: Event | dict[str, Any]) -> bytes:
    obj = event.to_json() if isinstance(event, Event) else event
    return (canonical_text(obj) + "\n").encode("utf-8")


def feed(store: EventStore, lines: list[bytes], now_ms: int = NOW + 60_000):
    return store.ingest(parse_lines(lines), now_ms)


def ids(events: list[Event]) -> list[str]:
    return [e.id for e in events]


def stored_ids(store: EventStore) -> set[str]:
    return {e.id for e in store.read_since(0)}


def reasons(report) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return dict(report.rejected)


# -- the good path -------------------------------------------------------------------------------


def test_valid_events_from_another_installation_are_stored_and_verify(peers: Peers) -> None:
    events = [peers.send(n) for n in (1, 2, 3)]
    report = feed(peers.t.store, [line(e) for e in events])
    assert report.rejected == []
    assert report.duplicates == 0
    assert ids(report.accepted) == ids(events)
    assert all(e.position is not None for e in report.accepted)
    assert stored_ids(peers.t.store) >= set(ids(events))
    assert peers.t.store.verify() == []


def test_importing_the_same_events_twice_stores_nothing_new(peers: Peers) -> None:
    events = [peers.send(n) for n in (1, 2, 3)]
    lines = [line(e) for e in events]
    feed(peers.t.store, lines)
    before = peers.t.store.count()
    again = feed(peers.t.store, lines)
    assert again.accepted == []
    assert again.duplicates == 3
    assert again.rejected == []
    assert peers.t.store.count() == before


def test_a_duplicate_inside_one_batch_is_counted_once(peers: Peers) -> None:
    event = peers.send(1)
    report = feed(peers.t.store, [line(event), line(event)])
    assert ids(report.accepted) == [event.id]
    assert report.duplicates == 1
    assert report.rejected == []


def test_own_events_coming_back_are_duplicates(peers: Peers) -> None:
    mine = peers.tex_send(1)
    report = feed(peers.t.store, [line(mine)])
    assert (report.accepted, report.duplicates, report.rejected) == ([], 1, [])


def test_events_of_an_unknown_type_are_accepted_and_stored_for_forward_compatibility(
    peers: Peers,
) -> None:
    future = peers.seal_g(
        1, None, {"subject": "task-1", "note": "from a newer version"}, type_name="poll.voted", version=7
    )
    report = feed(peers.t.store, [line(future)])
    assert report.rejected == []
    assert ids(report.accepted) == [future.id]
    stored = peers.t.store.read_since(0)
    kept = next(e for e in stored if e.id == future.id)
    assert kept.data == future.data
    assert peers.t.store.decode(kept) is None
    assert peers.t.store.events_for_subject("task-1")[0].id == future.id
    assert peers.t.store.verify() == []


def test_event_stamped_less_than_a_day_ahead_is_accepted(peers: Peers) -> None:
    now = NOW
    ahead = peers.seal_g(1, None, sent_data(1), hlc=(now + DAY_MS - 60_000) << 16)
    report = feed(peers.t.store, [line(ahead)], now_ms=now)
    assert report.rejected == []
    assert ids(report.accepted) == [ahead.id]


def test_events_out_of_order_within_one_batch_are_accepted_when_chain_is_complete(
    peers: Peers,
) -> None:
    """The predecessor may be earlier in the same batch; another origin may be interleaved."""
    g1, g2 = peers.send(1), peers.send(2)
    other = SigningKey.generate()
    o1 = seal(
        other,
        seq=1,
        prev=None,
        hlc=NOW << 16,
        actor="otto",
        type_name="message.sent",
        version=2,
        data=sent_data(9, sender="otto"),
    )
    o2 = seal(
        other,
        seq=2,
        prev=o1.id,
        hlc=(NOW + 1) << 16,
        actor="otto",
        type_name="message.marked",
        version=1,
        data={"message": msg_id(9), "mark": "read"},
    )
    report = feed(peers.t.store, [line(o1), line(g1), line(o2), line(g2)])
    assert report.rejected == []
    assert ids(report.accepted) == ids([o1, g1, o2, g2])


# -- forks ---------------------------------------------------------------------------------------


def test_fork_same_origin_and_seq_with_another_id_is_rejected_as_fork(peers: Peers) -> None:
    original = peers.send(1)
    feed(peers.t.store, [line(original)])
    fork = peers.seal_g(1, None, sent_data(1, text="a different story"))
    assert (fork.origin, fork.seq) == (original.origin, original.seq)
    assert fork.id != original.id
    report = feed(peers.t.store, [b"\n", line(fork)])
    assert report.accepted == []
    assert list(reasons(report)) == [2]
    assert "fork" in reasons(report)[2]
    assert fork.id not in stored_ids(peers.t.store)
    assert peers.t.store.verify() == []


def test_fork_inside_one_batch_is_rejected_and_the_first_wins(peers: Peers) -> None:
    original = peers.send(1)
    fork = peers.seal_g(1, None, sent_data(1, text="rewritten"))
    report = feed(peers.t.store, [line(original), line(fork)])
    assert ids(report.accepted) == [original.id]
    assert "fork" in reasons(report)[2]


# -- rejections, each with its line number -------------------------------------------------------


def _tamper_sig(peers: Peers, event: Event) -> bytes:
    forger = SigningKey.generate()
    forged = event.evolve(sig=forger.sign(canonical_bytes(event.body())))
    return line(forged)


def _edit_data(peers: Peers, event: Event) -> bytes:
    obj = event.to_json()
    obj["data"] = dict(obj["data"], text="edited on the way")
    return line(obj)


def _truncate(peers: Peers, event: Event) -> bytes:
    full = line(event)
    return full[: len(full) // 2]


def _broken_prev(peers: Peers, event: Event) -> bytes:
    assert event.seq == 2
    return line(peers.seal_g(2, "ab" * 32, sent_data(2)))


def _future(peers: Peers, event: Event) -> bytes:
    later = (NOW + 60_000 + MAX_CLOCK_SKEW_MS + 3_600_000) << 16
    return line(peers.seal_g(2, event.prev, sent_data(2), hlc=later))


def _empty_text(peers: Peers, event: Event) -> bytes:
    return line(peers.seal_g(2, event.prev, sent_data(2, text="   ")))


def _extra_field(peers: Peers, event: Event) -> bytes:
    return line(peers.seal_g(2, event.prev, sent_data(2, colour="red")))


def _from_not_actor(peers: Peers, event: Event) -> bytes:
    return line(peers.seal_g(2, event.prev, sent_data(2, sender="mallory")))


def _bad_mark(peers: Peers, event: Event) -> bytes:
    return line(
        peers.seal_g(
            2, event.prev, {"message": msg_id(1), "mark": "starred"}, type_name="message.marked", version=1
        )
    )


def _unreadable_version(peers: Peers, event: Event) -> bytes:
    return line(peers.seal_g(2, event.prev, sent_data(2), version=99))


def _extra_envelope_field(peers: Peers, event: Event) -> bytes:
    obj = event.to_json()
    obj["note"] = "hi"
    return line(obj)


def _not_json(peers: Peers, event: Event) -> bytes:
    return b"this is not json\n"


REJECTIONS = {
    "forged signature": (_tamper_sig, "signature"),
    "edited data (id mismatch)": (_edit_data, "id does not match"),
    "truncated JSON line": (_truncate, "truncated"),
    "broken prev": (_broken_prev, "broken chain"),
    "clock stamp more than a day ahead": (_future, "ahead"),
    "empty text": (_empty_text, "text"),
    "extra payload field": (_extra_field, "colour"),
    "from is not the actor": (_from_not_actor, "mallory"),
    "unknown mark": (_bad_mark, "starred"),
    "payload version this build cannot read": (_unreadable_version, "v99"),
    "unknown envelope field": (_extra_envelope_field, "note"),
    "not JSON": (_not_json, "JSON"),
}


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_bad_event_is_rejected_with_its_line_number_and_valid_ones_are_kept(peers: Peers, case: str) -> None:
    make_bad, expected = REJECTIONS[case]
    g1, g2 = peers.send(1), peers.send(2)
    tex_event = peers.tex_send(50)
    # A third origin whose events are valid and must be kept next to the bad line.
    other = SigningKey.generate()
    o1 = seal(
        other,
        seq=1,
        prev=None,
        hlc=NOW << 16,
        actor="otto",
        type_name="message.sent",
        version=2,
        data=sent_data(7, sender="otto", to="tex"),
    )
    lines = [line(g1), line(o1), make_bad(peers, g2)]
    before = peers.t.store.count()
    report = feed(peers.t.store, lines)
    assert list(reasons(report)) == [3], report.rejected
    assert expected.lower() in reasons(report)[3].lower(), reasons(report)[3]
    assert ids(report.accepted) == [g1.id, o1.id]
    assert peers.t.store.count() == before + 2
    assert stored_ids(peers.t.store) >= {g1.id, o1.id, tex_event.id}
    assert peers.t.store.verify() == []


def test_rejected_line_numbers_count_blank_lines(peers: Peers) -> None:
    g1 = peers.send(1)
    report = feed(peers.t.store, [b"\n", line(g1), b"   \n", b"{}\n"])
    assert ids(report.accepted) == [g1.id]
    assert list(reasons(report)) == [4]
    assert "missing field" in reasons(report)[4]


def test_reordered_file_rejects_the_event_whose_predecessor_is_missing(peers: Peers) -> None:
    g1, g2, g3 = peers.send(1), peers.send(2), peers.send(3)
    report = feed(peers.t.store, [line(g2), line(g1), line(g3)])
    rej = reasons(report)
    assert 1 in rej
    assert "predecessor" in rej[1]
    assert "missing" in rej[1]
    # seq 1 has no predecessor to miss: it is kept.
    assert g1.id in ids(report.accepted)
    # seq 3 comes after a rejected event of the same origin in this batch: rejected too.
    assert 3 in rej
    assert g3.id not in stored_ids(peers.t.store)
    assert g2.id not in stored_ids(peers.t.store)
    # A later, complete import fills the chain in.
    again = feed(peers.t.store, [line(g1), line(g2), line(g3)])
    assert again.rejected == []
    assert ids(again.accepted) == [g2.id, g3.id]
    assert again.duplicates == 1


def test_missing_predecessor_when_an_earlier_export_was_skipped(peers: Peers) -> None:
    peers.send(1)
    g2 = peers.send(2)
    report = feed(peers.t.store, [line(g2)])
    assert report.accepted == []
    assert list(reasons(report)) == [1]
    assert "missing" in reasons(report)[1]


def test_after_a_rejected_event_later_events_of_that_origin_in_the_batch_are_rejected(
    peers: Peers,
) -> None:
    g1, g2, g3, g4 = (peers.send(n) for n in (1, 2, 3, 4))
    other = SigningKey.generate()
    o1 = seal(
        other,
        seq=1,
        prev=None,
        hlc=NOW << 16,
        actor="otto",
        type_name="message.sent",
        version=2,
        data=sent_data(8, sender="otto"),
    )
    lines = [line(g1), _edit_data(peers, g2), line(g3), line(o1), line(g4)]
    report = feed(peers.t.store, lines)
    rej = reasons(report)
    assert sorted(rej) == [2, 3, 5]
    assert "id does not match" in rej[2]
    assert "earlier event of this origin" in rej[3]
    assert "earlier event of this origin" in rej[5]
    assert ids(report.accepted) == [g1.id, o1.id]


def test_each_bad_line_is_reported_not_only_the_first(peers: Peers) -> None:
    g1 = peers.send(1)
    lines = [b"{\n", line(g1), b"[]\n", b'{"id": 1}\n', b"null\n"]
    report = feed(peers.t.store, lines)
    assert sorted(reasons(report)) == [1, 3, 4, 5]
    assert ids(report.accepted) == [g1.id]


def test_ingest_reports_junk_lines_one_by_one(peers: Peers) -> None:
    """Whatever junk a file holds, ingest reports it line by line instead of crashing."""
    g1, g2 = peers.send(1), peers.send(2)
    obj = g2.to_json()
    junk = [
        b"\xff\xfe garbage\n",
        b'{"a": NaN}\n',
        b"42\n",
        line(dict(obj, data={"x": 1.5})),
        line(dict(obj, seq=True)),
        line(dict(obj, seq=0)),
        line(dict(obj, hlc=-1)),
        line(dict(obj, v="2")),
        line(dict(obj, origin="zz" * 32)),
        line(dict(obj, id="not-a-digest")),
        line(dict(obj, prev=None)),
        line(dict(obj, actor="not a name")),
        line(dict(obj, type="")),
        line(dict(obj, data=["not", "an", "object"])),
        line(dict(obj, sig=None)),
        line({k: v for k, v in obj.items() if k != "sig"}),
    ]
    report = feed(peers.t.store, [line(g1), *junk])
    assert ids(report.accepted) == [g1.id]
    assert sorted(reasons(report)) == list(range(2, 2 + len(junk)))
    assert peers.t.store.verify() == []


def test_nan_in_data_is_rejected_not_a_crash(peers: Peers) -> None:
    """``NaN`` is accepted by Python's JSON reader but has no canonical form: a bad line."""
    g1, g2 = peers.send(1), peers.send(2)
    raw = canonical_text(g2.to_json()).replace('"text":"hello 2"', '"text":NaN')
    assert "NaN" in raw
    report = feed(peers.t.store, [line(g1), (raw + "\n").encode()])
    assert ids(report.accepted) == [g1.id]
    assert list(reasons(report)) == [2]


def test_out_of_range_integers_are_rejected_not_a_crash(peers: Peers) -> None:
    """SQLite stores 64-bit integers; a larger seq in a file is a bad line, not a traceback."""
    g1 = peers.send(1)
    obj = g1.to_json()
    obj.update(seq=2**64, prev="0" * 64)
    report = feed(peers.t.store, [line(g1), line(obj)])
    assert ids(report.accepted) == [g1.id]
    assert list(reasons(report)) == [2]


def test_an_upper_case_spelling_of_a_known_origin_cannot_start_a_second_chain(
    peers: Peers,
) -> None:
    """One key is one origin: (origin, seq) uniqueness and fork detection rely on it."""
    original = peers.send(1)
    feed(peers.t.store, [line(original)])
    body = dict(original.body(), origin=original.origin.upper())
    body["data"] = sent_data(1, text="second history")
    raw = canonical_bytes(body)
    twin = dict(body, id=hashlib.sha256(raw).hexdigest(), sig=peers.gkey.sign(raw))
    report = feed(peers.t.store, [line(twin)])
    assert report.accepted == []
    assert list(reasons(report)) == [1]


def test_a_rejection_is_an_integrity_error_message_that_names_the_problem(peers: Peers) -> None:
    g1 = peers.send(1)
    items: list[tuple[int, Event | IntegrityError]] = [
        (1, IntegrityError("parser said no")),
        (2, g1),
    ]
    report = peers.t.store.ingest(items, NOW + 60_000)
    assert report.rejected == [(1, "parser said no")]
    assert ids(report.accepted) == [g1.id]


def test_marks_from_another_installation_are_accepted(peers: Peers) -> None:
    g1 = peers.send(1)
    mark = peers.g.store.append(peers.gkey, "gregor", MessageMarked(message=msg_id(1), mark="done"), NOW + 5)
    report = feed(peers.t.store, [line(g1), line(mark)])
    assert report.rejected == []
    decoded = peers.t.store.decode(report.accepted[1])
    assert decoded == MessageMarked(message=msg_id(1), mark="done")


def test_export_lines_parse_back_to_identical_events(peers: Peers) -> None:
    events = [peers.send(n) for n in (1, 2)]
    parsed = list(parse_lines([line(e) for e in events]))
    assert [(n, ev) for n, ev in parsed] == [(1, events[0]), (2, events[1])]
    assert json.loads(line(events[0]))["id"] == events[0].id
