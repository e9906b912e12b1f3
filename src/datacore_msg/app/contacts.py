"""The space's contacts (``contacts add`` / ``list`` / ``remove``): contacts.yaml edited in place,
then the views caught up, because the pinned keys decide who is who in every fold (a name's new key
can verify, or unverify, what is already shown)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import attrs

from datacore_msg.app.space import Space
from datacore_msg.app.views import refresh
from datacore_msg.config.contacts import Contact, load_contacts
from datacore_msg.config.contacts_edit import ContactChange, add_contact, remove_contact
from datacore_msg.projections.drivers.writer import WriteReport


@attrs.frozen
class Added:
    path: Path
    change: ContactChange
    views: WriteReport


@attrs.frozen
class Removed:
    path: Path
    contact: Contact
    views: WriteReport


@attrs.frozen
class Listed:
    """One contact, with the tier it is treated as (the settings may override the file's)."""

    contact: Contact
    tier: str | None


def add(space: Space, name: str, key: str, tier: str, display_name: str | None) -> Added:
    """Pin ``key`` for ``name`` with ``tier`` (today's date as when it was added)."""
    path = space.paths.contacts_file
    change = add_contact(path, name, key, tier, date.today().isoformat(), display_name)
    return Added(path, change, refresh(space))


def remove(space: Space, name: str) -> Removed:
    """Remove ``name`` and the keys pinned for it."""
    path = space.paths.contacts_file
    removed = remove_contact(path, name)
    return Removed(path, removed, refresh(space))


def listing(space: Space) -> list[Listed]:
    """The contacts in file order, each with the tier it is treated as."""
    contacts = load_contacts(space.paths.contacts_file)
    overrides = dict(space.trust().tiers)
    return [Listed(c, overrides.get(c.id, c.tier)) for c in contacts]
