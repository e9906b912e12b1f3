"""The agent taking work from its queue: the claim the Claude Code hook makes on a prompt.

:func:`take_next` catches the views up (the governor deciding what arrived, timed-out tasks swept)
and then, under the same views lock and on current derived rows, claims the next task
(:mod:`datacore_msg.governor.queue` order) when the agent has QUEUED work and nothing WORKING. The
claim itself is checked inside its append transaction (:func:`~datacore_msg.app.lifecycle.append_move`),
so a claim made meanwhile outside the lock (``task claim`` by hand, another installation's event)
makes this one fail cleanly; the step then looks again. Two hook processes therefore never claim
one task, nor two tasks at once; a ``task claim`` by hand, which does not take the lock, can still
start a second task next to the hook's.

Once the claim is committed it stands: if the views then cannot be written (a full disk), the claim
is still returned, with a :class:`~datacore_msg.app.views.ViewsNotUpdated` report, so the agent is
told of the task it now holds; a failure before any claim fails as before.
"""

from __future__ import annotations

from datacore_msg.app.lifecycle import append_move, payload_for
from datacore_msg.app.space import Space
from datacore_msg.app.views import VIEW_FAILURES, not_updated, refresh
from datacore_msg.errors import TransitionError
from datacore_msg.governor.queue import next_task
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.readmodels.hookread import open_tasks
from datacore_msg.records import Record, set_field

MAX_ATTEMPTS = 5


class Taken(Record):
    """The task claimed (None if none was), and what refreshing the views wrote."""

    __slots__ = ("claimed", "views")

    claimed: str | None
    views: WriteReport

    def __init__(self, claimed: str | None, views: WriteReport) -> None:
        set_field(self, "claimed", claimed)
        set_field(self, "views", views)


def take_next(space: Space, claim: bool = True) -> Taken:
    """Refresh the views and, with ``claim``, claim the agent's next task if it is free to."""
    boosts = {name: limits.priority_boost for name, limits in space.policy().tiers.items()}
    claimed: list[str] = []
    attempts = 0

    def step() -> bool:
        nonlocal attempts
        if claimed or attempts >= MAX_ATTEMPTS:
            return False
        attempts += 1
        task = next_task(open_tasks(space.store.conn, space.agent), boosts)
        if task is None:
            attempts = MAX_ATTEMPTS
            return False
        try:
            append_move(space, task.task, "claim", payload_for(task.task, "claim"))
        except TransitionError:
            return True
        claimed.append(task.task)
        return True

    try:
        views = refresh(space, step if claim else None)
    except VIEW_FAILURES as exc:
        if not claimed:
            raise
        views = not_updated(f"the claim of {claimed[0]}", exc)
    return Taken(claimed[0] if claimed else None, views)
