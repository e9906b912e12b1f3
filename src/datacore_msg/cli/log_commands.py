"""The event log itself: ``log`` (the audit trail), ``verify`` (ids, signatures, chain) and
``rebuild`` (every view from the log)."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.exit_codes import Exit
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.terminal import field


@click.command()
@click.option("--actor", default=None, help="Only events by this actor.")
@click.option("--type", "type_name", default=None, help="Only events of this type.")
@click.option("--since", default=None, help="30m, 2h, 7d, or an ISO date/time.")
@click.option(
    "--limit",
    type=click.IntRange(max=2**31),
    default=None,
    help="The last N matching events.",
)
@json_option
@space_options
def log(
    actor: str | None,
    type_name: str | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """The audit trail: who did what, when, from which origin."""
    from datacore_msg.app import audit
    from datacore_msg.cli.formatting import event_dict, event_line

    with open_space_from(root, space) as sp:
        events = audit.log(sp, actor=actor, type_name=type_name, since=since, limit=limit)
        lost = audit.superseded(sp, events)
        tz = sp.tz
    if as_json:
        emit_json([{**event_dict(e, tz), "superseded": lost.get(e.id)} for e in events])
    elif events:
        emit_text(
            "\n".join(
                event_line(e, tz) + (f"  SUPERSEDED: {field(lost[e.id])}" if e.id in lost else "")
                for e in events
            )
        )
    else:
        emit_text("No events.")


@click.command()
@click.option("--check", "check_only", is_flag=True, help="Compare with disk; write nothing.")
@json_option
@space_options
def rebuild(check_only: bool, as_json: bool, root: str | None, space: str | None) -> None:
    """Rebuild every view from the log (--check: report files that differ)."""
    from datacore_msg.app import audit

    with open_space_from(root, space) as sp:
        result = audit.rebuild(sp, check_only)
    warn_views(result.report)
    if as_json:
        written = result.report.written if result.report else []
        emit_json({"checked": result.checked, "differing": result.differing, "written": written})
    elif result.checked:
        if result.differing:
            emit_text("Views differ from the log: " + ", ".join(result.differing))
        else:
            emit_text("Views match the log.")
    else:
        written = result.report.written if result.report else []
        emit_text(f"Rebuilt; {len(written)} file(s) written." if written else "Views up to date.")
    if result.differing:
        raise SystemExit(Exit.VIEWS_DIFFER)


@click.command()
@json_option
@space_options
def verify(as_json: bool, root: str | None, space: str | None) -> None:
    """Check every event's id, signature, chain link and payload."""
    from datacore_msg.app import audit

    with open_space_from(root, space) as sp:
        verified = audit.verify(sp)
    problems, clashes = verified.problems, verified.clashes
    if as_json:
        data: dict[str, object] = {
            "events": verified.events,
            "problems": [{"position": p.position, "id": p.event_id, "reason": p.reason} for p in problems],
        }
        if clashes:
            data["clashes"] = [
                {"position": p.position, "id": p.event_id, "reason": p.reason} for p in clashes
            ]
        emit_json(data)
    else:
        lines = [f"bad event at position {p.position} ({p.event_id[:12]}): {p.reason}" for p in problems]
        if not problems:
            lines.append(f"All {verified.events} events verify.")
        lines += [
            f"clash at position {p.position} ({p.event_id[:12]}): {p.reason} (only one counts; see "
            "docs/security.md)"
            for p in clashes
        ]
        emit_text("\n".join(lines))
    if problems:
        raise SystemExit(Exit.INTEGRITY)


COMMANDS: tuple[click.Command, ...] = (log, rebuild, verify)
