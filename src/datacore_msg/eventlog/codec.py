"""Payload codec: typed payload objects <-> plain dicts.

Decoding is total: it returns a payload object or raises :class:`~datacore_msg.errors.IntegrityError`
naming the type and every field refused; an unknown type name is reported, never a bare ``KeyError``.

Theory of operation
-------------------
Each payload class (:mod:`datacore_msg.eventlog.payloads`) lists its fields in ``__slots__`` and
annotates each with its type; its ``__init__`` says which fields have defaults. From these the codec
builds, once per class, a field table: the attribute, its JSON key (``from`` for the sender), whether
it is required, whether it is left out of the encoding while None (``request`` on task moves), and the
rule for its value. The rules are strict: ``str``, ``int`` and ``bool`` take exactly that JSON type
(``true`` is not a number, ``5`` is not text), ``X | None`` also ``null``; ``tuple[str, ...]`` takes a
list of strings; ``dict[str, int]`` and ``dict[str, str]`` an object of such values. Nothing is
coerced, so an accepted payload encodes back to exactly the data it came from.

Decoding checks the keys and every value first and reports, in one line, each extra key, each
missing one and each value of the wrong type; only data that passes builds the object, whose
validators may still refuse it (the first refused field is named). Decoding a hostile payload
therefore costs no more than a valid one, and nothing but :class:`IntegrityError` leaves here.
"""

from __future__ import annotations

from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.names import key_name, key_names, shown
from datacore_msg.eventlog.payloads import OMITTED_WHEN_DEFAULT, PAYLOAD_TYPES, RENAMED_FIELDS, Payload
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    #: One field: attribute name, JSON key, required, left out while None, decode, encode, expected.
    _Field = tuple[str, str, bool, bool, Callable[[Any], Any], Callable[[Any], Any], str]
    #: A payload class's fields in attribute order, the same in encoding order (the fields that may
    #: be left out come last), and their keys.
    _Spec = tuple[tuple[_Field, ...], tuple[_Field, ...], frozenset[str]]

#: A value refused by a rule.
_REFUSED: Any = object()

_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}


def _exact(kind: type, optional: bool) -> tuple[Callable[[Any], Any], str]:
    def check(value: Any) -> Any:
        return value if type(value) is kind or (optional and value is None) else _REFUSED

    return check, _NAMES[kind] + (" or null" if optional else "")


def _str_list(value: Any) -> Any:
    return tuple(value) if type(value) is list and all(type(i) is str for i in value) else _REFUSED


def _str_tuple(value: Any) -> Any:
    return list(value) if type(value) is tuple and all(type(i) is str for i in value) else _REFUSED


def _mapping_of(item: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is dict and all(type(k) is str and type(v) is item for k, v in value.items()):
            return dict(value)
        return _REFUSED

    return convert


#: Declared type -> (decode, encode, what a JSON value must be).
_RULES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], str]] = {}
for _declared, _kind, _optional in (
    ("str", str, False),
    ("int", int, False),
    ("bool", bool, False),
    ("str | None", str, True),
    ("int | None", int, True),
):
    _check, _what = _exact(_kind, _optional)
    _RULES[_declared] = (_check, _check, _what)
_RULES["tuple[str, ...]"] = (_str_list, _str_tuple, "a list of strings")
_RULES["dict[str, int]"] = (_mapping_of(int), _mapping_of(int), "an object of whole numbers")
_RULES["dict[str, str]"] = (_mapping_of(str), _mapping_of(str), "an object of strings")

_SPECS: dict[type[Any], _Spec] = {}
#: Per payload class whose every field takes exactly one JSON type (or also null): (attribute, key,
#: type, nullable) of each field, for :func:`decode_payload`'s shortcut; None for the other classes.
_PLAIN: dict[type[Any], tuple[tuple[str, str, type, bool], ...] | None] = {}
_PLAIN_RULES = {"str": (str, False), "int": (int, False), "bool": (bool, False)}
_PLAIN_RULES |= {"str | None": (str, True), "int | None": (int, True)}


