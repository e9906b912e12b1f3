"""``contacts add`` / ``list`` / ``remove``: the space's contacts.yaml, pinned keys and trust tiers."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_text


@click.group(name="contacts")
def contacts_group() -> None:
    """The space's contacts.yaml: pinned keys and trust tiers."""


@contacts_group.command(name="add")
@click.argument("name")
@click.argument("key")
@click.option(
    "--tier", type=click.Choice(["owner", "team", "trusted", "unknown"]), required=True, help="Trust tier."
)
@click.option("--display-name", default=None, help="A display name for the contact.")
@space_options
def contacts_add(
    name: str, key: str, tier: str, display_name: str | None, root: str | None, space: str | None
) -> None:
    """Pin KEY (from the teammate's 'datacore-msg whoami') for NAME with a trust tier."""
    from datacore_msg.app import contacts

    with open_space_from(root, space) as sp:
        added = contacts.add(sp, name, key, tier, display_name)
    warn_views(added.views)
    change, path = added.change, added.path
    parts = []
    if change.added_entry:
        parts.append("added")
    if change.added_key and not change.added_entry:
        parts.append("key pinned")
    if change.tier_changed and not change.added_entry:
        parts.append(f"tier now {tier}")
    emit_text(f"{name}: " + (", ".join(parts) if parts else "already pinned, nothing changed") + f" ({path})")


@contacts_group.command(name="list")
@json_option
@space_options
def contacts_list(as_json: bool, root: str | None, space: str | None) -> None:
    """List contacts, their tiers and pinned keys."""
    from datacore_msg.app import contacts

    with open_space_from(root, space) as sp:
        listed = contacts.listing(sp)
    if as_json:
        emit_json(
            [
                {
                    "id": item.contact.id,
                    "name": item.contact.name,
                    "tier": item.tier,
                    "public_keys": list(item.contact.public_keys),
                    "handles": list(item.contact.handles),
                    "added": item.contact.added,
                }
                for item in listed
            ]
        )
        return
    if not listed:
        emit_text("No contacts.")
        return
    lines = []
    for item in listed:
        c, tier = item.contact, item.tier or "unknown"
        keys = ", ".join(k[:16] + "…" for k in c.public_keys) or "no key pinned (treated as unknown)"
        lines.append(f"{c.id:<20} {tier:<8} {keys}")
    emit_text("\n".join(lines))


@contacts_group.command(name="remove")
@click.argument("name")
@space_options
def contacts_remove(name: str, root: str | None, space: str | None) -> None:
    """Remove NAME and its pinned keys."""
    from datacore_msg.app import contacts

    with open_space_from(root, space) as sp:
        removed = contacts.remove(sp, name)
    warn_views(removed.views)
    emit_text(f"{name}: removed ({removed.path})")


COMMANDS: tuple[click.Command, ...] = (contacts_group,)
