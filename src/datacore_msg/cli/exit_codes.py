"""Exit statuses, and the one mapping from library error codes to them.

The statuses are plain integers named in a namespace class, not an :class:`enum.IntEnum`: every
command imports this module, and :mod:`enum` (with :mod:`functools` and :mod:`collections`) costs a
whole-process command more than all of its own error handling.
"""

from __future__ import annotations

from datacore_msg.errors import DatacoreError

#: An exit status: one of :class:`Exit`'s values.
ExitStatus = int


class Exit:
    """The exit statuses by name (``Exit.USAGE`` is 2)."""

    OK = 0
    BUG = 1
    USAGE = 2
    INVALID_INPUT = 3
    NOT_FOUND = 4
    AMBIGUOUS = 5
    TRANSITION = 6
    CONFIG = 7
    KEY = 8
    INTEGRITY = 9
    FORK = 10
    IMPORT_REJECTED = 11
    BUSY = 12
    STORAGE = 13
    VIEWS_DIFFER = 14
    UNREACHABLE = 15
    AUTH_REFUSED = 16
    PROTOCOL = 17


BY_CODE: dict[str, ExitStatus] = {
    "error": Exit.BUG,
    "invalid_input": Exit.INVALID_INPUT,
    "not_found": Exit.NOT_FOUND,
    "ambiguous": Exit.AMBIGUOUS,
    "transition": Exit.TRANSITION,
    "bad_query": Exit.INVALID_INPUT,
    "config": Exit.CONFIG,
    "key": Exit.KEY,
    "integrity": Exit.INTEGRITY,
    "fork": Exit.FORK,
    "import_rejected": Exit.IMPORT_REJECTED,
    "busy": Exit.BUSY,
    "storage": Exit.STORAGE,
    "unreachable": Exit.UNREACHABLE,
    "auth_refused": Exit.AUTH_REFUSED,
    "protocol": Exit.PROTOCOL,
}


def name_of(status: int) -> str | None:
    """The name of exit status ``status`` (``"USAGE"`` for 2), or None."""
    names = [name for name, value in vars(Exit).items() if value == status and name.isupper()]
    return names[0] if names else None


def exit_for(error: DatacoreError) -> ExitStatus:
    return BY_CODE.get(error.code, Exit.BUG)
