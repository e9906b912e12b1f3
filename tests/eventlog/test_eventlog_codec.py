"""The payload codec, the envelope parser and canonical bytes: total, faithful, deterministic."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog import payloads
from datacore_msg.eventlog.canonical import canonical_bytes, canonical_text
from datacore_msg.eventlog.codec import decode_payload, encode_payload, known_type
from datacore_msg.eventlog.envelope import ENVELOPE_FIELDS, Event, from_json, parse_line, seal
from datacore_msg.eventlog.names import ACTOR_RE, MESSAGE_ID_RE
from datacore_msg.eventlog.payloads import MARKS, MessageMarked, MessageSent
from datacore_msg.eventlog.signing import SigningKey

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

actors = st.from_regex(ACTOR_RE, fullmatch=True)
message_ids = st.from_regex(MESSAGE_ID_RE, fullmatch=True)
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200).filter(lambda s: bool(s.strip()))
priorities = st.sampled_from([None, "A", "B", "C"])

message_sent = st.builds(
    MessageSent,
    id=message_ids,
    sender=actors,
    to=actors,
    text=texts,
    reply_to=st.none() | message_ids,
    thread=st.none() | message_ids,
    priority=priorities,
)
message_marked = st.builds(MessageMarked, message=message_ids, mark=st.sampled_from(MARKS))

json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = [
    "id",
    "from",
    "to",
    "text",
    "reply_to",
    "thread",
    "priority",
    "message",
    "mark",
    "sender",
    "body",
]
payload_like = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), json_values, max_size=9)


def valid_sent_dict() -> dict[str, Any]:
    return {
        "id": "msg-20250615-120000-0000abcd",
        "from": "gregor",
        "to": "tex",
        "text": "hello",
        "reply_to": None,
        "thread": None,
        "priority": None,
    }


# -- payload codec ---------------------------------------------------------------------------------


@FAST
@given(payload=message_sent | message_marked)
def test_payload_round_trips_through_encode_and_decode(payload: MessageSent | MessageMarked) -> None:
    data = encode_payload(payload)
    assert decode_payload(payload.TYPE, data) == payload
    # ... and through the canonical JSON bytes that are hashed and signed.
    assert decode_payload(payload.TYPE, json.loads(canonical_bytes(data))) == payload


@FAST
@given(payload=message_sent)
def test_message_sent_is_encoded_with_from_not_sender(payload: MessageSent) -> None:
    data = encode_payload(payload)
    assert set(data) == {"id", "from", "to", "text", "reply_to", "thread", "priority"}
    assert data["from"] == payload.sender
    assert data["text"] == payload.text


@FAST
@given(type_name=st.sampled_from(["message.sent", "message.marked"]), data=payload_like)
def test_decode_payload_returns_a_payload_or_raises_integrity_error_only(
    type_name: str, data: dict[str, Any]
) -> None:
    try:
        result = decode_payload(type_name, data)
    except IntegrityError as exc:
        assert type_name in str(exc)
    else:
        assert isinstance(result, MessageSent | MessageMarked)
        assert type_name == result.TYPE


@FAST
@given(type_name=st.sampled_from(["message.sent", "message.marked"]), data=json_values)
def test_decode_payload_of_any_json_value_is_total(type_name: str, data: Any) -> None:
    with contextlib.suppress(IntegrityError):
        decode_payload(type_name, data)


@FAST
@given(
    field=st.sampled_from(["id", "from", "to", "text", "reply_to", "thread", "priority"]),
    value=json_values,
)
def test_one_bad_field_in_a_valid_message_is_rejected_or_kept_exactly(field: str, value: Any) -> None:
    data = valid_sent_dict()
    data[field] = value
    try:
        payload = decode_payload("message.sent", data)
    except IntegrityError:
        return
    # If accepted, the payload holds exactly what was sent (nothing coerced).
    assert encode_payload(payload) == data


def test_unknown_type_name_is_an_integrity_error() -> None:
    assert not known_type("poll.created")
    with pytest.raises(IntegrityError, match="unknown event type"):
        decode_payload("poll.created", {})


def test_extra_payload_field_is_rejected_naming_it() -> None:
    with pytest.raises(IntegrityError, match="colour"):
        decode_payload("message.sent", {**valid_sent_dict(), "colour": "red"})


def test_missing_payload_field_is_rejected_naming_it() -> None:
    data = valid_sent_dict()
    del data["to"]
    with pytest.raises(IntegrityError, match="'to'"):
        decode_payload("message.sent", data)


def test_optional_payload_fields_may_be_omitted() -> None:
    data = {key: valid_sent_dict()[key] for key in ("id", "from", "to", "text")}
    payload = decode_payload("message.sent", data)
    assert isinstance(payload, MessageSent)
    assert (payload.reply_to, payload.thread, payload.priority) == (None, None, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", 5),
        ("text", ["hello"]),
        ("text", {"a": 1}),
        ("to", 5),
        ("from", 12345),
        ("to", None),
        ("from", None),
        ("id", None),
        ("priority", 1),
    ],
    ids=lambda v: json.dumps(v) if not isinstance(v, str) else v,
)
def test_payload_field_of_the_wrong_json_type_is_rejected_not_coerced(field: str, value: Any) -> None:
    """A number or list where text is expected is an invalid payload, not a string "5"."""
    data = {**valid_sent_dict(), field: value}
    with pytest.raises(IntegrityError):
        decode_payload("message.sent", data)


def test_mark_of_the_wrong_json_type_is_rejected() -> None:
    with pytest.raises(IntegrityError):
        decode_payload("message.marked", {"message": "msg-20250615-120000-0000abcd", "mark": 1})


# -- every payload type: encoding, strictness, errors ------------------------------------------

TASK = "task-20261207-044000-abcdef12"
MSG = "msg-20250615-120000-0000abcd"
REQUEST = "ab" * 32
#: One valid payload of every type, each with its optional fields set (and a second with them unset).
EXAMPLES: list[Any] = [
    payloads.MessageSent(MSG, "gregor", "tex", "hi", reply_to=TASK, thread=MSG, priority="A"),
    payloads.MessageSent(MSG, "gregor", "tex", "hi"),
    payloads.MessageMarked(MSG, "todo"),
    payloads.TaskRequested(TASK, "tex", "gregor-claude", "do it", ("a", "b_1"), 3, 2000, "B"),
    payloads.TaskRequested(TASK, "tex", "gregor-claude", "do it"),
    payloads.TaskDecided(
        TASK, "accepted", "auto_accept", "fine", "owner", {"queue": 2}, 5, 7, request=REQUEST
    ),
    payloads.TaskDecided(TASK, "held", "hold", "wait", "team"),
    payloads.TaskApproved(TASK, "ok", request=REQUEST),
    payloads.TaskRejected(TASK),
    payloads.TaskCancelled(TASK, "no"),
    payloads.TaskClaimed(TASK, 12, request=REQUEST),
    payloads.TaskCompleted(TASK, 10, "1.25", "/tmp/out.md", "0.50"),
    payloads.TaskCompleted(TASK, 0),
    payloads.TaskRetried(TASK, "slow", True),
    payloads.TaskRetried(TASK),
    payloads.TaskRevised(TASK, "again"),
    payloads.TaskArchived(TASK, request=REQUEST),
    payloads.MessageImported(MSG, "msg-20251212-143000-gregor", "gregor", "tex", "old", at=5),
    payloads.TaskImported(
        TASK, "org-1", "tex", "gregor-claude", "old task", "WAITING", ("x",), 2, 9, "C", {"OWNER": "g"}, 1, 2
    ),
]
assert {type(p) for p in EXAMPLES} == set(payloads.PAYLOAD_TYPES.values())

#: The encoding of the first examples as the log has always held them (key order included).
ENCODED: list[tuple[Any, dict[str, Any]]] = [
    (
        EXAMPLES[0],
        {
            "id": MSG,
            "from": "gregor",
            "to": "tex",
            "text": "hi",
            "reply_to": TASK,
            "thread": MSG,
            "priority": "A",
        },
    ),
    (EXAMPLES[2], {"message": MSG, "mark": "todo"}),
    (
        EXAMPLES[4],
        {
            "id": TASK,
            "from": "tex",
            "to": "gregor-claude",
            "text": "do it",
            "tags": [],
            "effort": None,
            "tokens": None,
            "priority": None,
        },
    ),
    (
        EXAMPLES[5],
        {
            "task": TASK,
            "outcome": "accepted",
            "rule": "auto_accept",
            "reason": "fine",
            "tier": "owner",
            "figures": {"queue": 2},
            "retry_after": 5,
            "at": 7,
            "request": REQUEST,
        },
    ),
    (EXAMPLES[8], {"task": TASK, "reason": None}),
    (
        EXAMPLES[13],
        {
            "task": TASK,
            "reason": "slow",
            "timeout": True,
        },
    ),
]


@pytest.mark.parametrize(("payload", "data"), ENCODED, ids=lambda v: getattr(v, "TYPE", ""))
def test_payloads_encode_as_the_log_holds_them_key_for_key(payload: Any, data: dict[str, Any]) -> None:
    assert list(encode_payload(payload).items()) == list(data.items())


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: p.TYPE)
def test_every_payload_type_round_trips_and_encodes_only_json_types(payload: Any) -> None:
    data = encode_payload(payload)
    assert json.loads(json.dumps(data)) == data
    assert decode_payload(payload.TYPE, data) == payload
    assert decode_payload(payload.TYPE, json.loads(json.dumps(data))) == payload


@pytest.mark.parametrize(
    ("type_name", "changes", "expected"),
    [
        ("message.sent", {"colour": "red"}, "message.sent: invalid payload: extra field(s): colour"),
        ("message.sent", {"to": 5}, "message.sent: invalid payload: to: expected a string, got a number"),
        ("message.sent", {"to": None}, "to: expected a string, got null"),
        ("message.sent", {"priority": True}, "priority: expected a string or null, got true"),
        ("message.sent", {"priority": "Z"}, "invalid payload: priority: 'Z' is not one of A, B, C"),
        ("task.requested", {"tags": "owner"}, "tags: expected a list of strings, got a string"),
        ("task.requested", {"tags": {"queue": 2}}, "tags: expected a list of strings, got an object"),
        ("task.requested", {"tags": ["a", "a"]}, "invalid payload: tags: a tag is repeated"),
        ("task.requested", {"effort": 1.0}, "effort: expected a whole number or null, got a number"),
        ("task.decided", {"figures": {"queue": True}}, "figures: expected an object of whole numbers"),
        ("task.retried", {"timeout": 1}, "timeout: expected true or false, got a number"),
        ("task.claimed", {"request": "xy"}, "request: 'xy' is not an event id"),
    ],
)
def test_a_refused_field_is_named_in_one_line(type_name: str, changes: dict[str, Any], expected: str) -> None:
    example = next(p for p in EXAMPLES if type_name == p.TYPE)
    with pytest.raises(IntegrityError) as caught:
        decode_payload(type_name, {**encode_payload(example), **changes})
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_problem_of_a_payload_is_named_at_once() -> None:
    data = {"id": 5, "text": "x", "colour": 1, "size": 2}
    with pytest.raises(IntegrityError) as caught:
        decode_payload("message.sent", data)
    assert str(caught.value) == (
        "message.sent: invalid payload: id: expected a string, got a number; missing field 'from'; "
        "missing field 'to'; extra field(s): colour, size"
    )


def test_a_flood_of_extra_keys_gives_a_short_error() -> None:
    data = {**encode_payload(EXAMPLES[2]), **{"k" * 1000 + str(i): i for i in range(1000)}}
    with pytest.raises(IntegrityError) as caught:
        decode_payload("message.marked", data)
    assert len(str(caught.value)) < 400


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.sampled_from(EXAMPLES),
    changes=st.dictionaries(
        st.sampled_from([*FIELD_NAMES, "task", "tags", "figures", "request", "x"]) | st.text(max_size=4),
        json_values | st.sampled_from([TASK, MSG, REQUEST, "A", "read", ["a"], {"a": 1}, "owner"]),
        max_size=3,
    ),
    dropped=st.sets(
        st.sampled_from(["id", "from", "to", "text", "task", "mark", "tags", "request", "outcome"]),
        max_size=2,
    ),
)
def test_any_payload_decodes_to_exactly_its_data_or_to_one_integrity_error(
    payload: Any, changes: dict[str, Any], dropped: set[str]
) -> None:
    """Valid or hostile: nothing is coerced (an accepted payload encodes back to its very data, but
    for a ``request`` of null, which is the same as none), and nothing but IntegrityError escapes."""
    data = {**encode_payload(payload), **changes}
    for key in dropped:
        data.pop(key, None)
    try:
        decoded = decode_payload(payload.TYPE, data)
    except IntegrityError as exc:
        assert str(exc).startswith(f"{payload.TYPE}: invalid payload: ")
        return
    assert type(decoded) is type(payload)
    again = encode_payload(decoded)
    expected = {k: v for k, v in data.items() if not (k == "request" and v is None)}
    defaults = {k: v for k, v in again.items() if k not in data}
    assert {**expected, **defaults} == again
    assert all(v in (None, [], {}, False) for v in defaults.values())


class _Unprintable:
    """A key of a dict built in Python whose ``str`` and ``repr`` fail."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


