"""The ``datacore-msg`` console script: the hooks' fast path, else the full command line.

``hook prompt`` and ``hook session-start`` run on every prompt and session of Claude Code, so they
are dispatched here before the command framework (click) and the rest of the package are imported;
see :mod:`datacore_msg.hooks.prompt`. ``search`` is tried the same way first
(:mod:`datacore_msg.cli.searchrun`: answered when the derived rows are current). The plain spellings
of ``send``, ``inbox`` and ``mark`` run without click too (:mod:`datacore_msg.cli.fastpath`), and
``--help`` is printed from a cache once rendered (:mod:`datacore_msg.cli.helpcache`). Everything
else, and ``--help`` of the hooks, goes to :func:`datacore_msg.cli.main.main`. The commands that
need the package imported are first offered to the resident process, which has it imported
already (:mod:`datacore_msg.cli.resident_client`); when none answers, the command runs here and
starts one for the next command.
"""

from __future__ import annotations

import os
import sys

HOOKS = ("prompt", "session-start")


def main(resident: bool = True) -> int:
    """Run the command in ``sys.argv``; its exit status. ``resident``: the commands of
    :data:`~datacore_msg.cli.resident_client.COMMANDS` may be handed to the resident process
    (False in that process's children, which run them)."""
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "hook" and argv[1] in HOOKS and not {"-h", "--help"} & set(argv):
        from datacore_msg.cli.hookrun import run

        return run(argv[1], argv[2:], resident)
    if argv and argv[-1] in ("--help", "-h"):
        from datacore_msg.cli import helpcache

        if helpcache.is_help(argv):
            return helpcache.show(argv, os.environ)
    if argv and argv[0] == "search":
        from datacore_msg.cli.searchrun import run as search

        status = search(argv[1:])
        if status is not None:
            return status
    if resident:
        from datacore_msg.cli import resident_client

        if resident_client.eligible(argv, os.environ):
            status = resident_client.run(argv, os.environ)
            if status is None:
                status = here(argv)
                resident_client.spawn(os.environ)
            return status
    return here(argv)


def here(argv: list[str]) -> int:
    """Run the command ``argv`` in this process: the fast path, else the command framework."""
    from datacore_msg.cli.fastpath import dispatch

    fast = dispatch(argv)
    if fast is not None:
        return fast
    from datacore_msg.cli.main import main as full

    return full()
