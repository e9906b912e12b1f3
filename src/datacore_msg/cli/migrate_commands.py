"""``migrate``: the log's schema migrations, and ``migrate from-org`` (datacore-messaging's files)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.terminal import field

if TYPE_CHECKING:
    from datacore_msg.app.migrate_org import Migrated

#: At most this many skipped entries and notes are listed one per line (all of them with --json).
MAX_LISTED = 200


@click.group(invoke_without_command=True)
@click.option("--status", "show_status", is_flag=True, help="List migrations and their state.")
@json_option
@space_options
@click.pass_context
def migrate(
    ctx: click.Context, show_status: bool, as_json: bool, root: str | None, space: str | None
) -> None:
    """Apply pending schema migrations of the event log (they also run on every open); with
    'from-org', import the files of datacore-messaging."""
    if ctx.invoked_subcommand is not None:
        return
    from datacore_msg.app.setup import migration_status

    applied, rows = migration_status(root, space, apply=not show_status)
    if as_json:
        emit_json({"applied_now": applied, "migrations": [[r.name, r.applied_at] for r in rows]})
        return
    out = [f"{r.name:<24} {'applied ' + r.applied_at if r.applied_at else 'pending'}" for r in rows]
    if applied:
        out.append(f"applied now: {', '.join(applied)}")
    emit_text("\n".join(out))


@migrate.command(name="from-org")
@click.argument("path", required=False)
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what would be imported; write nothing.")
@json_option
@space_options
@click.pass_context
def from_org(
    ctx: click.Context, path: str | None, dry_run: bool, as_json: bool, root: str | None, space: str | None
) -> None:
    """Import datacore-messaging's files (v0.1 and v0.2) under PATH (default: the space folder):
    messages, marks, agent tasks and contacts. The old files are only read."""
    from datacore_msg.app.migrate_org import migrate_from_org

    given = ctx.parent.params if ctx.parent is not None else {}
    root = root or given.get("root")
    space = space or given.get("space")
    as_json = as_json or bool(given.get("as_json"))

    with open_space_from(root, space) as sp:
        result = migrate_from_org(sp, path, dry_run)
    warn_views(result.views)
    if as_json:
        emit_json(_as_json(result))
    else:
        emit_text(summary(result))


def _as_json(result: Migrated) -> dict[str, Any]:
    return {
        "path": str(result.base),
        "dry_run": result.dry_run,
        "files": list(result.files),
        "messages": result.messages,
        "marks": result.marks,
        "tasks": result.tasks,
        "already_imported": result.already,
        "contacts_added": list(result.contacts),
        "imported": [
            {"id": m.payload.id, "original": m.payload.original, "kind": "message", "from": m.where}
            for m in result.plan.messages
        ]
        + [
            {"id": t.payload.id, "original": t.payload.original, "kind": "task", "from": t.where}
            for t in result.plan.tasks
        ],
        "skipped": [{"where": n.where, "why": n.what} for n in result.skipped],
        "notes": [{"where": n.where, "what": n.what} for n in result.notes],
    }


def summary(result: Migrated) -> str:
    verb = "Would import" if result.dry_run else "Imported"
    lines = [f"Read {len(result.files)} file(s) under {field(result.base)}"]
    for name in result.files:
        lines.append(f"  {field(name)}")
    if result.nothing_new:
        lines.append(
            "Nothing to import: everything found is already in the log"
            if result.already
            else "Nothing to import"
        )
    else:
        lines.append(
            f"{verb} {result.messages} message(s) with {result.marks} mark(s), {result.tasks} task(s)"
            + (f", {len(result.contacts)} contact(s) with no key yet" if result.contacts else "")
        )
        if result.dry_run:
            for message in result.new_messages:
                sent = message.payload
                lines.append(
                    f"  message {sent.id} {field(sent.author)} → {field(sent.to)} ({field(message.where)})"
                )
            for task in result.new_tasks:
                asked = task.payload
                lines.append(
                    f"  task    {asked.id} {asked.state:<9} {field(asked.author)} → {field(asked.to)}"
                    f" ({field(task.where)})"
                )
            for name in result.contacts:
                lines.append(f"  contact {field(name)} (no key yet)")
    if result.already:
        lines.append(f"Already in the log (not imported again): {result.already}")
    for title, notes in (("Skipped", result.skipped), ("Not kept as it was", result.notes)):
        if notes:
            lines.append(f"{title}: {len(notes)}")
            lines.extend(f"  {field(n.where)}: {field(n.what)}" for n in notes[:MAX_LISTED])
            if len(notes) > MAX_LISTED:
                lines.append(f"  … {len(notes) - MAX_LISTED} more (--json lists them all)")
    if result.contacts and not result.dry_run:
        lines.append("Pin each contact's key to trust them: datacore-msg contacts add NAME KEY --tier team")
    if result.dry_run:
        lines.append("Dry run: nothing was written")
    return "\n".join(lines)


COMMANDS: tuple[click.Command, ...] = (migrate,)
