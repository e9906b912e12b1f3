"""Export and import of events as JSON lines, so installations can exchange events without a relay.

Export writes each event's JSON form (the exact stored fields, so ids and signatures verify) in this
peer's arrival order, which keeps every origin's events in sequence order. Import parses each line,
reports every line it cannot accept with its number and reason, and stores every valid event;
importing the same file twice stores nothing new.

Import of a hostile or broken file is bounded:

* A line is read with a size limit (``readline(MAX_LINE_BYTES + 1)``), never in full: an over-long
  line is rejected, and when it does not end within the limit the import stops there (there is no
  telling where such a "line" ends: ``/dev/zero`` has no end), after storing what came before it.
* At most ``max_lines`` lines (one event each; default :data:`MAX_IMPORT_LINES`) are read; a longer
  input stops there, after storing what came before.
* Events are verified and stored :data:`BATCH_EVENTS` at a time, each batch in one transaction:
  the write lock is released between batches, so other commands (a ``send``) wait for one batch at
  most, never for the whole import. A crash keeps the batches already committed; events are
  idempotent by id, so importing the file again resumes where it stopped.
* The views are caught up at the end (and when the import stops on an error or an interrupt, for
  what was stored) and every :data:`CATCH_UP_BATCHES` batches, not after every batch: catching up
  per batch re-folds every subject each batch touches (a message whose events straddle batches,
  once per batch) and cost about as much as the import itself, while every tenth batch keeps the
  catch-up of a command run meanwhile (a ``send``) bounded. Views are derived, so views behind the
  log are the state any crash can leave and the next command repairs.
* What a catch-up between batches does decide is what the governor sees: it decides the requests
  that arrived with the figures of the log as it stands. So a batch that stored task events is
  still followed by a catch-up (the governor step with it) before the next batch is read, as is
  the first batch when the views were behind the log when the import began: the governor decides
  what it decided with a catch-up after every batch, on the same task rows (a batch of messages
  alone changes no task row), in the same order. Only the clock differs, as between any two runs:
  a deferral that runs out during the import is taken by the next catch-up, not the next batch.
* Only the first :data:`REJECTS_KEPT` rejected lines are kept for the summary, with a count of all;
  every one goes to ``report`` (JSON lines ``{"line": N, "reason": "..."}``) when one is given.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import IO

import attrs

from datacore_msg.app.clashes import Clash, clashes_among
from datacore_msg.app.space import Space
from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import Event, parse_line
from datacore_msg.eventlog.payloads import TASK_TYPES, TaskDecided
from datacore_msg.eventlog.store import IngestReport
from datacore_msg.projections.drivers.writer import WriteReport
from datacore_msg.terminal import json_text

#: The longest line an import reads. The largest valid event is one 64 KiB text of control
#: characters, each written ``\u00XX`` (6 bytes): under 400 KiB with its envelope.
MAX_LINE_BYTES = 512 * 1024
#: The most lines (one event each) one import reads, unless told otherwise.
MAX_IMPORT_LINES = 1_000_000
#: Events verified and stored per transaction (the write lock is released between batches).
BATCH_EVENTS = 1000
#: At most this many batches are stored between two catch-ups of the views, so a command run
#: during a long import catches up at most that many events itself.
CATCH_UP_BATCHES = 10
#: Rejected lines kept for the summary (all of them go to the report file).
REJECTS_KEPT = 5


def export_line(event: Event) -> str:
    """The event's line in an export (and in a ``sync --folder`` file), with nothing a terminal
    acts on left raw (``export -`` may be read at a terminal, an export file with ``cat``)."""
    return json_text(canonical_text(event.to_json())) + "\n"


def export_lines(space: Space, since: int = 0) -> Iterator[str]:
    """One JSON line per event, in this peer's arrival order."""
    for event in space.store.iter_since(since):
        yield export_line(event)


def export(space: Space, out: IO[str], since: int = 0) -> int:
    count = 0
    for line in export_lines(space, since):
        out.write(line)
        count += 1
    return count


def parse_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, Event | IntegrityError]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield number, IntegrityError(f"line is over {MAX_LINE_BYTES} bytes")
            continue
        if not raw.endswith(b"\n"):
            try:
                json.loads(raw)
            except ValueError:
                yield number, IntegrityError("truncated line (no newline, not complete JSON)")
                continue
        try:
            yield number, parse_line(raw)
        except IntegrityError as exc:
            yield number, exc


class BoundedLines:
    """The lines of ``source`` (a binary file, or any iterable of lines), read with the limits of
    the module docstring; ``stopped`` says why reading ended early, or is None."""

    def __init__(self, source: Iterable[bytes], max_lines: int = MAX_IMPORT_LINES) -> None:
        self._source = source
        self._max_lines = max_lines
        self.stopped: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        readline = getattr(self._source, "readline", None)
        items = iter(self._source) if readline is None else None

        def next_line() -> bytes:
            if readline is not None:
                raw: bytes = readline(MAX_LINE_BYTES + 1)
                return raw
            return next(items, b"") if items is not None else b""

        number = 0
        while True:
            raw = next_line()
            if not raw:
                return
            if number >= self._max_lines:
                self.stopped = (
                    f"over {self._max_lines} lines in one import (--max-events), the lines after "
                    f"line {number} were not read"
                )
                return
            number += 1
            yield raw
            if readline is not None and len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self.stopped = (
                    f"line {number} does not end within {MAX_LINE_BYTES} bytes (not an export of "
                    "datacore-msg), the rest of the input was not read"
                )
                return


