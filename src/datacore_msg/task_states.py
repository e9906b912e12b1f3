"""The task life cycle's vocabulary: every state name, and the one table of moves between them.

Standard library only, so the prompt hook's fast path, the derived rows' SQL, the governor, the
reducer, the hand-edit recogniser and the CLI's choices all read the names from here and never
spell them out again.

A task starts ``REQUESTED`` (not yet decided by the owner's governor); the governor's decision moves
it to ``QUEUED`` (accepted), ``WAITING`` (held for the owner's approval) or ``CANCELLED`` (refused);
a deferral (over the rate, within the cooldown) leaves it ``REQUESTED`` until it is decided again.
Every later move is one row of :data:`MOVES`: the action, the states it may start from, the state it
leads to, and the roles allowed to make it. The reducer (:mod:`datacore_msg.projections.tasks`)
applies the table; the CLI checks it inside the append's transaction; the agent view's hand edits
are read back through :func:`move_between`.
"""

from __future__ import annotations

REQUESTED = "REQUESTED"
WAITING = "WAITING"
QUEUED = "QUEUED"
WORKING = "WORKING"
DONE = "DONE"
CANCELLED = "CANCELLED"
ARCHIVED = "ARCHIVED"
#: Every state, in life-cycle order (the order listings and error messages use).
STATES: tuple[str, ...] = (REQUESTED, WAITING, QUEUED, WORKING, DONE, CANCELLED, ARCHIVED)
#: Let through by the governor and not finished: counted against budgets with their estimate.
OUTSTANDING: tuple[str, ...] = (WAITING, QUEUED, WORKING)
#: Waiting to be worked on: what queue depth counts.
IN_QUEUE: tuple[str, ...] = (WAITING, QUEUED)
#: Left the live agent view for its archive file.
FINAL: tuple[str, ...] = (CANCELLED, ARCHIVED)
#: The state a governor decision's outcome leads to.
DECIDED_STATE: dict[str, str] = {
    "accepted": QUEUED,
    "held": WAITING,
    "refused": CANCELLED,
    "deferred": REQUESTED,
}

OWNER, AGENT, SENDER = "owner", "agent", "sender"
ROLE_NAMES: dict[str, str] = {OWNER: "the owner", AGENT: "the agent", SENDER: "the sender"}


class Move:
    """One allowed move: ``action`` takes a task in one of ``before`` to ``after``, by ``roles``."""

    __slots__ = ("action", "after", "before", "roles")

    def __init__(self, action: str, before: frozenset[str], after: str, roles: frozenset[str]) -> None:
        self.action = action
        self.before = before
        self.after = after
        self.roles = roles

    def __repr__(self) -> str:
        return f"Move({self.action!r}, {sorted(self.before)!r} -> {self.after!r}, {sorted(self.roles)!r})"


def _move(action: str, before: set[str], after: str, roles: set[str]) -> Move:
    return Move(action, frozenset(before), after, frozenset(roles))


#: Every allowed move after the decision. A cancel from WORKING is the owner's (or a timeout's,
#: written by the agent); the sender may withdraw only what has not started.
MOVES: tuple[Move, ...] = (
    _move("approve", {WAITING}, QUEUED, {OWNER}),
    _move("reject", {WAITING}, CANCELLED, {OWNER}),
    _move("cancel", {REQUESTED, WAITING, QUEUED}, CANCELLED, {OWNER, SENDER}),
    _move("cancel", {WORKING}, CANCELLED, {OWNER, AGENT}),
    _move("claim", {QUEUED}, WORKING, {AGENT}),
    _move("complete", {WORKING}, DONE, {AGENT}),
    _move("retry", {WORKING}, QUEUED, {AGENT}),
    _move("revise", {DONE}, QUEUED, {OWNER}),
    _move("archive", {DONE}, ARCHIVED, {OWNER}),
)
#: Every action of the table, in the table's order (the ``task ACTION`` commands, error messages).
ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(move.action for move in MOVES))
#: Moves that need more than a keyword (completing records the tokens used).
NEEDS_DETAILS = frozenset({"complete"})


def move_between(before: str, after: str) -> str | None:
    """The action that takes a task from ``before`` to ``after`` with nothing but the keyword
    changed (a hand edit of the agent view), or None when there is none: the first row of
    :data:`MOVES` that fits, so WAITING → CANCELLED reads as *reject*."""
    if before == REQUESTED:
        return None
    for move in MOVES:
        if before in move.before and move.after == after and move.action not in NEEDS_DETAILS:
            return move.action
    return None


def sql_list(states: tuple[str, ...]) -> str:
    """``('A', 'B')``: a literal list of state names for an SQL ``IN`` (names are constants here)."""
    return "(" + ", ".join(f"'{state}'" for state in states) + ")"
