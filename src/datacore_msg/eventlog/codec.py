"""Payload codec: typed payload objects <-> plain dicts.

Decoding is total: it returns a payload object or raises :class:`~datacore_msg.errors.IntegrityError`
naming the type and the field; an unknown type name is reported, never a bare ``KeyError``.

Theory of operation
-------------------
The rules are those of one cattrs converter (strict ``str``, ``int`` and ``bool``, no extra keys,
``from`` for the sender, ``request`` left out while it is None). Importing cattrs and generating its
hooks costs more than the rest of a command, so every payload first takes a plain path
(:func:`_plain_decode`, :func:`_plain_encode`) built from the payload classes' own field list: it
accepts only what it can check exactly -- each field present or defaulted, of exactly its declared
type, no other key -- and builds the object through its validators. Anything else (an extra or
missing key, a value of another type, a validator's refusal) goes to the cattrs converter, which
gives the very result or error it always gave. ``tests/eventlog/test_eventlog_codec.py`` checks that
both paths agree on valid and on hostile payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import attrs

from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.payloads import OMITTED_WHEN_DEFAULT, PAYLOAD_TYPES, RENAMED_FIELDS, Payload

if TYPE_CHECKING:
    import cattrs


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    return int(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _build_converter() -> cattrs.Converter:
    import cattrs

    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(bool, _strict_bool)
    return converter


_READY: set[type[Any]] = set()


@cache
def converter() -> cattrs.Converter:
    """The cattrs converter (built on first use: only a payload the plain path declines needs it)."""
    return _build_converter()


def _prepared(cls: type[Any]) -> type[Any]:
    """Generate a payload class's cattrs hooks on first use."""
    if cls not in _READY:
        from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

        conv = converter()
        renamed = RENAMED_FIELDS.get(cls, {})
        renames: dict[str, Any] = {name: override(rename=key) for name, key in renamed.items()}
        omitted: dict[str, Any] = {
            a.name: override(omit_if_default=True)
            for a in attrs.fields(cls)
            if a.name in OMITTED_WHEN_DEFAULT
        }
        conv.register_structure_hook(
            cls, make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **renames)
        )
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **renames, **omitted))
        _READY.add(cls)
    return cls


# -- the plain path ----------------------------------------------------------------------------------


#: A composite field's value refused by its converter (the payload goes to the cattrs path).
_REFUSED: Any = object()


def _str_list_in(value: Any) -> Any:
    return tuple(value) if type(value) is list and all(type(i) is str for i in value) else _REFUSED


def _str_tuple_out(value: Any) -> Any:
    return list(value) if type(value) is tuple and all(type(i) is str for i in value) else _REFUSED


def _mapping_of(item: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is dict and all(type(k) is str and type(v) is item for k, v in value.items()):
            return dict(value)
        return _REFUSED

    return convert


#: Declared type -> (its exact type, None allowed) for a plain value, or (decode, encode) converters
#: for a composite one (each returns the converted value or _REFUSED).
_PLAIN: dict[str, tuple[type, bool]] = {
    "str": (str, False),
    "int": (int, False),
    "bool": (bool, False),
    "str | None": (str, True),
    "int | None": (int, True),
}
_COMPOSITE: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "tuple[str, ...]": (_str_list_in, _str_tuple_out),
    "dict[str, int]": (_mapping_of(int), _mapping_of(int)),
    "dict[str, str]": (_mapping_of(str), _mapping_of(str)),
}

#: One field: attribute name, key, required, left out while None, exact type, None allowed, and the
#: composite converters (None for a plain value).
_Field = tuple[str, str, bool, bool, type, bool, "tuple[Callable[[Any], Any], Callable[[Any], Any]] | None"]
#: A payload class's fields in attribute order, the same in encoding order (cattrs writes the fields
#: it may leave out after the others), and their keys.
_Spec = tuple[tuple[_Field, ...], tuple[_Field, ...], frozenset[str]]
#: Per payload class: its spec, or None when a field's type has no plain rule.
_FIELDS: dict[type[Any], _Spec | None] = {}


def _field(attribute: attrs.Attribute[Any], key: str) -> _Field:
    declared = str(attribute.type)
    exact, optional = _PLAIN.get(declared, (object, False))
    omit = attribute.name in OMITTED_WHEN_DEFAULT and attribute.default is None
    required = attribute.default is attrs.NOTHING
    return (attribute.name, key, required, omit, exact, optional, _COMPOSITE.get(declared))


