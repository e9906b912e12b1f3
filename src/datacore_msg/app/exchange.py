"""Export and import of events as JSON lines, so installations can exchange events without a relay.

Export writes each event's JSON form (the exact stored fields, so ids and signatures verify) in this
peer's arrival order, which keeps every origin's events in sequence order. Import parses each line,
reports every line it cannot accept with its number and reason, and stores every valid event in one
transaction; importing the same file twice stores nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO

import attrs

from datacore_msg.app.clashes import Clash, clashes_among
from datacore_msg.app.space import Space
from datacore_msg.errors import IntegrityError
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import Event, parse_line
from datacore_msg.projections.drivers.writer import WriteReport

MAX_LINE_BYTES = 256 * 1024


def export_lines(space: Space, since: int = 0) -> Iterator[str]:
    for event in space.store.iter_since(since):
        yield canonical_text(event.to_json()) + "\n"


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
            yield number, IntegrityError(f"line is {len(raw)} bytes, over {MAX_LINE_BYTES}")
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


@attrs.frozen
class ImportResult:
    accepted: int
    duplicates: int
    rejected: list[tuple[int, str]]
    views: WriteReport | None
    clashes: list[Clash] = attrs.field(factory=list)


def import_events(space: Space, lines: Iterable[bytes]) -> ImportResult:
    from datacore_msg.app.views import refresh_after_commit

    space.preflight()
    report = space.store.ingest(parse_lines(lines), space.clock())
    views = refresh_after_commit(space, "what was imported")
    clashes = clashes_among(space, report.accepted)
    return ImportResult(len(report.accepted), report.duplicates, report.rejected, views, clashes)
