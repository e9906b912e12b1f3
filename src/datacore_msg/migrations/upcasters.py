"""Payload upcasters: stored events are never rewritten; old payload versions are upgraded on read.

``upcast(type, version, data)`` applies ``upcast_<type>_v<N>_v<N+1>`` steps until the payload is at
the current version. Ids and signatures are always checked on the stored bytes, before upcasting.

``message.sent`` v1 is the payload written by the 0.3 development snapshots: the text was in
``body``, ``priority`` was a word (``high``, ``normal``, ``low``) and there was no ``thread`` field
(v1 replies named only their parent, which v2 readers take as the thread root).

Task moves (``task.decided`` and every transition) v1 named only the task id; v2 may also name the
exact ``task.requested`` event they were made for (``request``). A v1 move has no binding: it applies
to the task's request as the reader determines it (see :mod:`datacore_msg.projections.tasks`), so
the step is the identity.
"""

from __future__ import annotations

from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Data = dict[str, Any]

_V1_PRIORITIES = {"high": "A", "normal": "B", "low": "C"}


def upcast_message_sent_v1_v2(data: Data) -> Data:
    out = {key: value for key, value in data.items() if key not in ("body", "priority")}
    out["text"] = data.get("body")
    word = data.get("priority")
    out["priority"] = _V1_PRIORITIES.get(word) if isinstance(word, str) else None
    out.setdefault("reply_to", None)
    out["thread"] = data.get("reply_to")
    return out


def upcast_task_move_v1_v2(data: Data) -> Data:
    return data


TASK_MOVES = (
    "task.decided",
    "task.approved",
    "task.rejected",
    "task.cancelled",
    "task.claimed",
    "task.completed",
    "task.retried",
    "task.revised",
    "task.archived",
)
UPCASTERS: dict[tuple[str, int], Callable[[Data], Data]] = {
    ("message.sent", 1): upcast_message_sent_v1_v2,
    **{(name, 1): upcast_task_move_v1_v2 for name in TASK_MOVES},
}


def upcast(type_name: str, version: int, data: Data) -> tuple[int, Data]:
    while (step := UPCASTERS.get((type_name, version))) is not None:
        data = step(data)
        version += 1
    return version, data