@attrs.frozen
class ImportResult:
    accepted: int
    duplicates: int
    #: The first :data:`REJECTS_KEPT` rejected lines: (line number, reason).
    rejected: list[tuple[int, str]]
    views: WriteReport | None
    #: How many lines were rejected in all.
    rejected_count: int = 0
    #: Why the import stopped before the end of its input (lines after it were not read), or None.
    stopped: str | None = None
    #: Ids reused by a second message or request among what was imported (see :mod:`.clashes`).
    clashes: list[Clash] = attrs.field(factory=list)
    #: What this installation's governor decided about what was imported (deferrals included).
    decisions: list[TaskDecided] = attrs.field(factory=list)


def decisions_since(space: Space, position: int) -> list[TaskDecided]:
    """The governor decisions this installation appended after log position ``position``."""
    origin = space.signing_key().public_hex
    found: list[TaskDecided] = []
    for event in space.store.iter_since(position):
        if event.origin != origin or event.type != TaskDecided.TYPE or event.actor != space.agent:
            continue
        payload = space.store.decode(event)
        if isinstance(payload, TaskDecided):
            found.append(payload)
    return found


def merged_reports(reports: list[WriteReport]) -> WriteReport | None:
    if not reports:
        return None
    written = list(dict.fromkeys(name for report in reports for name in report.written))
    kept_aside = [item for r in reports for item in r.kept_aside]
    foreign = [name for r in reports for name in r.foreign]
    # The last report says whether the views are current (a ViewsNotUpdated carries its warning).
    return reports[-1].evolve(written=written, kept_aside=kept_aside, foreign=foreign)


def ingest_batch(
    space: Space, items: list[tuple[int, Event | IntegrityError]]
) -> tuple[IngestReport, list[Clash]]:
    """Verify and store one batch from elsewhere (an import's lines, a relay's frame) in one
    transaction, and find the clashes among what it added."""
    ingested = space.store.ingest(items, space.clock())
    return ingested, clashes_among(space, ingested.accepted)


def views_current(space: Space) -> bool:
    """The derived rows hold every stored event, in the current format, with today's pinned keys."""
    from datacore_msg.readmodels.hookread import freshness

    fresh = freshness(space.store.conn)
    return fresh.current and fresh.trust == space.trust().fingerprint()


def governs(events: Iterable[Event]) -> bool:
    """Whether stored ``events`` may give the governor something to decide or sweep: task events
    (messages change no task row, so no figure the governor reads)."""
    return any(event.type in TASK_TYPES for event in events)


def import_events(
    space: Space,
    lines: Iterable[bytes],
    *,
    report: IO[str] | None = None,
    max_lines: int = MAX_IMPORT_LINES,
) -> ImportResult:
    """Verify and store the events of ``lines`` (a binary file, or an iterable of lines), in
    batches; write every rejected line to ``report``, when given."""
    from datacore_msg.app.views import VIEW_FAILURES, refresh, refresh_after_commit

    space.preflight()
    start = space.store.max_position()
    source = BoundedLines(lines, max_lines)
    items = parse_lines(source)
    accepted = duplicates = rejected_count = 0
    kept: list[tuple[int, str]] = []
    views: list[WriteReport] = []
    clashes: list[Clash] = []
    # Something may wait for the governor before the first batch: what a command that crashed left.
    governor_due = not views_current(space)
    behind = 0  # batches stored since the views were last caught up
    try:
        while True:
            batch = list(itertools.islice(items, BATCH_EVENTS))
            if not batch:
                break
            ingested, found = ingest_batch(space, batch)
            accepted += len(ingested.accepted)
            duplicates += ingested.duplicates
            rejected_count += len(ingested.rejected)
            kept.extend(ingested.rejected[: REJECTS_KEPT - len(kept)])
            clashes.extend(found)
            if report is not None:
                for number, reason in ingested.rejected:
                    report.write(json.dumps({"line": number, "reason": reason}) + "\n")
            governor_due = governor_due or governs(ingested.accepted)
            behind += 1
            if (governor_due or behind >= CATCH_UP_BATCHES) and len(batch) == BATCH_EVENTS:
                # The governor decides what this batch brought before the next batch is stored (see
                # the module docstring). The batch is committed: when the views cannot be caught up
                # now (another command holds them, the disk is full), the final refresh does it.
                with contextlib.suppress(*VIEW_FAILURES):
                    views.append(refresh(space))
                    governor_due, behind = False, 0
    except BaseException:
        # Stopped by an error or an interrupt: the stored batches stay; catch the views up with them.
        with contextlib.suppress(*VIEW_FAILURES):
            refresh(space)
        raise
    views.append(refresh_after_commit(space, "what was imported"))
    decided = decisions_since(space, start) if accepted else []
    return ImportResult(
        accepted, duplicates, kept, merged_reports(views), rejected_count, source.stopped, clashes, decided
    )
