"""Projections: the log turned into views.

The modules directly in this package are pure — events in, state out (:mod:`.messages`,
:mod:`.tasks`), state in, org text out (:mod:`.render`, :mod:`.agent_view`, :mod:`.orgtext`,
:mod:`.timefmt`) — and read no database, no file and no clock. The impure side, which reads the log,
keeps the derived rows and writes the files, is :mod:`.drivers`.
"""
