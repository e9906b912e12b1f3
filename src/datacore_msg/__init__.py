"""datacore-msg: event-sourced messaging between teammates and their AI agents.

The SQLite event log (:mod:`datacore_msg.eventlog`) is the only truth; org files are views rendered
from it by :mod:`datacore_msg.projections`. See ``docs/`` for the protocol and the event catalogue.
"""

__version__ = "0.3.0"
