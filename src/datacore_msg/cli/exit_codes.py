"""Exit statuses, and the one mapping from library error codes to them."""

from __future__ import annotations

from enum import IntEnum

from datacore_msg.errors import DatacoreError


class Exit(IntEnum):
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


BY_CODE: dict[str, Exit] = {
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


def exit_for(error: DatacoreError) -> Exit:
    return BY_CODE.get(error.code, Exit.BUG)
