"""Benchmarks of datacore-msg against its baselines, measured in one run: ``python -m bench``.

Each figure measures the library and its baseline in the same process, interleaved where they can
be, and states the project's goal for their ratio. ``python -m bench`` writes ``BENCHMARKS.md``.

* :mod:`bench.fig_append`  — 1. ``EventStore.append`` vs raw sqlite3 and eventsourcing's recorder
* :mod:`bench.fig_rebuild` — 2. ``rebuild`` vs reading and decoding the same rows
* :mod:`bench.fig_send`    — 3. one more ``send`` with a small vs a large log
* :mod:`bench.fig_process` — 4. a whole ``datacore-msg send`` process vs ``python -c pass``
* :mod:`bench.fig_governor` — 5. one governor decision with 1,000 vs 100,000 tasks in the log
* :mod:`bench.fig_task_process` — 6. a whole ``datacore-msg send @claude`` (request, decided,
  QUEUED) process vs ``python -c pass``

:mod:`bench.workload` builds installations and synthetic logs (setup, never timed);
:mod:`bench.stats` holds the statistics and :mod:`bench.report` the markdown.
"""