def _fields(cls: type[Any]) -> _Spec | None:
    if cls in _FIELDS:
        return _FIELDS[cls]
    renamed = RENAMED_FIELDS.get(cls, {})
    attributes = attrs.fields(cls)
    spec: _Spec | None = None
    known = _PLAIN.keys() | _COMPOSITE.keys()
    if all(str(a.type) in known and a.init and a.alias == a.name for a in attributes):
        fields = tuple(_field(a, renamed.get(a.name, a.name)) for a in attributes)
        written = tuple(f for f in fields if not f[3]) + tuple(f for f in fields if f[3])
        spec = (fields, written, frozenset(f[1] for f in fields))
    _FIELDS[cls] = spec
    return spec


def _plain_decode(cls: type[Any], data: dict[Any, Any]) -> Payload | None:
    """The payload, when every field checks exactly; None sends ``data`` to the cattrs path."""
    spec = _FIELDS[cls] if cls in _FIELDS else _fields(cls)
    if spec is None:
        return None
    fields, _, keys = spec
    if not keys.issuperset(data):
        return None
    values: dict[str, Any] = {}
    for name, key, required, _, exact, optional, composite in fields:
        if key not in data:
            if required:
                return None
            continue
        value = data[key]
        if composite is not None:
            value = composite[0](value)
            if value is _REFUSED:
                return None
        elif type(value) is not exact and not (optional and value is None):
            return None
        values[name] = value
    try:
        payload: Payload = cls(**values)
    except (ValueError, TypeError):
        return None
    return payload


def _plain_encode(payload: Payload) -> dict[str, Any] | None:
    cls = type(payload)
    spec = _FIELDS[cls] if cls in _FIELDS else _fields(cls)
    if spec is None:
        return None
    out: dict[str, Any] = {}
    for name, key, _, omit, exact, optional, composite in spec[1]:
        value = getattr(payload, name)
        if value is None:
            if omit:
                continue
            if not optional:
                return None
        elif composite is not None:
            value = composite[1](value)
            if value is _REFUSED:
                return None
        elif type(value) is not exact:
            return None
        out[key] = value
    return out


# -- the codec -----------------------------------------------------------------------------------------


def known_type(type_name: str) -> bool:
    return type_name in PAYLOAD_TYPES


def current_version(type_name: str) -> int:
    return int(PAYLOAD_TYPES[type_name].VERSION)


def encode_payload(payload: Payload) -> dict[str, Any]:
    plain = _plain_encode(payload)
    if plain is not None:
        return plain
    return encode_with_cattrs(payload)


def encode_with_cattrs(payload: Payload) -> dict[str, Any]:
    """:func:`encode_payload` by the cattrs converter alone (what the plain path must equal)."""
    data: dict[str, Any] = converter().unstructure(payload, unstructure_as=_prepared(type(payload)))
    return data


def decode_payload(type_name: str, data: Any) -> Payload:
    cls = PAYLOAD_TYPES.get(type_name)
    if cls is None:
        raise IntegrityError(f"unknown event type {type_name!r}")
    if not isinstance(data, dict):
        raise IntegrityError(f"{type_name}: payload is not an object")
    plain = _plain_decode(cls, data)
    if plain is not None:
        return plain
    return decode_with_cattrs(type_name, data)


def decode_with_cattrs(type_name: str, data: Any) -> Payload:
    """:func:`decode_payload` by the cattrs converter alone (what the plain path must equal)."""
    import cattrs

    cls = PAYLOAD_TYPES.get(type_name)
    if cls is None:
        raise IntegrityError(f"unknown event type {type_name!r}")
    if not isinstance(data, dict):
        raise IntegrityError(f"{type_name}: payload is not an object")
    try:
        payload: Payload = converter().structure(data, _prepared(cls))
        return payload
    except cattrs.ClassValidationError as exc:
        reasons = "; ".join(_flatten(exc))
        raise IntegrityError(f"{type_name}: invalid payload: {reasons}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise IntegrityError(f"{type_name}: invalid payload: {exc}") from None


def _flatten(exc: BaseException) -> list[str]:
    inners = getattr(exc, "exceptions", None)
    if inners is not None:
        out: list[str] = []
        for inner in inners:
            out.extend(_flatten(inner))
        return out
    if isinstance(exc, KeyError):
        return [f"missing field {exc.args[0]!r}"]
    return [str(exc)]
