"""Recognising hand edits of the agent view: a keyword changed in Emacs becomes a task event.

When the agent view on disk differs from what was last written, catch-up hands its text here before
rewriting it. Each task heading (found by its ``ID`` property) whose TODO keyword differs from the
keyword its state is shown with is read as the move between the two, found in the one table of moves
(:func:`datacore_msg.task_states.move_between`: WAITING → QUEUED is *approve*, WAITING → CANCELLED
*reject*, and so on), and appended with the same checks as the CLI (a move this user may not make,
or one the task has already left, is skipped). Completing needs the tokens used, so WORKING → DONE
is not recognised. The writer then compares the edited file with the new render: if the events
account for the whole edit the file is simply rewritten; otherwise the edited copy is kept aside
with a warning, as for any hand edit.
"""

from __future__ import annotations

import re

import orgparse
from orgparse.node import OrgEnv

from datacore_msg.app.lifecycle import NO_REASON, append_move, load_task, payload_for
from datacore_msg.app.space import Space
from datacore_msg.errors import TransitionError
from datacore_msg.eventlog.names import is_task_id
from datacore_msg.projections.agent_view import agent_file, keyword_of
from datacore_msg.projections.drivers.catchup import Recognised
from datacore_msg.projections.orgtext import DONE_KEYWORDS, TODO_KEYWORDS
from datacore_msg.task_states import move_between

_ID_LINE = re.compile(r"  :ID:\s+(task-\S+)$")


def keyword_changes(text: str) -> list[tuple[str, str]]:
    """``(task id, keyword)`` for every top-level heading with a task id, in file order."""
    env = OrgEnv(todos=list(TODO_KEYWORDS), dones=list(DONE_KEYWORDS), filename="<agent view>")
    try:
        root = orgparse.loads(text, filename="<agent view>", env=env)
    except Exception:
        return []
    found: list[tuple[str, str]] = []
    for node in root[1:]:
        if node.level != 1:
            continue
        task_id = node.properties.get("ID")
        if isinstance(task_id, str) and is_task_id(task_id) and node.todo:
            found.append((task_id, node.todo))
    return found


def _revert_keywords(text: str, reverts: dict[str, tuple[str, str]]) -> str:
    """``text`` with the recognised headings' keywords put back (``task id -> (edited, shown)``)."""
    lines = text.split("\n")
    heading: int | None = None
    for number, line in enumerate(lines):
        if line.startswith("* "):
            heading = number
            continue
        match = _ID_LINE.match(line)
        if match is None or heading is None or match.group(1) not in reverts:
            continue
        edited, shown = reverts[match.group(1)]
        prefix = f"* {edited} "
        if lines[heading].startswith(prefix):
            lines[heading] = f"* {shown} " + lines[heading][len(prefix) :]
        heading = None
    return "\n".join(lines)


def recognise_agent_edits(space: Space, name: str, text: str) -> Recognised:
    """Append the moves the edited keywords name; say whether they account for the whole edit
    (the edited text with those keywords put back is the text last written)."""
    if name != agent_file(space.agent):
        return Recognised(0, None)
    appended = 0
    reverts: dict[str, tuple[str, str]] = {}
    for task_id, keyword in keyword_changes(text):
        state = load_task(space, task_id)
        if state is None or state.agent != space.agent:
            continue
        shown = keyword_of(state.state)
        action = move_between(shown, keyword)
        if action is None:
            continue
        reason = None if action in NO_REASON else f"edited in {name}"
        try:
            append_move(
                space, task_id, action, payload_for(task_id, action, reason), request=state.request_event
            )
        except TransitionError:
            continue
        appended += 1
        reverts[task_id] = (keyword, shown)
    return Recognised(appended, _revert_keywords(text, reverts) if appended else None)
