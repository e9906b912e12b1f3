"""The signed, hash-chained, append-only event log and everything it is made of.

Only this package and :mod:`datacore_msg.migrations` touch SQLite.
"""
