"""Canonical JSON: the one byte encoding that event ids are hashed from and signatures are made over.

Keys sorted, no insignificant white space, UTF-8 kept as is (not ``\\u`` escaped), no floats (payloads
use integers and strings so that every peer produces the same bytes).
"""

from __future__ import annotations

from datacore_msg.jsontext import dumps
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def canonical_bytes(value: Any) -> bytes:
    return canonical_text(value).encode("utf-8")


def canonical_text(value: Any) -> str:
    return dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
