"""The chat window's list: the user's messages (inbox and outbox) and their agent's tasks, newest
last, one page at a time.

A page is read from the view cache's rows (kept current by catch-up), newest first along each view
file's primary key, and only the page's subjects are folded (their events read in one batch), so
opening a window on 100,000 messages costs about what a page of 50 costs. Older pages are asked for
with the sort key of the oldest row shown.
"""

from __future__ import annotations

from datacore_msg.app.messages import MessageItem, item_of
from datacore_msg.app.space import Space
from datacore_msg.app.tasks import sender_of
from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.projections.messages import fold_message
from datacore_msg.projections.tasks import TaskState, fold_task
from datacore_msg.records import Record, set_field

ROLES = ("inbox", "outbox", "agent")
PAGE = 50

Sort = tuple[int, str, int]


class TaskItem(Record):
    """A task of the user's agent as the list shows it, with what is known of its sender."""

    __slots__ = ("sender", "state")
    state: TaskState
    sender: Sender

    def __init__(self, state: TaskState, sender: Sender) -> None:
        set_field(self, "state", state)
        set_field(self, "sender", sender)

    @property
    def id(self) -> str:
        return self.state.id


class Row(Record):
    __slots__ = ("item", "sort")
    sort: Sort
    item: MessageItem | TaskItem

    def __init__(self, sort: Sort, item: MessageItem | TaskItem) -> None:
        set_field(self, "sort", sort)
        set_field(self, "item", item)

    @property
    def id(self) -> str:
        return self.item.id


def page(space: Space, before: Sort | None = None, limit: int = PAGE) -> list[Row]:
    """The ``limit`` newest rows sorted before ``before`` (the newest when None), oldest first."""
    entries = space.views().cache.latest(ROLES, before, limit)
    events = space.store.events_for_subjects([subject for subject, *_ in entries])
    rows: list[Row] = []
    for subject, role, _status, sort in reversed(entries):
        found = events.get(subject, [])
        if role == "agent":
            task = fold_task(found, space.store.decode, space.trust())
            if task is not None:
                rows.append(Row(sort, TaskItem(task, sender_of(space, task))))
            continue
        message = fold_message(found, space.store.decode, space.trust())
        if message is not None:
            rows.append(Row(sort, item_of(space, message)))
    return rows
