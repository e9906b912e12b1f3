"""Keeping the views current: every command that shows or changes anything calls :func:`refresh`.

One refresh, under the views lock (see :mod:`datacore_msg.projections.drivers.catchup`):

1. catch-up applies the events appended since the checkpoint to the derived rows;
2. a view edited by hand since it was written is handed to the recogniser
   (:func:`datacore_msg.app.edits.recognise_agent_edits`): task keywords changed in Emacs become
   the moves they name (appended, then applied); anything else is kept aside when the view is
   written;
3. the governor step (:func:`datacore_msg.app.governance.governor_step`) decides, one at a time,
   the requests to this user's agent that just arrived, and sweeps timed-out tasks; its events are
   applied in turn, so one command leaves the views showing the decisions;
4. the caller's own step, if any (the prompt hook claiming the next task), runs on current rows;
5. the dirty views are written.

Committed means done
--------------------
A command that changes something appends its events first and refreshes the views after. Once the
append has committed, the command has succeeded, whatever happens to the views: a retry would store
a second copy. So a command refreshes after its commit with :func:`refresh_after_commit`, which turns
a failure of the views (a full disk while the derived rows or the files are written, a views lock
held too long, a settings file that no longer reads) into a :class:`ViewsNotUpdated` report: the
command returns its result and the CLI prints the report's warning. The views stay dirty (or behind
the log) and the next command writes them. A failure before the commit still fails the command.
"""

from __future__ import annotations

from datacore_msg.app.governance import governor_step
from datacore_msg.app.space import Space
from datacore_msg.errors import DatacoreError
from datacore_msg.projections.drivers.catchup import Recognised, Step, catch_up
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.records import set_field

#: What a refresh may fail with: anything the library raises on purpose, and the operating system's
#: errors (a folder that cannot be read or created).
VIEW_FAILURES: tuple[type[Exception], ...] = (DatacoreError, OSError)


def refresh(space: Space, then: Step | None = None) -> WriteReport:
    """Catch the views up: hand edits of the agent view that name task moves become events, the
    governor decides what arrived, and timed-out tasks are swept; then ``then`` runs (under the same
    views lock, on current derived rows) until it has nothing more to do."""
    governor = governor_step(space)

    def step() -> bool:
        return governor() or (then is not None and then())

    return catch_up(space.views(), step, lambda name, text: _recognise(space, name, text))


class ViewsNotUpdated(WriteReport):
    """The report of a refresh that failed after the command's events were committed: nothing was
    written, and the one warning says what is stored, why the views are behind, and that the next
    command repairs them."""

    __slots__ = ("cause", "stored")
    stored: str
    cause: str

    def __init__(
        self,
        written: list[str] | None = None,
        kept_aside: list[tuple[str, str]] | None = None,
        foreign: list[str] | None = None,
        stored: str = "the change",
        cause: str = "",
    ) -> None:
        super().__init__(written, kept_aside, foreign)
        set_field(self, "stored", stored)
        set_field(self, "cause", cause)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{self.stored} is stored, but the views could not be updated: {self.cause}; "
            "the next command repairs them"
        ]


def not_updated(stored: str, error: Exception) -> ViewsNotUpdated:
    """The report for a refresh that raised ``error`` (one of :data:`VIEW_FAILURES`) after
    ``stored`` ("the message", "the claim") was committed."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        cause = f"{where}{error.strerror}"
    else:
        cause = str(error) or type(error).__name__
    return ViewsNotUpdated(stored=stored, cause=cause)


def refresh_after_commit(space: Space, stored: str) -> WriteReport:
    """:func:`refresh` for a command whose events are committed: a failure of the views becomes a
    :class:`ViewsNotUpdated` report instead of an error (see the module's docstring)."""
    try:
        return refresh(space)
    except VIEW_FAILURES as exc:
        return not_updated(stored, exc)


def _recognise(space: Space, name: str, text: str) -> Recognised:
    from datacore_msg.app.edits import recognise_agent_edits  # orgparse: only when a view was edited

    return recognise_agent_edits(space, name, text)