def _plain(cls: type[Any]) -> tuple[tuple[str, str, type, bool], ...] | None:
    renamed = RENAMED_FIELDS.get(cls, {})
    declared = _annotations(cls)
    if not all(declared[name] in _PLAIN_RULES for name in cls._FIELDS):
        return None
    return tuple((name, renamed.get(name, name), *_PLAIN_RULES[declared[name]]) for name in cls._FIELDS)


def _defaulted(cls: type[Any]) -> set[str]:
    """The parameters of ``cls.__init__`` that have a default (positional or keyword-only)."""
    init = cls.__init__
    code = init.__code__
    positional = code.co_varnames[1 : code.co_argcount]
    defaults = init.__defaults__ or ()
    names = set(positional[len(positional) - len(defaults) :])
    return names | set(init.__kwdefaults__ or {})


def _annotations(cls: type[Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        merged.update(base.__dict__.get("__annotations__", {}))  # noqa: RUF063 (plain strings here)
    return merged


def spec(cls: type[Any]) -> _Spec:
    """The field table of payload class ``cls`` (built on first use; see the module docstring)."""
    found = _SPECS.get(cls)
    if found is not None:
        return found
    renamed = RENAMED_FIELDS.get(cls, {})
    declared = _annotations(cls)
    defaulted = _defaulted(cls)
    fields: list[_Field] = []
    for name in cls._FIELDS:
        decode, encode, expected = _RULES[declared[name]]
        omit = name in OMITTED_WHEN_DEFAULT
        fields.append((name, renamed.get(name, name), name not in defaulted, omit, decode, encode, expected))
    written = tuple(f for f in fields if not f[3]) + tuple(f for f in fields if f[3])
    built: _Spec = (tuple(fields), written, frozenset(f[1] for f in fields))
    _SPECS[cls] = built
    return built


def known_type(type_name: str) -> bool:
    return type_name in PAYLOAD_TYPES


def current_version(type_name: str) -> int:
    return int(PAYLOAD_TYPES[type_name].VERSION)


def encode_payload(payload: Payload) -> dict[str, Any]:
    cls = type(payload)
    fields = (_SPECS.get(cls) or spec(cls))[1]
    out: dict[str, Any] = {}
    for name, key, _, omit, _, encode, expected in fields:
        value = getattr(payload, name)
        if value is None and omit:
            continue
        encoded = encode(value)
        if encoded is _REFUSED:
            raise IntegrityError(f"{payload.TYPE}: {key} is not {expected}: {shown(value)}")
        out[key] = encoded
    return out


def decode_payload(type_name: str, data: Any) -> Payload:
    cls = PAYLOAD_TYPES.get(type_name) if type(type_name) is str else None
    if cls is None:
        raise IntegrityError(f"unknown event type {key_name(type_name)!r}")
    if not isinstance(data, dict):
        raise IntegrityError(f"{type_name}: payload is not an object")
    plain = _PLAIN[cls] if cls in _PLAIN else _PLAIN.setdefault(cls, _plain(cls))
    if plain is not None and len(data) == len(plain):
        # Every field present with a value of its type: the values pass as they are, as below.
        given: dict[str, Any] = {}
        for name, key, kind, nullable in plain:
            value = data.get(key, _REFUSED)
            if type(value) is not kind and not (nullable and value is None):
                break
            given[name] = value
        else:
            try:
                return cls(**given)  # type: ignore[no-any-return]
            except (ValueError, TypeError) as exc:
                raise IntegrityError(f"{type_name}: invalid payload: {exc}") from None
    fields, _, keys = _SPECS.get(cls) or spec(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, key, required, _, decode, _, expected in fields:
        if key not in data:
            if required:
                problems.append(f"missing field {key!r}")
            continue
        value = decode(data[key])
        if value is _REFUSED:
            problems.append(f"{key}: expected {expected}, got {_json_type(data[key])}")
        else:
            values[name] = value
    if not keys.issuperset(data):
        extra = [key for key in data if type(key) is not str or key not in keys]
        problems.append(f"extra field(s): {key_names(extra)}")
    if problems:
        raise IntegrityError(f"{type_name}: invalid payload: {'; '.join(problems)}")
    try:
        payload: Payload = cls(**values)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"{type_name}: invalid payload: {exc}") from None
    return payload


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )
