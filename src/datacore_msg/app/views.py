"""Keeping the views current: every command that shows or changes anything calls :func:`refresh`.

One refresh, under the views lock (see :mod:`datacore_msg.projections.drivers.catchup`):

1. catch-up applies the events appended since the checkpoint to the derived rows;
2. the governor step (:func:`datacore_msg.app.governance.governor_step`) decides, one at a time,
   the requests to this user's agent that just arrived, and sweeps timed-out tasks; its events are
   applied in turn, so one command leaves the views showing the decisions;
3. the caller's own step, if any (the prompt hook claiming the next task), runs on current rows;
4. before a view is rewritten, a hand edit of it is handed to the recogniser
   (:func:`datacore_msg.app.edits.recognise_agent_edits`): task keywords changed in Emacs become
   the moves they name, and anything else is kept aside;
5. the dirty views are written.
"""

from __future__ import annotations

from datacore_msg.app.governance import governor_step
from datacore_msg.app.space import Space
from datacore_msg.projections.drivers.catchup import Recognised, Step, catch_up
from datacore_msg.projections.drivers.writer import WriteReport


def refresh(space: Space, then: Step | None = None) -> WriteReport:
    """Catch the views up: hand edits of the agent view that name task moves become events, the
    governor decides what arrived, and timed-out tasks are swept; then ``then`` runs (under the same
    views lock, on current derived rows) until it has nothing more to do."""
    governor = governor_step(space)

    def step() -> bool:
        return governor() or (then is not None and then())

    return catch_up(space.views(), step, lambda name, text: _recognise(space, name, text))


def _recognise(space: Space, name: str, text: str) -> Recognised:
    from datacore_msg.app.edits import recognise_agent_edits  # orgparse: only when a view was edited

    return recognise_agent_edits(space, name, text)