BIG_TEXT = "x" * 65_536
HUGE_NUMBER = 10**5000  # more digits than Python prints


@pytest.mark.parametrize(
    ("type_name", "changes", "named"),
    [
        ("message.sent", {"to": BIG_TEXT}, "to: 'xxx"),
        ("message.sent", {"id": BIG_TEXT}, "id: 'xxx"),
        ("message.sent", {"priority": BIG_TEXT}, "priority: 'xxx"),
        ("message.sent", {"to": "\x00" * 65_536}, "to: '\\x00"),
        ("message.marked", {"mark": BIG_TEXT}, "mark: 'xxx"),
        ("task.requested", {"tags": [BIG_TEXT]}, "tags: 'xxx"),
        ("task.decided", {"rule": BIG_TEXT}, "rule: 'xxx"),
        ("task.decided", {"figures": {BIG_TEXT: 1}}, "figures: 'xxx"),
        ("task.decided", {"figures": {"queue": HUGE_NUMBER}}, "figures.queue: a number of 16610 bits"),
        ("task.completed", {"tokens": HUGE_NUMBER}, "tokens: a number of 16610 bits"),
        ("task.completed", {"result": BIG_TEXT + "\n"}, "result: 'xxx"),
        ("task.imported", {"properties": {BIG_TEXT: "x"}}, "properties: 'xxx"),
    ],
)
def test_a_huge_refused_value_is_named_in_a_short_line(
    type_name: str, changes: dict[str, Any], named: str
) -> None:
    """A validator shows the value it refuses cut short; a number too long to print is described
    (it was printed as Python's own complaint, naming no field)."""
    example = next(p for p in EXAMPLES if type_name == p.TYPE)
    with pytest.raises(IntegrityError) as caught:
        decode_payload(type_name, {**encode_payload(example), **changes})
    message = str(caught.value)
    assert message.startswith(f"{type_name}: invalid payload: {named}"), message[:300]
    assert len(message) < 300 and "\n" not in message


