"""Which QUEUED task an agent takes next: the highest priority first, then the oldest request.

A task's priority is its sender's A/B/C (none counts as B) weighted by the priority boost of the
trust tier it was decided under (REFERENCE.md: owner 2.0, team 1.5, trusted 1.0, unknown 0.5):
A=3, B=2, C=1 times the boost. Ties go to the request that sorts first in the log's order
``(hlc, origin, seq)``, which is the same on every installation. Pure; standard library only, because
the Claude Code hook orders its queue with it on every prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from datacore_msg.records import TYPE_CHECKING
from datacore_msg.task_states import QUEUED, WORKING

if TYPE_CHECKING:  # the types only: the hook orders its queue with this module on every prompt
    from typing import Protocol, TypeVar

    class Queued(Protocol):
        @property
        def state(self) -> str: ...
        @property
        def priority(self) -> str | None: ...
        @property
        def tier(self) -> str | None: ...
        @property
        def sort(self) -> tuple[int, str, int]: ...

    T = TypeVar("T", bound=Queued)

PRIORITY_WEIGHT = {"A": 3.0, "B": 2.0, "C": 1.0}
DEFAULT_WEIGHT = PRIORITY_WEIGHT["B"]
DEFAULT_BOOST = 0.5


def score(priority: str | None, tier: str | None, boosts: Mapping[str, float]) -> float:
    weight = PRIORITY_WEIGHT.get(priority or "", DEFAULT_WEIGHT)
    return weight * boosts.get(tier or "unknown", boosts.get("unknown", DEFAULT_BOOST))


def claim_key(
    priority: str | None, tier: str | None, request_sort: tuple[int, str, int], boosts: Mapping[str, float]
) -> tuple[float, tuple[int, str, int]]:
    """Sort key: the task to take next sorts first."""
    return (-score(priority, tier, boosts), request_sort)


def next_task(tasks: Iterable[T], boosts: Mapping[str, float]) -> T | None:
    """The task to claim: none while one is WORKING, else the first QUEUED in claim order."""
    candidates = list(tasks)
    if any(task.state == WORKING for task in candidates):
        return None
    queued = [task for task in candidates if task.state == QUEUED]
    if not queued:
        return None
    return min(queued, key=lambda task: claim_key(task.priority, task.tier, task.sort, boosts))
