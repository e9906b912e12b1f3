"""The signed, hash-chained, append-only event log and everything it is made of.

Only this package, :mod:`datacore_msg.readmodels` (the derived rows in the same file) and
:mod:`datacore_msg.migrations` touch SQLite.
"""
