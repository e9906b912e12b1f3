"""Sealed events and their JSONL lines for the event-log tests of batched checks: ``chain`` seals
an origin's valid ``message.sent`` events in seq order, ``line`` is one event (or JSON object) as a
line of an export file, ``forged`` is an event's line with one character of its signature changed.

Importable from any test module (``from eventlines import chain``): ``pyproject.toml`` puts
``tests/`` on the path.
"""

from __future__ import annotations

from typing import Any

from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.signing import SigningKey

NOW = 1_750_000_000_000


def chain(key: SigningKey, actor: str, count: int, first_n: int = 0) -> list[Event]:
    """``count`` valid messages of ``actor`` from seq 1 on, the n-th (``first_n + seq``) saying
    ``hi n`` at ``NOW + n``."""
    events: list[Event] = []
    prev: str | None = None
    for seq in range(1, count + 1):
        n = first_n + seq
        event = seal(
            key,
            seq=seq,
            prev=prev,
            hlc=(NOW + n) << 16,
            actor=actor,
            type_name="message.sent",
            version=2,
            data={"id": f"msg-20250615-120000-{n:08x}", "from": actor, "to": "tex", "text": f"hi {n}"},
        )
        events.append(event)
        prev = event.id
    return events


def line(event: Event | dict[str, Any]) -> bytes:
    obj = event.to_json() if isinstance(event, Event) else event
    return (canonical_text(obj) + "\n").encode("utf-8")


def forged(event: Event) -> bytes:
    obj = event.to_json()
    obj["sig"] = ("0" if obj["sig"][0] != "0" else "1") + obj["sig"][1:]
    return line(obj)
