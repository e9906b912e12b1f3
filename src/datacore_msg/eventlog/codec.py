"""Payload codec: typed payload objects <-> plain dicts, via one cattrs converter.

Decoding is total: it returns a payload object or raises :class:`~datacore_msg.errors.IntegrityError`
naming the type and the field; an unknown type name is reported, never a bare ``KeyError``.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.payloads import OMITTED_WHEN_DEFAULT, PAYLOAD_TYPES, RENAMED_FIELDS, Payload


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
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(bool, _strict_bool)
    return converter


CONVERTER = _build_converter()
_READY: set[type[Any]] = set()


def _prepared(cls: type[Any]) -> type[Any]:
    """Generate a payload class's hooks on first use (a command touches two or three of them)."""
    if cls not in _READY:
        renamed = RENAMED_FIELDS.get(cls, {})
        renames: dict[str, Any] = {name: override(rename=key) for name, key in renamed.items()}
        omitted: dict[str, Any] = {
            a.name: override(omit_if_default=True)
            for a in attrs.fields(cls)
            if a.name in OMITTED_WHEN_DEFAULT
        }
        CONVERTER.register_structure_hook(
            cls, make_dict_structure_fn(cls, CONVERTER, _cattrs_forbid_extra_keys=True, **renames)
        )
        CONVERTER.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, CONVERTER, **renames, **omitted)
        )
        _READY.add(cls)
    return cls


def known_type(type_name: str) -> bool:
    return type_name in PAYLOAD_TYPES


def current_version(type_name: str) -> int:
    return int(PAYLOAD_TYPES[type_name].VERSION)


def encode_payload(payload: Payload) -> dict[str, Any]:
    data: dict[str, Any] = CONVERTER.unstructure(payload, unstructure_as=_prepared(type(payload)))
    return data


def decode_payload(type_name: str, data: Any) -> Payload:
    cls = PAYLOAD_TYPES.get(type_name)
    if cls is None:
        raise IntegrityError(f"unknown event type {type_name!r}")
    if not isinstance(data, dict):
        raise IntegrityError(f"{type_name}: payload is not an object")
    try:
        payload: Payload = CONVERTER.structure(data, _prepared(cls))
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
