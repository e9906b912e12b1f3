"""Canonical JSON: the one byte encoding that event ids are hashed from and signatures are made over.

Keys sorted, no insignificant white space, UTF-8 kept as is (not ``\\u`` escaped), no floats (payloads
use integers and strings so that every peer produces the same bytes).

``json.JSONEncoder.encode`` builds a new C encoder on every call, a third of the cost of encoding a
payload; :func:`canonical_text` keeps one, built with the same settings, without the circular
reference check (a decoded JSON value has no cycles). A value it cannot encode goes through the
standard encoder again, which raises exactly what it always raised (``ValueError`` for a cycle).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring

from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)

_make = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_FAST: Callable[[Any, int], Any] | None = None
if _make is not None:
    _FAST = _make(None, _ENCODER.default, encode_basestring, None, ":", ",", True, False, False)


def canonical_bytes(value: Any) -> bytes:
    return canonical_text(value).encode("utf-8")


def canonical_text(value: Any) -> str:
    if _FAST is None:
        return _ENCODER.encode(value)
    try:
        return "".join(_FAST(value, 0))
    except (ValueError, TypeError, RecursionError):
        return _ENCODER.encode(value)
