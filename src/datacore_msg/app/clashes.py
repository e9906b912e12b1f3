"""Clashes: a second ``task.requested`` or ``message.sent`` reusing an id that already exists.

Ids are random, so two different creation events with one id are never an accident: someone wrote
the second on purpose (a hostile peer trying to take over a task or rewrite a message). The folds
never let the second replace the first (see :func:`datacore_msg.projections.tasks.the_request` and
:func:`datacore_msg.projections.messages.fold_message`); this module finds the clashes that a batch
of newly stored events caused, so ``import`` (and sync) can say so instead of only counting them.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from datacore_msg.app.space import Space
from datacore_msg.eventlog.envelope import Event

CREATION_TYPES = ("task.requested", "message.sent")


@attrs.frozen
class Clash:
    subject: str
    kind: str
    kept: str
    ignored: tuple[tuple[str, str], ...]  # (event id, origin key)

    def describe(self) -> str:
        others = ", ".join(f"event {event[:12]} from key {origin[:12]}" for event, origin in self.ignored)
        kept = self.kept[:12]
        return f"{self.kind} {self.subject}: {others} reused its id and was ignored (kept event {kept})"


def clashes_among(space: Space, arrived: Iterable[Event]) -> list[Clash]:
    """The clashes among the subjects of ``arrived`` creation events, after they were stored."""
    from datacore_msg.app.lifecycle import load_task
    from datacore_msg.app.messages import load_message

    created = {(e.type, e.subject) for e in arrived if e.type in CREATION_TYPES and e.subject}
    twice = space.store.created_twice(subject for _, subject in created)
    found: list[Clash] = []
    for type_name, subject in sorted(item for item in created if item[1] in twice):
        creations = [e for e in space.store.events_for_subject(subject) if e.type == type_name]
        if len(creations) < 2:
            continue
        kept: str | None
        if type_name == "task.requested":
            task = load_task(space, subject)
            kept, kind = (None if task is None else task.request_event), "task"
        else:
            message = load_message(space, subject)
            kept, kind = (None if message is None else message.sent_event), "message"
        if kept is None:
            continue
        ignored = tuple((e.id, e.origin) for e in creations if e.id != kept)
        found.append(Clash(subject, kind, kept, ignored))
    return found