@pytest.mark.parametrize(
    ("key", "shown"),
    [(HUGE_NUMBER, "<int>"), (_Unprintable(), "<_Unprintable>"), (None, "<NoneType>"), ((1, 2), "<tuple>")],
    ids=["huge-number", "unprintable", "none", "tuple"],
)
def test_a_key_that_is_not_text_is_an_extra_field_named_by_its_type(key: Any, shown: str) -> None:
    data = {**encode_payload(EXAMPLES[0]), key: 1}
    with pytest.raises(IntegrityError) as caught:
        decode_payload(EXAMPLES[0].TYPE, data)
    assert str(caught.value) == f"{EXAMPLES[0].TYPE}: invalid payload: extra field(s): {shown}"


@pytest.mark.parametrize(
    "type_name",
    [["message.sent"], {"a": 1}, None, 5, "t" * 100_000],
    ids=["list", "dict", "none", "number", "long-text"],
)
def test_a_type_name_that_is_no_known_text_is_an_integrity_error_in_a_short_line(type_name: Any) -> None:
    with pytest.raises(IntegrityError) as caught:
        decode_payload(type_name, encode_payload(EXAMPLES[0]))
    assert str(caught.value).startswith("unknown event type ")
    assert len(str(caught.value)) < 100


python_keys = (
    st.text(max_size=6) | st.integers() | st.none() | st.tuples(st.integers()) | st.binary(max_size=4)
)
python_values = st.recursive(
    json_scalars | st.floats() | st.integers() | st.binary(max_size=8) | st.text(min_size=70, max_size=300),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.dictionaries(python_keys, inner, max_size=4)
        | st.sets(st.integers(), max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.sampled_from(EXAMPLES),
    changes=st.dictionaries(
        st.sampled_from([*FIELD_NAMES, "task", "tags", "figures", "properties", "tokens", "rule"])
        | python_keys,
        python_values,
        max_size=3,
    ),
)
def test_a_dict_built_in_python_decodes_or_gives_one_short_integrity_error(
    payload: Any, changes: dict[Any, Any]
) -> None:
    """Any keys, any Python values (sets, bytes, floats, long texts, huge numbers): a payload or
    one short line, never another exception."""
    data = {**encode_payload(payload), **changes}
    try:
        decode_payload(payload.TYPE, data)
    except IntegrityError as exc:
        message = str(exc)
        assert message.startswith(f"{payload.TYPE}: invalid payload: ")
        assert "\n" not in message and len(message) < 1200, message[:300]


# -- envelope parser -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300))
def test_parse_line_on_arbitrary_bytes_gives_an_event_or_integrity_error(raw: bytes) -> None:
    try:
        result = parse_line(raw)
    except IntegrityError:
        return
    assert isinstance(result, Event)


@FAST
@given(
    obj=st.dictionaries(
        st.sampled_from(list(ENVELOPE_FIELDS)) | st.text(max_size=4), json_values, max_size=11
    )
)
def test_parse_line_on_arbitrary_json_objects_gives_an_event_or_integrity_error(
    obj: dict[str, Any],
) -> None:
    for raw in (json.dumps(obj), json.dumps(obj).encode("utf-8")):
        try:
            result = parse_line(raw)
        except IntegrityError:
            continue
        assert isinstance(result, Event)


def test_parse_line_on_deeply_nested_json_is_an_integrity_error() -> None:
    """A hostile import line must be a rejected line, not a RecursionError traceback."""
    with pytest.raises(IntegrityError):
        parse_line(b"[" * 100_000)
    with pytest.raises(IntegrityError):
        parse_line(b'{"data":' * 50_000)


@FAST
@given(payload=message_sent | message_marked, seq=st.integers(1, 10**6))
def test_sealed_event_round_trips_through_its_json_line(
    payload: MessageSent | MessageMarked, seq: int
) -> None:
    key = _KEY
    event = seal(
        key,
        seq=seq,
        prev=None if seq == 1 else "ab" * 32,
        hlc=(1_750_000_000_000 << 16) + seq,
        actor="gregor",
        type_name=payload.TYPE,
        version=payload.VERSION,
        data=encode_payload(payload),
    )
    assert parse_line(canonical_text(event.to_json()) + "\n") == event
    assert parse_line(canonical_bytes(event.to_json())) == event


_KEY = SigningKey.generate()


def test_from_json_refuses_seq_1_with_a_prev_and_later_seq_without_one() -> None:
    event = seal(_KEY, seq=1, prev=None, hlc=1, actor="gregor", type_name="x", version=1, data={})
    obj = event.to_json()
    with pytest.raises(IntegrityError, match="seq 1 must have no prev"):
        from_json({**obj, "prev": "ab" * 32})
    with pytest.raises(IntegrityError, match="prev"):
        from_json({**obj, "seq": 2})


def test_from_json_rejects_booleans_posing_as_integers() -> None:
    event = seal(_KEY, seq=1, prev=None, hlc=1, actor="gregor", type_name="x", version=1, data={})
    with pytest.raises(IntegrityError, match="seq"):
        from_json({**event.to_json(), "seq": True})


@pytest.mark.parametrize(
    ("type_name", "accepted"),
    [
        ("message.sent", True),
        ("relay.presence_v2", True),
        ("x", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("Message.sent", False),
        ("message..sent", False),
        (".message", False),
        ("message.", False),
        ("message sent", False),
        ("message.1sent", False),
        ("message-sent", False),
        ("message.sent\n", False),
        ("t\u00e4sk.x", False),
    ],
)
def test_from_json_takes_only_event_type_names(type_name: str, accepted: bool) -> None:
    """An unknown type is stored for a later release, but only a name of the form every release
    uses: a hostile peer cannot store a 64 KiB or a control-character type name."""
    event = seal(_KEY, seq=1, prev=None, hlc=1, actor="gregor", type_name="x", version=1, data={})
    line = {**event.to_json(), "type": type_name}
    if accepted:
        assert from_json(line).type == type_name
    else:
        with pytest.raises(IntegrityError, match="is not an event type") as caught:
            from_json(line)
        assert len(str(caught.value)) < 300


# -- canonical bytes -------------------------------------------------------------------------------


@FAST
@given(value=st.dictionaries(st.text(max_size=6), json_values, max_size=8), seed=st.randoms())
def test_canonical_bytes_do_not_depend_on_key_order(value: dict[str, Any], seed: Any) -> None:
    items = list(value.items())
    seed.shuffle(items)
    assert canonical_bytes(dict(items)) == canonical_bytes(value)
    assert canonical_bytes(dict(reversed(items))) == canonical_bytes(value)


@FAST
@given(value=json_values)
def test_canonical_bytes_decode_back_to_the_same_value(value: Any) -> None:
    raw = canonical_bytes(value)
    assert json.loads(raw.decode("utf-8")) == value
    assert canonical_text(value).encode("utf-8") == raw


def test_canonical_bytes_keep_non_ascii_as_utf8() -> None:
    text = "Grüße, čšž, 日本語, 🙂"
    raw = canonical_bytes({"text": text})
    assert raw == ('{"text":"' + text + '"}').encode("utf-8")
    assert b"\\u" not in raw


def test_canonical_bytes_sort_keys_and_have_no_spaces() -> None:
    assert canonical_bytes({"b": [1, {"d": 2, "c": None}], "a": "x y"}) == (
        b'{"a":"x y","b":[1,{"c":null,"d":2}]}'
    )


def test_canonical_bytes_refuse_nan() -> None:
    with pytest.raises(ValueError):
        canonical_bytes({"x": float("nan")})


_ID_ALPHABET = "msgtak-0123456789abcdefABCDEF\u0663\u09e6\u00b2_@.+ \n"


@settings(max_examples=400)
@given(
    st.one_of(
        st.text(alphabet=_ID_ALPHABET, max_size=34),
        st.from_regex(r"(msg|task)-[0-9\u0663]{8}-[0-9\u0663]{6}-[0-9a-fA-F]{8}", fullmatch=True),
        st.text(max_size=70),
    )
)
def test_name_checkers_accept_exactly_what_their_patterns_match(value: str) -> None:
    from datacore_msg.eventlog import names

    for checker, pattern in (
        (names.is_actor, names.ACTOR_RE),
        (names.is_message_id, names.MESSAGE_ID_RE),
        (names.is_task_id, names.TASK_ID_RE),
        (names.is_tag, names.TAG_RE),
    ):
        assert checker(value) == (pattern.fullmatch(value) is not None), (checker.__name__, value)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"id": "a\x01b"}', "not valid JSON (Invalid control character at column 10)"),
        ('{"id": ', "not valid JSON (Expecting value at column 8)"),
        ('{"id": 1} x', "not valid JSON (Extra data at column 11)"),
    ],
)
def test_a_line_that_is_not_json_is_named_with_json_s_reason_and_column(line: str, said: str) -> None:
    from datacore_msg.eventlog.envelope import parse_line

    with pytest.raises(IntegrityError) as refused:
        parse_line(line)
    assert str(refused.value) == said
