"""Moving events between installations by file: ``export`` (JSON lines out) and ``import``
(verified and stored)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_note, emit_text, emit_warning
from datacore_msg.errors import ImportRejected, InvalidInput


@click.command(name="export")
@click.argument("file")
@click.option(
    "--since",
    "since",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=0,
    help="Only events after this position.",
)
@space_options
def export_cmd(file: str, since: int, root: str | None, space: str | None) -> None:
    """Write events as JSON lines to FILE ('-' for standard output)."""
    from datacore_msg.app import exchange
    from datacore_msg.fsutil import open_private_text

    with open_space_from(root, space) as sp:
        if file == "-":
            exchange.export(sp, sys.stdout, since)
            return
        target = Path(file)
        temp = target.with_name(f".{target.name}.partial")
        try:
            with open_private_text(temp) as handle:  # the whole log: 0600, like the log itself
                count = exchange.export(sp, handle, since)
            temp.replace(target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise InvalidInput(f"{file}: cannot write: {exc.strerror}") from None
    emit_note(f"Exported {count} event(s) to {file}")


def open_report(path: str) -> IO[str]:
    """The file that receives every rejected line of an import (``import --report FILE``)."""
    try:
        return open(path, "w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write the report: {exc.strerror}") from None


@click.command(name="import")
@click.argument("file")
@click.option("--report", "report", default=None, help="Write every rejected line to this file (JSON lines).")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Read at most N lines, one event each (default 1000000).",
)
@json_option
@space_options
def import_cmd(
    file: str, report: str | None, max_events: int | None, as_json: bool, root: str | None, space: str | None
) -> None:
    """Verify and store events from a JSON-lines FILE ('-' for standard input)."""
    from contextlib import nullcontext

    from datacore_msg.app import exchange
    from datacore_msg.cli.formatting import decision_dict, decision_line, import_problems, import_summary

    limit = max_events or exchange.MAX_IMPORT_LINES
    with open_space_from(root, space) as sp, open_report(report) if report else nullcontext() as sink:
        if file == "-":
            result = exchange.import_events(sp, sys.stdin.buffer, report=sink, max_lines=limit)
        else:
            try:
                handle = open(file, "rb")  # noqa: SIM115
            except OSError as exc:
                raise InvalidInput(f"{file}: cannot read: {exc.strerror}") from None
            with handle:
                result = exchange.import_events(sp, handle, report=sink, max_lines=limit)
    warn_views(result.views)
    for clash in result.clashes:
        emit_warning("clash: " + clash.describe())
    decided = [decision_line(decision, sp.tz) for decision in result.decisions]
    problems = import_problems(file, result, report)
    if problems is not None:
        for line in decided:
            emit_note(line)
        raise ImportRejected(problems, result.rejected, result.rejected_count)
    if as_json:
        data: dict[str, object] = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [],
        }
        if result.clashes:
            data["clashes"] = [
                {"subject": c.subject, "kind": c.kind, "kept": c.kept, "ignored": [e for e, _ in c.ignored]}
                for c in result.clashes
            ]
        if result.decisions:
            data["decisions"] = [decision_dict(decision, sp.tz) for decision in result.decisions]
        emit_json(data)
    else:
        emit_text("\n".join([import_summary(result) + ".", *decided]))


COMMANDS: tuple[click.Command, ...] = (export_cmd, import_cmd)
