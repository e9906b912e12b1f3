"""The shortcuts a rebuild takes read the log exactly as the strict path does.

* the store reads a mark's canonical text without parsing it (:func:`store._mark_texts`): what it
  makes of a text is what ``json.loads`` makes of it, and any other text is parsed;
* the codec passes the values of a payload whose fields all hold their exact type straight to the
  class: the same payload, or the same refusal, as the field-by-field check;
* a mark edited in the log behind the triggers' back fails a rebuild with the codec's own error;
* the bulk load drops and rebuilds a table's indexes and leaves the schema as it was.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.peers import carry, ok

from datacore_msg.app import audit
from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog import codec
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.payloads import MARKS, PAYLOAD_TYPES
from datacore_msg.eventlog.store import _mark_texts
from datacore_msg.readmodels.bulk import without_indexes

_IDS = st.one_of(
    st.from_regex(r"msg-20[0-9]{6}-[0-9]{6}-[0-9a-f]{8}", fullmatch=True),
    st.text(max_size=12),
    st.text(alphabet='ab"\\\n\u2028é-', max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(_IDS, st.one_of(st.sampled_from(MARKS), st.text(max_size=6)), st.data())
def test_a_mark_read_without_parsing_is_what_json_reads(subject: str, mark: str, data: Any) -> None:
    texts = _mark_texts(subject)
    canonical = canonical_text({"mark": mark, "message": subject})
    variant = data.draw(
        st.sampled_from(
            [
                canonical,
                canonical.replace(":", ": "),
                canonical[:-1] + ',"x":1}',
                canonical_text({"mark": mark, "message": subject + "x"}),
                canonical_text({"message": subject, "mark": mark}).replace('{"mark"', '{ "mark"'),
            ]
        )
    )
    for text in (canonical, variant):
        found = texts.get(text)
        if found is not None:
            assert json.loads(text) == {"mark": found, "message": subject}
    plain = subject.isascii() and subject.isprintable() and not {'"', "\\"} & set(subject)
    if mark in MARKS and plain:
        assert texts.get(canonical) == mark


def _strict(type_name: str, data: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setitem(codec._PLAIN, PAYLOAD_TYPES[type_name], None)
        try:
            return codec.decode_payload(type_name, data)
        except IntegrityError as exc:
            return str(exc)


def _decoded(type_name: str, data: Any) -> Any:
    try:
        return codec.decode_payload(type_name, data)
    except IntegrityError as exc:
        return str(exc)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["read", "archive", "tex", "gregor", "A", "", " ", "msg-20260101-000000-0000abcd"]),
    st.lists(st.text(max_size=2), max_size=2),
)
_KEYS = st.sampled_from(
    ["id", "from", "to", "text", "reply_to", "thread", "priority", "message", "mark", "sender", "x"]
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["message.sent", "message.marked"]),
    st.dictionaries(_KEYS, _VALUES, max_size=8),
    st.booleans(),
)
def test_the_codec_shortcut_decodes_and_refuses_as_the_field_by_field_check(
    type_name: str, data: dict[str, Any], complete: bool
) -> None:
    if complete:  # every field present, each drawn value kept where it has the field's type
        base = (
            {"id": "msg-20260101-000000-0000abcd", "from": "tex", "to": "gregor", "text": "hi"}
            | {"reply_to": None, "thread": None, "priority": None}
            if type_name == "message.sent"
            else {"message": "msg-20260101-000000-0000abcd", "mark": "read"}
        )
        data = base | {key: value for key, value in data.items() if key in base}
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _decoded(type_name, data) == _strict(type_name, data, monkeypatch)


@pytest.mark.parametrize(
    "text",
    [
        '{"mark":"sleep","message":"MSG"}',
        '{"mark":"read","message":"MSG","x":1}',
        '{"mark":"read","message":"MSG","mark":"done"}',
        '{"mark":"todo","message":"MSG"}',
        '{"message":"MSG","mark":"done"}',
        '{"mark": "read", "message": "MSG"}',
        '{"mark":"archive","message":"MSG"}',
    ],
)
def test_a_mark_edited_in_the_log_is_read_by_a_rebuild_as_the_codec_reads_it(
    gregor: Any, tex: Any, text: str
) -> None:
    ok(tex.cli("send", "gregor", "hello"))
    carry(tex, gregor)
    with gregor.space() as g:
        [sent] = g.store.query(type_name="message.sent")
        message_id = sent.data["id"]
    ok(gregor.cli("mark", message_id, "read"))
    with gregor.space() as g:
        [mark] = g.store.query(type_name="message.marked")
        path = g.store.path
    stored = text.replace("MSG", message_id)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET data = ? WHERE id = ?", (stored, mark.id))
    finally:
        conn.close()
    try:
        expected: Any = codec.decode_payload("message.marked", json.loads(stored))
    except IntegrityError as exc:
        expected = str(exc)
    with gregor.space() as g:
        if isinstance(expected, str):
            with pytest.raises(IntegrityError) as raised:
                audit.rebuild(g)
            assert str(raised.value) == expected
        else:
            audit.rebuild(g)
            assert audit.rebuild(g, check_only=True).differing == []
            status = "archived" if expected.mark == "archive" else expected.mark
            assert g.views().cache.statuses("inbox") == [(message_id, status)]


def test_a_bulk_load_leaves_the_schema_and_rolls_back_with_an_error(gregor: Any) -> None:
    with gregor.space() as g:
        conn = g.store.conn

        def schema() -> list[tuple[str, str]]:
            return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()

        before = schema()
        named = [row for row in before if row[0].startswith("view_entries_")]
        assert len(named) == 2
        conn.execute("BEGIN IMMEDIATE")
        with without_indexes(conn, "view_entries"):
            assert not [row for row in schema() if row[0].startswith("view_entries_")]
        conn.execute("COMMIT")
        assert schema() == before
        with pytest.raises(ZeroDivisionError), without_indexes(conn, "view_entries"):
            1 / 0  # noqa: B018
        assert schema() == before
        assert not conn.in_transaction
