"""Read models: the derived rows the projections keep next to the log, and what queries them.

Everything here is rebuilt from the events by ``rebuild`` and is never a source of truth. The rows
live in the log's SQLite file so that a projection's rows and its checkpoint commit together, which
is why this package, like ``eventlog/``, may touch SQLite:

* :mod:`.meta`: the projection's name and the format version of its rows;
* :mod:`.entry`: the rendered-entry row type the pure renderer produces;
* :mod:`.viewcache`: rendered entries, checkpoints and file hashes of the org views;
* :mod:`.taskcache`: one row per task, indexed for the governor's figures;
* :mod:`.hookread`: the stdlib-only reader the Claude Code hook uses on every prompt.
"""
