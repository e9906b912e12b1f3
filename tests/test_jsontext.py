"""``jsontext`` reads and writes exactly what :mod:`json` does, and fails exactly as it does."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg import jsontext

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
SETTINGS: list[dict[str, Any]] = [
    {},
    {"ensure_ascii": False},
    {"sort_keys": True},
    {"ensure_ascii": False, "sort_keys": True, "separators": (",", ":")},
]


def outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "value", repr(call(*args, **kwargs))
    except Exception as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300)
@given(values, st.sampled_from(SETTINGS))
def test_dumps_writes_what_json_writes(value: Any, options: dict[str, Any]) -> None:
    assert outcome(jsontext.dumps, value, **options) == outcome(json.dumps, value, **options)


@settings(max_examples=200)
@given(values)
def test_dumps_refuses_what_json_refuses_without_nan(value: Any) -> None:
    options: dict[str, Any] = {"allow_nan": False, "sort_keys": True}
    assert outcome(jsontext.dumps, value, **options) == outcome(json.dumps, value, **options)


@settings(max_examples=300)
@given(values, st.sampled_from(SETTINGS), st.sampled_from(["", " ", "\n\t ", "\r"]))
def test_loads_reads_back_what_json_reads(value: Any, options: dict[str, Any], pad: str) -> None:
    text = pad + json.dumps(value, **options) + pad
    assert outcome(jsontext.loads, text) == outcome(json.loads, text)
    raw = text.encode("utf-8", "surrogatepass")
    assert outcome(jsontext.loads, raw) == outcome(json.loads, raw)


@settings(max_examples=500)
@given(st.text(alphabet='{}[]":,.-+eE0123456789 \t\nabtrufnlsINaiy\\\ufeff\x00', max_size=30))
def test_loads_of_any_text_is_json_s_value_or_json_s_error(text: str) -> None:
    assert outcome(jsontext.loads, text) == outcome(json.loads, text)


@settings(max_examples=300)
@given(st.binary(max_size=24))
def test_loads_of_any_bytes_is_json_s_value_or_json_s_error(raw: bytes) -> None:
    assert outcome(jsontext.loads, raw) == outcome(json.loads, raw)


ENCODED = [
    "\ufeff{}",
    "{}".encode("utf-16"),
    "[1]".encode("utf-32"),
    b"\xef\xbb\xbf[2]",
    "[3]".encode("utf-16-le"),
]


@pytest.mark.parametrize("text", ENCODED)
def test_texts_json_decodes_otherwise_get_json_s_answer(text: str | bytes) -> None:
    assert outcome(jsontext.loads, text) == outcome(json.loads, text)


def no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


HOOKED: list[tuple[str, dict[str, Any]]] = [
    ('{"a": NaN}', {"parse_constant": no_constants}),
    ("[Infinity, 1]", {"parse_constant": no_constants}),
    ("[-Infinity]", {}),
    ('{"a": 1, "a": 2}', {"object_pairs_hook": lambda pairs: pairs}),
    ('{"d": {"x": 1}}', {"object_hook": sorted}),
    ('{"d": {"x": 1}', {"object_hook": sorted}),
]


@pytest.mark.parametrize(("text", "hooks"), HOOKED)
def test_hooks_are_called_as_json_calls_them(text: str, hooks: dict[str, Any]) -> None:
    assert outcome(jsontext.loads, text, **hooks) == outcome(json.loads, text, **hooks)


def test_a_refused_text_raises_json_s_own_error() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        jsontext.loads('{"a": [1, 2')
    assert (caught.value.msg, caught.value.pos) == ("Expecting ',' delimiter", 11)


def test_default_and_circular_references_behave_as_in_json() -> None:
    looped: list[Any] = []
    looped.append(looped)
    assert outcome(jsontext.dumps, looped) == outcome(json.dumps, looped)
    assert outcome(jsontext.dumps, {1j}) == outcome(json.dumps, {1j})
    assert jsontext.dumps({"z": {1, 2}}, default=sorted) == json.dumps({"z": {1, 2}}, default=sorted)


def test_good_input_never_imports_json_and_bad_input_gets_json_s_error() -> None:
    code = (
        "import sys\n"
        "from datacore_msg import jsontext\n"
        "assert jsontext.loads(jsontext.dumps({'a': [1, 2.5, None]})) == {'a': [1, 2.5, None]}\n"
        "assert 'json' not in sys.modules and 're' not in sys.modules\n"
        "try:\n"
        "    jsontext.loads('[1,')\n"
        "except ValueError as exc:\n"
        "    print(type(exc).__module__, type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "json.decoder JSONDecodeError Expecting value: line 1 column 4 (char 3)"


@settings(max_examples=300)
@given(st.lists(values, min_size=1, max_size=4), st.sampled_from([*SETTINGS, {"allow_nan": False}]))
def test_a_kept_encoder_writes_and_refuses_what_json_does_call_after_call(
    batch: list[Any], options: dict[str, Any]
) -> None:
    encode = jsontext.encoder(**options)
    looped: list[Any] = []
    looped.append(looped)
    for value in [*batch, looped, {"x": object()}, *batch]:  # a refusal leaves the encoder as it was
        assert outcome(encode, value) == outcome(json.dumps, value, **options)
