"""Canonical JSON: the one byte encoding that event ids are hashed from and signatures are made over.

Keys sorted, no insignificant white space, UTF-8 kept as is (not ``\\u`` escaped), no floats (payloads
use integers and strings so that every peer produces the same bytes).

``json.JSONEncoder.encode`` builds a new C encoder on every call, a third of the cost of encoding a
payload; :func:`canonical_text` keeps one (:func:`datacore_msg.jsontext.encoder`), built with the
same settings, without the circular reference check (a decoded JSON value has no cycles). A value it
cannot encode is encoded again with the check, which raises exactly what :mod:`json` raises
(``ValueError`` for a cycle).
"""

from __future__ import annotations

from datacore_msg.jsontext import encoder
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_TEXT = encoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical_bytes(value: Any) -> bytes:
    return _TEXT(value).encode("utf-8")


def canonical_text(value: Any) -> str:
    return _TEXT(value)
